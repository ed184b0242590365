"""What every input must satisfy, whatever page, form, API operation or file it arrives through.

Each rule is answered with a clear, translated 400 before anything is written:
- Text carries no control characters. NUL, the other C0 controls, DEL and the C1 controls are
  refused everywhere; a line break or a tab only in multi-line text (a textarea, an imported
  file's cell never). PostgreSQL cannot store NUL at all, and a line break in a single-line value
  ends up in e-mail headers, CSV cells and log lines.
- Amounts, prices and percentages are finite decimals within the field's bounds: `Decimal`
  parses "NaN", "sNaN", "Infinity" and "1e309", and each breaks a comparison or a rounding later.
- Dates lie between MIN_DATE and MAX_DATE: the clinic's data cannot be older or newer, and year 1
  or 9999 overflow as soon as a time zone or a day is added.
- A JSON body is at most MAX_JSON_DEPTH levels deep (checked before parsing, whose recursion a
  5,000-deep body exhausts) and MAX_JSON_BYTES long, and has no NaN or Infinity.

`install_input_rules` applies the text and JSON rules to every request (query string, form body,
JSON body); the form base class (app/forms.py) and the API schemas (app/api/schemas.py) add the
rules that need to know the field: single-line text, numbers and dates.
"""

import json
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import DomainError
from app.i18n import _l

# C0 controls, DEL and C1 controls; tab, line feed and carriage return are told apart below.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_LINE_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f]")

MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)

MAX_JSON_DEPTH = 64  # Stripe's events nest about ten levels; our API's bodies two
MAX_JSON_BYTES = 1024 * 1024

_FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class BadInput(DomainError):
    """Input no field of this application can accept (a control character, a date out of range …)."""


# --- text ------------------------------------------------------------------------------------------


def has_control_character(text: str, *, multiline: bool = False) -> bool:
    """True when `text` holds a control character; a multi-line text may hold tabs and line breaks."""
    return (_CONTROL if multiline else _CONTROL_OR_LINE_BREAK).search(text) is not None


def control_character_message(multiline: bool = False):
    if multiline:
        return _l("Remove the invisible control characters (such as a NUL byte) from this text.")
    return _l("Remove the line breaks and invisible control characters (such as tabs) from this text.")


def check_text(text: str, field: str | None = None, *, multiline: bool = False) -> str:
    """The text unchanged; BadInput naming `field` when it holds a control character."""
    if has_control_character(text, multiline=multiline):
        raise BadInput(control_character_message(multiline), field)
    return text


# --- numbers ---------------------------------------------------------------------------------------


def parse_bounded_decimal(text, minimum: Decimal, maximum: Decimal) -> Decimal:
    """A finite decimal between `minimum` and `maximum`; ValueError with a translated message otherwise."""
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(_l("Enter a number, e.g. 12.50.")) from None
    if not value.is_finite() or not minimum <= value <= maximum:
        raise ValueError(_l("Enter a number from %(min)s to %(max)s.", min=minimum, max=maximum))
    return value


# --- page numbers ----------------------------------------------------------------------------------

MAX_PAGE = 100_000


def parse_page(value) -> int:
    """A list's page number from the query string: a whole number from 1 to MAX_PAGE (a larger one would
    overflow the database's OFFSET); missing means the first page."""
    try:
        page = int(value or 1)
    except (TypeError, ValueError) as error:
        raise BadInput(_l("The page must be a whole number."), "page") from error
    if not 1 <= page <= MAX_PAGE:
        raise BadInput(_l("The page must be a whole number."), "page")
    return page


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows fill, `per_page` a page; an empty list still has its one page."""
    return max((total + per_page - 1) // per_page, 1)


# --- dates -----------------------------------------------------------------------------------------


def date_out_of_range_message():
    return _l("Enter a date from %(min)s to %(max)s.", min=MIN_DATE.isoformat(), max=MAX_DATE.isoformat())


def date_in_range(value: date | datetime) -> bool:
    day = value.date() if isinstance(value, datetime) else value
    return MIN_DATE <= day <= MAX_DATE


def check_date(value, field: str | None = None):
    """The date or time unchanged; BadInput naming `field` when it lies outside MIN_DATE … MAX_DATE."""
    if value is not None and not date_in_range(value):
        raise BadInput(date_out_of_range_message(), field)
    return value


# --- JSON ------------------------------------------------------------------------------------------


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def _too_deep(text: str) -> bool:
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def load_json(body: bytes | str):
    """A JSON document within the limits above; BadInput (or 413 when too long) otherwise."""
    if len(body) > MAX_JSON_BYTES:
        raise RequestEntityTooLarge()
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise BadInput(_l("The request body is not valid JSON.")) from None
    if _too_deep(text):
        raise BadInput(_l("The JSON body is nested too deeply (at most %(n)s levels).", n=MAX_JSON_DEPTH))
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise BadInput(_l("The request body is not valid JSON.")) from None


def _check_json_text(value, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path or None)
            _check_json_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_text(item, f"{path}.{index}" if path else str(index))
    elif isinstance(value, str):
        check_text(value, path or None, multiline=True)


# --- every request ---------------------------------------------------------------------------------


def accepts_any_text(view):
    """Exempt a view from the control-character rule (it stores none of the text, and its sender
    would retry a refusal for days: Stripe's signed events). The JSON limits still apply."""
    view.accepts_any_text = True
    return view


def check_request() -> None:
    """The text and JSON rules over the whole request: query string, form body, JSON body."""
    view = current_app.view_functions.get(request.endpoint)
    check_controls = not getattr(view, "accepts_any_text", False)
    if check_controls:
        # A query string is never multi-line text.
        for key, values in request.args.lists():
            check_text(key, key)
            for value in values:
                check_text(value, key)
        if request.mimetype in _FORM_MIMETYPES:
            # Which form fields are single-line only the form knows (app/forms.py checks line breaks).
            for key, values in request.form.lists():
                check_text(key, key)
                for value in values:
                    check_text(value, key, multiline=True)
    if request.is_json and request.content_length != 0:
        document = load_json(request.get_data(cache=True))
        if check_controls:
            _check_json_text(document, "")


def install_input_rules(app) -> None:
    app.before_request(check_request)
