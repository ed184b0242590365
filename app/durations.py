"""Durations as people type and read them, in the reader's language: "1 h 30 min", "90 s", "1:30:00".

`parse_duration` reads what a person typed into a number of seconds; `spell_duration` writes a stored
duration back exactly (every non-zero unit, unlike the rounded `format_duration` of app/i18n.py), so an
edit page shows what was saved and saving it unchanged keeps it. Unit words come from CLDR (Babel's unit
patterns, long, short and narrow) of the reader's language and of English, so "2 Std", "2 Stunden",
"2 hours" and "2h" all read as two hours on a German page; the words joining units come from CLDR's list
patterns ("1 h et 30 min", "1 godz. i 30 min"). A decimal comma or point is accepted ("1,5 h"), and a
clock form is hours:minutes[:seconds]. A number alone counts in the field's natural unit (the unit it is
stored in), which its hint names.
"""

import re
from decimal import Decimal, InvalidOperation
from functools import cache

from babel import Locale
from babel.lists import format_list
from babel.units import format_unit

from app.i18n import _l, get_locale_code, join_units

MAX_DURATION_TEXT = 40  # "1 Tag 23 Stunden 59 Minuten 59 Sekunden" is 39

UNIT_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
_CLDR_UNITS = (
    ("days", "duration-day"),
    ("hours", "duration-hour"),
    ("minutes", "duration-minute"),
    ("seconds", "duration-second"),
)
# Written by hand the world over, whatever the language: h, m, s and their English short forms.
_ASCII_WORDS = {
    "d": "days",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "m": "minutes",
    "mins": "minutes",
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
}

_GAP = re.compile(r"[\s,]+")
_SPACE = re.compile(r"\s*")
_NUMBER = re.compile(r"\d{1,9}(?:[.,]\d{1,6})?")
_WORD = re.compile(r"[^\W\d_]+\.?")
_CLOCK = re.compile(r"(\d{1,4}):([0-5]\d)(?::([0-5]\d))?")


class DurationError(ValueError):
    """What was typed is no duration; the message says what to type, in the reader's language."""


def _bare(word: str) -> str:
    return word.strip().rstrip(".").casefold()


@cache
def _unit_words(locale: str) -> dict[str, str]:
    """Each way `locale` or English writes a unit ("std", "stunden", "hr", "h") → the unit's name."""
    words = dict(_ASCII_WORDS)
    for code in ("en", locale) if locale != "en" else ("en",):
        # The CLDR data babel.units.format_unit itself reads; Babel has no public accessor for the patterns.
        patterns = Locale.parse(code)._data["unit_patterns"]
        for unit, key in _CLDR_UNITS:
            for length in ("long", "short", "narrow"):
                for form, pattern in patterns[key][length].items():
                    if form != "per":
                        for word in pattern.replace("{0}", " ").split():
                            words[_bare(word)] = unit
    return words


@cache
def _joining_words(locale: str) -> frozenset[str]:
    """The words a list of units is joined with in `locale` and in English ("and", "und", "et", "i", "y")."""
    words = set()
    for code in {"en", locale}:
        for style in ("standard", "unit", "unit-short", "unit-narrow"):
            try:
                joined = format_list(["\x01", "\x02", "\x03"], style=style, locale=code)
            except KeyError:
                continue
            words.update(_bare(w) for w in re.split(r"[\s,\x01-\x03]+", joined) if w)
    return frozenset(words)


def duration_example(locale: str | None = None) -> str:
    """An hour and a half as the reader writes it ("1 hr 30 min", "1 Std. 30 Min.")."""
    return spell_duration(5400, locale=locale)


def _invalid(locale: str):
    return DurationError(
        _l(
            'Enter a duration such as "%(example)s", "90 s" or "%(clock)s".',
            example=duration_example(locale),
            clock="1:30:00",
        )
    )


def parse_duration(text: str, *, natural_unit: str = "seconds", locale: str | None = None) -> Decimal:
    """The seconds that `text` means; DurationError, in the reader's words, when it means none.

    A number alone counts in `natural_unit`; after a unit, a number alone counts in the next smaller
    unit ("1 h 30" is 90 minutes). Negative, empty or overlong text is refused.
    """
    locale = locale or get_locale_code()
    text = str(text).replace("\xa0", " ").replace("\u202f", " ").strip()
    if not text or len(text) > MAX_DURATION_TEXT:
        raise _invalid(locale)
    clock = _CLOCK.fullmatch(text)
    if clock:
        hours, minutes, seconds = (int(part or 0) for part in clock.groups())
        return Decimal(hours * 3600 + minutes * 60 + seconds)
    units, joining = _unit_words(locale), _joining_words(locale)
    order = list(UNIT_SECONDS)
    total, position, last_unit, amounts, joined = Decimal(0), 0, None, 0, False
    while position < len(text):
        gap = _GAP.match(text, position)
        if gap:
            position = gap.end()
            continue
        word = _WORD.match(text, position)
        if word and _bare(word.group()) in joining and amounts and not joined:
            position, joined = word.end(), True
            continue
        number = _NUMBER.match(text, position)
        if not number:
            raise _invalid(locale)
        try:
            amount = Decimal(number.group().replace(",", "."))
        except InvalidOperation:
            raise _invalid(locale) from None
        position = number.end()
        space = _SPACE.match(text, position)
        word = _WORD.match(text, space.end())
        if word and _bare(word.group()) in units:
            unit = units[_bare(word.group())]
            position = word.end()
        elif word and _bare(word.group()) not in joining:
            raise _invalid(locale)
        elif last_unit is None:
            unit = natural_unit
        elif last_unit != "seconds":
            unit = order[order.index(last_unit) + 1]
        else:
            raise _invalid(locale)
        total += amount * UNIT_SECONDS[unit]
        last_unit, amounts, joined = unit, amounts + 1, False
    if not amounts or joined:  # "1 h and" ends before its second part
        raise _invalid(locale)
    return total


def spell_duration(seconds: int, *, locale: str | None = None) -> str:
    """`seconds` exactly, in CLDR's short units of the reader's language: "1 hr 30 min", "1 Std. 30 Min.", "0 sec"."""
    locale = locale or get_locale_code()
    rest, parts = int(seconds), []
    for unit, key in _CLDR_UNITS:
        amount, rest = divmod(rest, UNIT_SECONDS[unit])
        if amount:
            parts.append(format_unit(amount, key, length="short", locale=locale))
    if not parts:
        return format_unit(0, "duration-second", length="short", locale=locale)
    return join_units(parts, locale)
