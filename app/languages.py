"""The languages patients and agents speak: any ISO 639 language, named from CLDR in the reader's language.

Not the interface languages (`app.i18n.LOCALES`, the five the application's own words are translated into):
a clinic serves Turkish, Arabic or Ukrainian patients, agents speak them, templates and answers are written
in them, while the pages around them stay in one of the five. A code is an ISO 639-1 code (two letters) or,
for a language without one that patients here speak (Sorani Kurdish, Cantonese), an ISO 639-2/3 code; both fit
the String(5) language columns.
"""

import unicodedata
from functools import cache

from babel import Locale, UnknownLocaleError

from app.i18n import get_locale_code

# Two-letter codes in CLDR that no patient speaks: dead or liturgical (Avestan, Church Slavic, Pali, Sanskrit,
# Latin), constructed (Interlingua, Interlingue, Ido, Volapük, Esperanto) and the retired Serbo-Croatian ("sh":
# Bosnian, Croatian and Serbian have their own codes).
_NOT_SPOKEN = frozenset({"ae", "cu", "pi", "sa", "la", "ia", "ie", "io", "vo", "eo", "sh"})

# Languages without a two-letter code that clinics' patients speak (migration to Germany, Poland, France,
# Spain: Kurdish varieties, Arabic dialects, Romani, Tamazight, Filipino, Cantonese, Syriac/Aramaic), regional
# and minority languages of those countries, and American Sign Language (the only sign language CLDR names).
_THREE_LETTER = frozenset(
    {
        "ckb",  # Central Kurdish (Sorani)
        "sdh",  # Southern Kurdish
        "zza",  # Zaza
        "arz",  # Egyptian Arabic
        "ary",  # Moroccan Arabic
        "arq",  # Algerian Arabic
        "kab",  # Kabyle
        "zgh",  # Standard Moroccan Tamazight
        "tzm",  # Central Atlas Tamazight
        "tig",  # Tigre
        "bal",  # Baluchi
        "rom",  # Romany
        "syr",  # Syriac
        "fil",  # Filipino
        "yue",  # Cantonese
        "nds",  # Low German
        "gsw",  # Swiss German
        "hsb",  # Upper Sorbian
        "dsb",  # Lower Sorbian
        "szl",  # Silesian
        "csb",  # Kashubian
        "ast",  # Asturian
        "ase",  # American Sign Language
    }
)


@cache
def _codes() -> frozenset[str]:
    english = Locale("en").languages
    two_letter = {code for code in english if len(code) == 2 and code.isalpha() and code not in _NOT_SPOKEN}
    return frozenset(two_letter | {code for code in _THREE_LETTER if code in english})


LANGUAGES = _codes()


def normalize_language(code: str | None) -> str:
    """A code as stored: trimmed and in lower case ("TR " is tr)."""
    return (code or "").strip().lower()


def is_language(code: str | None) -> bool:
    """Whether `code` is one of the selectable languages (as stored: lower case, no region)."""
    return code in LANGUAGES


@cache
def _names(locale: str) -> dict[str, str]:
    try:
        return dict(Locale.parse(locale).languages)
    except (UnknownLocaleError, ValueError):
        return {}


def language_name(code: str | None, locale: str | None = None) -> str:
    """The language's name in the reader's language ("Türkisch" for tr to a German reader).

    CLDR's name in `locale` (the reader's interface language by default), else the English name, else the
    code itself: a code stored before the list changed still shows, never breaks a page.
    """
    if not code:
        return "—"
    locale = locale or get_locale_code()
    name = _names(locale).get(code) or _names("en").get(code)
    if name is None:
        return code
    # CLDR writes names as they appear inside a sentence ("arabe" in French); shown alone they start upper.
    return name[:1].upper() + name[1:]


def _sort_key(name: str) -> str:
    # Accents sort with their letter ("Éwé" beside "Ewe"), as a reader looks for a name in a list.
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def find_language(entry: str | None, locale: str | None = None) -> str | None:
    """The code of a language typed by code ("tr") or by name in the reader's language, in English or in
    itself ("Türkisch", "Turkish", "Türkçe"), ignoring case and accents; None when it is no language."""
    wanted = _sort_key((entry or "").strip())
    if not wanted:
        return None
    if is_language(wanted):
        return wanted
    return _by_name(locale or get_locale_code()).get(wanted)


@cache
def _by_name(locale: str) -> dict[str, str]:
    found = {}
    for code in LANGUAGES:
        own = _names(code).get(code) if text_direction(code) != "auto" else None
        for name in (own, _names("en").get(code), _names(locale).get(code)):  # the reader's name wins a clash
            if name:
                found[_sort_key(name)] = code
    return found


def language_choices(codes=None, locale: str | None = None) -> list[tuple[str, str]]:
    """(code, name) pairs, by name in the reader's language: every selectable language, or `codes` in that
    order when given (a clinic's served languages keep the order the clinic chose, its default first)."""
    if codes is not None:
        return [(code, language_name(code, locale)) for code in codes]
    named = [(code, language_name(code, locale)) for code in LANGUAGES]
    return sorted(named, key=lambda pair: _sort_key(pair[1]))


@cache
def formatting_locale(code: str | None) -> str:
    """The locale to format dates and numbers in for language `code`: its own where CLDR has the data
    (Turkish dates for a Turkish message), else English (Romany, Syriac: names, but no formats)."""
    try:
        Locale.parse(code or "")
    except (UnknownLocaleError, ValueError, TypeError):
        return "en"
    return code


@cache
def text_direction(code: str | None) -> str:
    """ "rtl" for a language written right to left (Arabic, Hebrew, Persian, Urdu, Sorani…), "ltr" for one
    written left to right, "auto" for an unknown or missing language (the browser decides from the text)."""
    if not code:
        return "auto"
    try:
        order = Locale.parse(code).character_order
    except (UnknownLocaleError, ValueError, TypeError):
        return "auto"
    return "rtl" if order == "right-to-left" else "ltr"


def lang_dir(code: str | None) -> str:
    """The `dir` attribute for people's words in language `code`: "rtl" for a right-to-left language, else
    "auto" – a German patient may still write one line in Arabic, and "auto" shows left-to-right text as
    such while giving any other text its own direction (the first strong character decides)."""
    return "rtl" if text_direction(code) == "rtl" else "auto"
