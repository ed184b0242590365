"""Dates as the reader writes them: "04.12.2026" in German, "12/04/2026" in English, and ISO everywhere.

A browser draws `<input type="date">` in the browser's language, not the page's, so a German page on an
English browser asked for mm/dd/yyyy; a text input with the page language's pattern says what it asks.
The pattern is CLDR's short date of the reader's language (Babel) with two-digit day and month and a
four-digit year, so no reader mistakes the year for a day: de "dd.MM.yyyy", en "MM/dd/yyyy", fr and es
"dd/MM/yyyy", pl "dd.MM.yyyy". Parsing takes that pattern (with one-digit day or month, and a two-digit
year as 20yy) with the language's own separator, so a German-style "04.12.2026" on an English page is
refused rather than read as 12 April; and always ISO "2026-12-04", which links and bookmarks use.
"""

import re
from datetime import date, datetime, time
from functools import cache

from babel import Locale

from app.i18n import _l, get_locale_code

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_ISO_DATE_TIME = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})[T ](\d{1,2}:\d{2})(?::\d{2})?")
_TIME = re.compile(r"(\d{1,2})[:.](\d{2})\s*(am|pm|a\.m\.|p\.m\.)?", re.IGNORECASE)


class DateInputError(ValueError):
    """What was typed is no date (or no time); the message says what to type, in the reader's language."""


class NoSuchDay(DateInputError):
    """The text has the pattern's shape but names no day of the calendar (31.02.2026)."""


@cache
def date_pattern(locale: str) -> str:
    """The reader's date pattern, e.g. "dd.MM.yyyy": CLDR's short date, padded, with a four-digit year."""
    pattern = Locale.parse(locale).date_formats["short"].pattern
    pattern = re.sub(r"d+", "dd", pattern)
    pattern = re.sub(r"M+", "MM", pattern)
    return re.sub(r"y+", "yyyy", pattern)


def _order_and_separator(locale: str) -> tuple[list[str], str]:
    pattern = date_pattern(locale)
    order = [part[0] for part in re.findall(r"dd|MM|yyyy", pattern)]
    separator = re.sub(r"[dMy]", "", pattern)[:1] or "/"
    return order, separator


def date_placeholder(locale: str | None = None) -> str:
    """The pattern in the reader's letters: "TT.MM.JJJJ", "MM/DD/YYYY", "JJ/MM/AAAA"."""
    letters = {"dd": _l("DD"), "MM": _l("MM"), "yyyy": _l("YYYY")}
    return re.sub(r"dd|MM|yyyy", lambda m: str(letters[m.group()]), date_pattern(locale or get_locale_code()))


def format_date_input(day: date | None, locale: str | None = None) -> str:
    """`day` as the reader types it ("04.12.2026"); "" for none."""
    if day is None:
        return ""
    values = {"dd": f"{day.day:02d}", "MM": f"{day.month:02d}", "yyyy": f"{day.year:04d}"}
    return re.sub(r"dd|MM|yyyy", lambda m: values[m.group()], date_pattern(locale or get_locale_code()))


def _wrong_date():
    return DateInputError(_l("Enter the date as %(pattern)s.", pattern=date_placeholder()))


def parse_date_input(text: str, locale: str | None = None) -> date:
    """The day `text` names in the reader's pattern or in ISO; DateInputError in words otherwise."""
    locale = locale or get_locale_code()
    text = str(text).strip()
    if len(text) > 20:
        raise _wrong_date()
    iso = _ISO_DATE.fullmatch(text)
    if iso:
        year, month, day = (int(part) for part in iso.groups())
    else:
        order, separator = _order_and_separator(locale)
        parts = text.split(separator)
        if len(parts) != 3 or not all(re.fullmatch(r"\d{1,4}", part) for part in parts):
            raise _wrong_date()
        values = dict(zip(order, parts, strict=True))
        if len(values["d"]) > 2 or len(values["M"]) > 2 or len(values["y"]) not in (2, 4):
            raise _wrong_date()
        year = int(values["y"]) + (2000 if len(values["y"]) == 2 else 0)
        month, day = int(values["M"]), int(values["d"])
    try:
        return date(year, month, day)
    except ValueError:
        raise NoSuchDay(_l("There is no such day as %(text)s.", text=text)) from None


def date_input_text(value: date | str | None) -> str:
    """A day for a text input of the reader's pattern: a date or an ISO string formatted, any other text
    (what someone typed and was refused) shown back unchanged, to correct."""
    if isinstance(value, date):
        return format_date_input(value)
    if value and _ISO_DATE.fullmatch(value.strip()):
        try:
            return format_date_input(parse_date_input(value))
        except DateInputError:
            return value
    return value or ""


def iso_date_argument(text: str | None, locale: str | None = None) -> str | None:
    """A date from a query string as ISO for the services: the reader's pattern converted, anything
    else unchanged (the service answers it with its own error). Links and bookmarks keep ISO."""
    if not text:
        return text
    try:
        return parse_date_input(text, locale).isoformat()
    except DateInputError:
        return text


def format_date_time_input(moment: datetime | None, locale: str | None = None) -> str:
    """A date and time as the reader types it: "04.12.2026 14:30" (24-hour clock in every language)."""
    if moment is None:
        return ""
    return f"{format_date_input(moment.date(), locale)} {moment:%H:%M}"


def parse_date_time_input(text: str, locale: str | None = None) -> datetime:
    """A date and time in the reader's pattern ("04.12.2026 14:30", "12/04/2026 2:30 pm") or ISO
    ("2026-12-04T14:30"); DateInputError in words otherwise. Naive: the form says whose clock it is."""
    text = " ".join(str(text).split())
    iso = _ISO_DATE_TIME.fullmatch(text)
    if iso:
        day_text, time_text = iso.groups()
    else:
        day_text, _sep, time_text = text.rpartition(" ") if " " in text else (text, "", "")
        if re.fullmatch(r"(am|pm|a\.m\.|p\.m\.)", time_text, re.IGNORECASE) and " " in day_text:
            day_text, _sep, hour_text = day_text.rpartition(" ")
            time_text = f"{hour_text} {time_text}"
    if not time_text:
        raise _wrong_date_time()
    try:
        day = parse_date_input(day_text, locale)
    except NoSuchDay:
        raise
    except DateInputError:
        raise _wrong_date_time() from None
    clock = _TIME.fullmatch(time_text)
    if not clock:
        raise _wrong_date_time()
    hour, minute, half = int(clock.group(1)), int(clock.group(2)), (clock.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise _wrong_date_time()
        hour = hour % 12 + (12 if half.startswith("p") else 0)
    if hour > 23 or minute > 59:
        raise _wrong_date_time()
    return datetime.combine(day, time(hour, minute))


def _wrong_date_time():
    return DateInputError(
        _l("Enter the date and time as %(pattern)s %(time)s.", pattern=date_placeholder(), time=_l("HH:MM"))
    )
