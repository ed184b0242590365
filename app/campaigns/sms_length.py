"""How many SMS a text costs: its encoding and its parts, as carriers count them (3GPP TS 23.038 and 23.040).

A text whose every character is in the GSM 03.38 alphabet goes as GSM-7: 160 septets in one SMS, 153 per
part once it is split (each part carries a header); the characters of the extension table (€ [ ] { } …)
take two septets, and an escape pair is never split across parts. Any other character (ğ, ı, ą, Arabic,
Cyrillic, an emoji) sends the whole text as UCS-2: 70 UTF-16 code units in one SMS, 67 per part, a surrogate
pair (an emoji) never split. js/sms-length.js counts the same way as one types; this module is the rule.
"""

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7, UCS2 = "GSM-7", "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SmsLength:
    characters: int
    encoding: str  # GSM7 or UCS2
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    parts: int


def _units(text: str, encoding: str) -> list[int]:
    """The units each character takes, in order."""
    if encoding == GSM7:
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def measure(text: str) -> SmsLength:
    """The encoding, units and number of SMS parts of `text` (0 parts for an empty text)."""
    text = text or ""
    gsm = all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)
    encoding = GSM7 if gsm else UCS2
    units = _units(text, encoding)
    single, per_part = _LIMITS[encoding]
    total = sum(units)
    if total <= single:
        parts = 1 if total else 0
    else:
        # Filled part by part: a character that does not fit whole starts the next part.
        parts, used = 1, 0
        for size in units:
            if used + size > per_part:
                parts, used = parts + 1, 0
            used += size
    return SmsLength(characters=len(text), encoding=encoding, units=total, parts=parts)
