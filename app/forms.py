"""Form pieces shared by several domains, and `Form`, the base of every form.

`Form` applies the input rules of app/input_rules.py to every field it binds, so no form can
forget them: text without control characters (line breaks and tabs only in a textarea), dates
within MIN_DATE … MAX_DATE. Amounts, prices and percentages use `BoundedDecimalField`: finite and
within bounds the field states. Lengths of time use `DurationField` ("1 h 30 min", stored as a whole
number of seconds, minutes, hours or days), dates `LocaleDateField` and `LocaleDateTimeField` (the
reader's pattern, "04.12.2026", or ISO). A refusal is a field error: the page shows it beside the field.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from flask import flash
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeField,
    DateTimeLocalField,
    DecimalField,
    Field,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.utils import unset_value
from wtforms.validators import StopValidation, ValidationError

from app.durations import UNIT_SECONDS, duration_example, parse_duration, spell_duration
from app.errors import DomainError
from app.extensions import db
from app.i18n import LOCALES, _l
from app.input_rules import (
    control_character_message,
    date_in_range,
    date_out_of_range_message,
    has_control_character,
    parse_bounded_decimal,
)
from app.languages import find_language, is_language, language_choices, language_name
from app.locale_dates import (
    date_placeholder,
    format_date_input,
    format_date_time_input,
    parse_date_input,
    parse_date_time_input,
)


def _no_control_characters(form, field) -> None:
    multiline = isinstance(field, TextAreaField)
    if isinstance(field.data, str) and has_control_character(field.data, multiline=multiline):
        raise ValidationError(control_character_message(multiline))


def _date_in_range(form, field) -> None:
    if field.data is not None and not date_in_range(field.data):
        raise ValidationError(date_out_of_range_message())


def _rules_for(field) -> list:
    if isinstance(field, StringField):
        return [_no_control_characters]
    if isinstance(field, DateTimeField) and not isinstance(field, TimeField):
        return [_date_in_range]  # DateField and DateTimeLocalField are DateTimeFields too
    return []


class Form(FlaskForm):
    """The base of every form of the application: the shared input rules on every field."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            field = unbound_field.bind(form=form, **options)
            rules = _rules_for(field)
            if rules:
                # A new list: the unbound field's list is shared by every instance of the form.
                field.validators = [*rules, *field.validators]
            return field


