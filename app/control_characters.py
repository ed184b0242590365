"""Control characters in text that ends up in a message: found, and refused with a clear error.

A line break in a value that becomes an e-mail header ends the header and starts another (header
injection) or ends the header block; a NUL is refused by PostgreSQL and by many relays. Single-line
values (subjects, names, header values) may hold no C0 or C1 control character at all, nor the Unicode
line and paragraph separators (`str.splitlines` breaks lines there); multi-line texts (message bodies)
may hold line feeds and tabs, nothing else.
"""

import re

from app.errors import DomainError
from app.i18n import _l

_IN_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_IN_MULTI_LINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def has_control_characters(value: str | None, *, multiline: bool = False) -> bool:
    """Whether `value` holds a character its kind of text may not (see the module's docstring)."""
    if not value:
        return False
    # Every control character is unprintable: `isprintable` answers the usual case at C speed (dispatch asks
    # this of every message); only an unprintable text is searched character by character.
    if (value.replace("\n", " ") if multiline else value).isprintable():
        return False
    return (_IN_MULTI_LINE if multiline else _IN_SINGLE_LINE).search(value) is not None


def refuse_control_characters(value: str | None, field: str, label, *, multiline: bool = False) -> None:
    """Raise DomainError naming the field (`label`, translated) when `value` holds a control character.

    Services call this for every value that may reach a message header or body, so that a form, the API,
    an import and a command line are all held to the same rule.
    """
    if not has_control_characters(value, multiline=multiline):
        return
    if multiline:
        message = _l("“%(field)s” contains a control character: only line breaks and tabs are allowed.", field=label)
    else:
        message = _l(
            "“%(field)s” must be one line without control characters (such as a line break or NUL).", field=label
        )
    raise DomainError(message, field)
