"""Placeholders in texts people write once and the application fills in many times (campaign messages,
canned answers): only plain `{name}` from a fixed list, checked when the text is saved.

No attribute access, indexing, format specs or conversions, so a text can never reach into Python objects;
`{{` and `}}` stand for a literal brace.
"""

import string
from collections.abc import Iterable, Mapping

from app.errors import DomainError
from app.i18n import _l


def placeholders_in(text: str, allowed: Iterable[str], field: str = "body") -> list[str]:
    """The placeholder names used in `text`; DomainError naming `field` for anything but plain names of `allowed`."""
    allowed = tuple(allowed)
    names = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise DomainError(
            _l("A brace is not closed: write {placeholder}, or {{ and }} for a literal brace."), field
        ) from error
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            raise DomainError(
                _l(
                    "Unknown placeholder {%(name)s}. Available: %(available)s.",
                    name=name or "",
                    available=", ".join("{" + p + "}" for p in allowed),
                ),
                field,
            )
        names.append(name)
    return names


class _EmptyWhenMissing(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each placeholder replaced by its value; a placeholder without a value becomes empty text.

    `text` must have passed `placeholders_in` when it was saved.
    """
    return text.format_map(_EmptyWhenMissing(values))
