"""Marshmallow schemas of the JSON API: every input field validated, unknown fields refused.

Marshmallow refuses unknown fields by default (`unknown = RAISE`); `StrictSchema` says so
explicitly so a later change of the default cannot open the door. Every request schema is a
`StrictSchema`, which also applies the input rules of app/input_rules.py that need the field: no
line break in a string field (none of the API's texts has several lines), dates within bounds. Business rules that
need the clinic (languages it serves, its queues) stay in the services: the schemas only
check shape, types and bounds.
"""

import re
from datetime import UTC, datetime, timedelta

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates, validates_schema

from app.hotline.models import Channel, ContactStatus, EventKind, Topic
from app.hotline.telephony import E164_PATTERN, CallEvent
from app.input_rules import control_character_message, date_in_range, date_out_of_range_message, has_control_character
from app.languages import LANGUAGES
from app.patients.models import PATIENT_REF_PATTERN

# PostgreSQL `integer`: larger ids cannot exist, and would fail in the database instead of here.
MAX_ID = 2**31 - 1
ID_RANGE = validate.Range(min=1, max=MAX_ID)

# An external id is stored as is (at most 100 characters); call ids are stored as "call:<id>".
EXTERNAL_ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,100}$")
CALL_PREFIX = "call:"
CALL_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@+/=-]{1,95}$")

# Telephony clocks drift a little; an event further in the future than this is refused.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE

    @pre_load
    def _single_line_strings(self, data, **kwargs):
        """Refuse a line break or control character in any string field (the request hook has refused
        the other control characters already; this names the field)."""
        if not isinstance(data, dict):
            return data
        errors = {}
        for name, field in self.fields.items():
            value = data.get(field.data_key or name)
            if isinstance(field, fields.String) and isinstance(value, str) and has_control_character(value):
                errors[field.data_key or name] = [str(control_character_message())]
        if errors:
            raise ValidationError(errors)
        return data


class BoundedAwareDateTime(fields.AwareDateTime):
    """An ISO 8601 time with its offset, within the dates any clinic's data can have."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not date_in_range(moment):
            raise ValidationError(str(date_out_of_range_message()))
        return moment


class UtcDateTime(fields.DateTime):
    """A timestamp written in ISO 8601, always in UTC."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return super()._serialize(value.astimezone(UTC), attr, obj, **kwargs)


# --- answers ---------------------------------------------------------------------------------------


class ErrorSchema(Schema):
    """Every error answer of the API (documentation only: the error handlers build it)."""

    error = fields.String(metadata={"description": "What went wrong, in the clinic's language."})
    status = fields.Integer(metadata={"description": "The HTTP status code."})
    field = fields.String(metadata={"description": "The input field at fault, when there is one."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Validation messages per input field."},
    )


class QueueSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    channel = fields.Enum(Channel, by_value=True)
    language = fields.String(metadata={"description": "Language code, e.g. en, de."})
    topic = fields.Enum(Topic, by_value=True)
    priority = fields.Integer(metadata={"description": "1 (low) to 5 (urgent)."})
    in_house = fields.Boolean(metadata={"description": "Handled by the clinic itself, never offered to agents."})


class ContactSchema(Schema):
    id = fields.Integer()
    queue_id = fields.Integer()
    channel = fields.Enum(Channel, by_value=True)
    language = fields.String()
    topic = fields.Enum(Topic, by_value=True)
    priority = fields.Integer()
    status = fields.Enum(ContactStatus, by_value=True)
    patient_ref = fields.String()
    subject = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    offered_at = UtcDateTime()
    due_at = UtcDateTime(metadata={"description": "When the answer target is breached."})
    assigned_at = UtcDateTime(allow_none=True)
    first_response_at = UtcDateTime(allow_none=True)
    resolved_at = UtcDateTime(allow_none=True)


class EventSchema(Schema):
    kind = fields.Enum(EventKind, by_value=True)
    occurred_at = UtcDateTime()
    details = fields.Dict(keys=fields.String())


class ContactDetailSchema(ContactSchema):
    events = fields.List(fields.Nested(EventSchema), metadata={"description": "The contact's timeline, oldest first."})


# --- requests --------------------------------------------------------------------------------------


class ContactCreateSchema(StrictSchema):
    queue_id = fields.Integer(required=True, strict=True, validate=ID_RANGE)
    patient_ref = fields.String(
        required=True,
        validate=validate.Regexp(PATIENT_REF_PATTERN, error="1 to 64 letters, digits or . _ : / + -"),
        metadata={"description": "The clinic's pseudonymous patient reference, never a name."},
    )
    subject = fields.String(allow_none=True, validate=validate.Length(max=200))
    language = fields.String(
        allow_none=True,
        validate=validate.OneOf(sorted(LANGUAGES), error="Not an ISO 639 language code (tr, ar, uk …)."),
        metadata={"description": "Defaults to the queue's language; the clinic must serve it."},
    )
    priority = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=5),
        metadata={"description": "1 (low) to 5 (urgent); defaults to the queue's priority."},
    )
    external_id = fields.String(
        allow_none=True,
        validate=validate.Regexp(EXTERNAL_ID_PATTERN, error="1 to 100 printable characters without spaces."),
        metadata={"description": "Your id for this contact: sending it again returns the same contact."},
    )

    @validates("external_id")
    def _not_a_call(self, value, **kwargs):
        if value is not None and value.startswith(CALL_PREFIX):
            raise ValidationError(f"Ids starting with {CALL_PREFIX!r} are reserved for telephony events.")


class TelephonyEventSchema(StrictSchema):
    call_id = fields.String(
        required=True,
        validate=validate.Regexp(CALL_ID_PATTERN, error="1 to 95 letters, digits or . _ : @ + / = -"),
        metadata={"description": "The telephony platform's id of the call."},
    )
    kind = fields.Enum(CallEvent, by_value=True, required=True)
    occurred_at = BoundedAwareDateTime(
        required=True, format="iso", metadata={"description": "ISO 8601 with a time zone offset."}
    )
    queue_id = fields.Integer(
        allow_none=True, strict=True, validate=ID_RANGE, metadata={"description": "Required for offered."}
    )
    patient_ref = fields.String(
        allow_none=True,
        validate=validate.Regexp(PATIENT_REF_PATTERN, error="1 to 64 letters, digits or . _ : / + -"),
        metadata={"description": "For offered: the patient's reference, or leave it out and send caller_number."},
    )
    caller_number = fields.String(
        allow_none=True,
        validate=validate.Regexp(E164_PATTERN, error="A phone number in E.164 form, e.g. +4930123456."),
        metadata={
            "description": "For offered without patient_ref: the caller's number (E.164). It names the clinic's "
            "one patient with this number; otherwise the caller gets a pseudonymous reference (tel-…). "
            "The number itself is not stored."
        },
    )
    agent_id = fields.Integer(
        allow_none=True,
        strict=True,
        validate=ID_RANGE,
        metadata={"description": "The agent who answered or ended the call."},
    )

    @validates("occurred_at")
    def _not_in_the_future(self, value, **kwargs):
        if value - datetime.now(UTC) > MAX_CLOCK_SKEW:
            raise ValidationError("The event time lies in the future.")

    @validates_schema
    def _offered_needs_queue_and_patient(self, data, **kwargs):
        if data.get("kind") != CallEvent.OFFERED:
            return
        errors = {}
        if data.get("queue_id") is None:
            errors["queue_id"] = ["Required when kind is offered."]
        if data.get("patient_ref") is None and data.get("caller_number") is None:
            errors["patient_ref"] = ["Required when kind is offered, unless caller_number is given."]
        if errors:
            raise ValidationError(errors)