class BoundedDecimalField(DecimalField):
    """An amount, price or percentage: a finite decimal from `minimum` to `maximum` (both required).

    NaN, Infinity and numbers out of bounds are refused while parsing, so no validator, service or
    template ever compares or rounds them. A blank value is None (InputRequired or Optional decide).
    """

    def __init__(self, label=None, validators=None, *, minimum, maximum, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.minimum = Decimal(str(minimum))
        self.maximum = Decimal(str(maximum))

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = None
        if not str(valuelist[0]).strip():
            return
        self.data = parse_bounded_decimal(valuelist[0], self.minimum, self.maximum)


class PlainTextInput(widgets.TextInput):
    """A text input for a value typed in words: number and date attributes a template passes are dropped."""

    def __call__(self, field, **kwargs):
        for attribute in ("type", "min", "max", "step"):
            kwargs.pop(attribute, None)
        placeholder = getattr(field, "placeholder", None)
        if placeholder:
            kwargs.setdefault("placeholder", placeholder)
        return super().__call__(field, **kwargs)


class ReadFromText:
    """A field whose text did not parse keeps its parse error alone: DataRequired would replace it with
    "This field is required." (it clears the errors before it speaks), hiding what to type."""

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()
        super().pre_validate(form)


# A number alone counts in the unit the field stores; the hint says which.
_NATURAL_UNIT_HINTS = {
    "seconds": _l("A number alone counts seconds."),
    "minutes": _l("A number alone counts minutes."),
    "hours": _l("A number alone counts hours."),
    "days": _l("A number alone counts days."),
}


class DurationField(ReadFromText, Field):
    """A length of time typed as people write it, in the reader's language (app/durations.py).

    Stored as a whole number of `unit` (seconds, minutes, hours or days: whatever the model keeps), from
    `minimum` to `maximum` of them, both required; out of range, the refusal says the bound in words
    ("Enter at most 30 days."). Shown back exactly, in words ("1 Std. 30 Min."). Blank is None.
    """

    widget = PlainTextInput()

    def __init__(self, label=None, validators=None, *, unit="seconds", minimum, maximum, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.unit = unit
        self.minimum = minimum
        self.maximum = maximum

    @property
    def hint(self) -> str:
        example = _l('For example "%(example)s", "90 s" or "1:30:00".', example=duration_example())
        return f"{example} {_NATURAL_UNIT_HINTS[self.unit]}"

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return spell_duration(self.data * UNIT_SECONDS[self.unit])

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = None
        if not str(valuelist[0]).strip():
            return
        size = UNIT_SECONDS[self.unit]
        seconds = parse_duration(valuelist[0], natural_unit=self.unit)
        if seconds % size:
            raise ValueError(_l("Enter a multiple of %(unit)s.", unit=spell_duration(size)))
        value = int(seconds // size)
        if value > self.maximum:
            raise ValueError(_l("Enter at most %(duration)s.", duration=spell_duration(self.maximum * size)))
        if value < self.minimum:
            raise ValueError(_l("Enter at least %(duration)s.", duration=spell_duration(self.minimum * size)))
        self.data = value


class _TypedInReadersPattern(ReadFromText):
    """A moment typed as text in the reader's pattern, shown back as typed or in that pattern; `shown` and
    `read` are the pattern's pair of functions (app/locale_dates.py)."""

    widget = PlainTextInput()

    @property
    def hint(self) -> str:
        return self.placeholder

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return self.shown(self.data)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = None
        text = " ".join(valuelist).strip()
        if text:
            self.data = self.read(text)


class LocaleDateField(_TypedInReadersPattern, DateField):
    """A day typed in the reader's pattern ("04.12.2026", "12/04/2026") or ISO (app/locale_dates.py).

    A text input, not `type="date"`: the browser would draw that one in its own language, not the page's.
    """

    shown = staticmethod(format_date_input)
    read = staticmethod(parse_date_input)

    @property
    def placeholder(self) -> str:
        return date_placeholder()


class LocaleDateTimeField(_TypedInReadersPattern, DateTimeLocalField):
    """A date and time typed in the reader's pattern ("04.12.2026 14:30") or ISO ("2026-12-04T14:30")."""

    shown = staticmethod(format_date_time_input)
    read = staticmethod(parse_date_time_input)

    @property
    def placeholder(self) -> str:
        return f"{date_placeholder()} {_l('HH:MM')}"


class CheckboxListField(SelectMultipleField):
    """A multiple choice shown as check boxes rather than a list box."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class LanguagesField(CheckboxListField):
    """Languages people speak, any ISO 639 (app/languages.py): check boxes for the likely ones, and a text
    box backed by a <datalist> of every language to add others by name or code.

    The check boxes show the languages already chosen and the interface languages; the box (`<name>-add`)
    takes names in the reader's language, in English or in the language itself, or codes, separated by commas
    ("Türkisch, ar").
    js/languages.js turns a name picked from the list into a ticked check box at once; without it the
    names typed are added on saving. A name or code that is no language is a field error, nothing saved.
    """

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.added = ""

    def process(self, formdata, data=unset_value, extra_filters=None):
        super().process(formdata, data, extra_filters)
        self.added = formdata.get(f"{self.name}-add", "") if formdata is not None else ""

    def set_languages(self, offered=LOCALES) -> None:
        """Every language as a valid choice, in the reader's language; `offered` shown as check boxes too."""
        self.choices = choices(language_choices())
        self.offered = list(offered)

    def shown(self) -> list[tuple[str, str, bool]]:
        """(code, name, ticked) for the check boxes: the chosen languages first, then the other offered."""
        chosen = [code for code in (self.data or []) if is_language(code)]
        codes = list(dict.fromkeys([*chosen, *getattr(self, "offered", LOCALES)]))
        return [(code, language_name(code), code in chosen) for code in codes]

    def pre_validate(self, form) -> None:
        super().pre_validate(form)
        unknown = []
        for entry in re.split(r"[,،;]", self.added):  # the Latin and the Arabic comma, or a semicolon
            if not entry.strip():
                continue
            code = find_language(entry)
            if code is None:
                unknown.append(entry.strip())
            elif code not in (self.data or []):
                self.data = [*(self.data or []), code]
        if unknown:
            raise ValidationError(
                _l("Not a language we know: %(names)s. Choose names from the list.", names=", ".join(unknown))
            )


def attach_domain_error(form, error) -> bool:
    """Show a service's DomainError beside the field it names; False when no field matches."""
    field = getattr(form, error.field, None) if error.field else None
    if field is None:
        return False
    field.errors = [*field.errors, str(error.message)]
    return True


@contextmanager
def domain_errors(form: FlaskForm | None = None) -> Iterator[None]:
    """Show a service's refusal on the page: `with domain_errors(form): …call services…`.

    A DomainError raised inside rolls the transaction back at once (the request commits after the view:
    nothing half-written may be left for it), then shows its message beside the field it names, else as
    a flashed message, and the view goes on after the block to render its page with `page_status(form)`.
    A not-found error is not a form's business: it propagates and answers 404 like anywhere else.
    """
    try:
        yield
    except DomainError as error:
        if error.status_code == 404:
            raise
        db.session.rollback()
        if form is None or not attach_domain_error(form, error):
            flash(str(error.message), "error")
        if form is not None:
            form.error_status = error.status_code


def page_status(form: FlaskForm) -> int:
    """A form page's status: the refusal's (domain_errors), else 400 with field errors, else 200."""
    status = getattr(form, "error_status", None)
    if status is not None:
        return status
    return 400 if form.errors else 200


def choices(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs, in the SelectChoice form WTForms 3.3+ expects."""
    return [SelectChoice(value, label) for value, label in pairs]


class ConfirmForm(Form):
    """An empty form: a POST with a valid CSRF token is the confirmation."""
