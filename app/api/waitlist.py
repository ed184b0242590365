"""JSON API v1: the clinic's waitlist, kept by its practice system.

Same token authentication (scope `hotline`, as the appointments), rate limit and JSON error answers as the rest
of API v1 (app/api/views.py). The record shape and rules are the waitlist's own (app/waitlist/entries.py), as
the clinic's page and the CSV import apply them.
"""

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import HTTPException

from app.api.schemas import ErrorSchema, StrictSchema, UtcDateTime
from app.api.views import _authenticate, _domain_error, _http_error, _rate_limit_key, requires_scope
from app.auth.access import API_CLIENTS, default_rule
from app.auth.models import ApiScope
from app.errors import DomainError
from app.extensions import csrf, limiter
from app.health import require_redis
from app.patients.models import PATIENT_REF_PATTERN
from app.waitlist import entries
from app.waitlist.models import EntryStatus

blp = Blueprint(
    "api_waitlist",
    __name__,
    url_prefix="/api/v1",
    description="The clinic's waitlist: patients who want an earlier appointment when one is cancelled.",
)
csrf.exempt(blp)
default_rule(blp, API_CLIENTS)
limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api", key_func=_rate_limit_key)(blp)
blp.before_request(require_redis)
blp.before_request(_authenticate)
blp.before_request(requires_scope(ApiScope.HOTLINE))
blp.errorhandler(DomainError)(_domain_error)
blp.errorhandler(HTTPException)(_http_error)

_ERRORS = {"schema": ErrorSchema}
_DAY = {"description": "YYYY-MM-DD, in the clinic's calendar."}


class WindowSchema(Schema):
    weekday = fields.Integer(metadata={"description": "1 (Monday) to 7 (Sunday)."})
    start = fields.String(data_key="from", metadata={"description": "HH:MM, the clinic's time zone."})
    until = fields.String(metadata={"description": "HH:MM (24:00 for the end of the day)."})


class EntrySchema(Schema):
    id = fields.Integer()
    patient_reference = fields.String()
    practitioner = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    appointment_type = fields.String(allow_none=True)
    windows = fields.Method("_windows")
    earliest_date = fields.Date(allow_none=True)
    latest_date = fields.Date(allow_none=True)
    status = fields.Enum(EntryStatus, by_value=True)
    created_at = UtcDateTime()

    def _windows(self, view) -> list[dict]:
        return [{"weekday": w["weekday"] + 1, "from": w["from"], "until": w["until"]} for w in view.windows]


class EntryListSchema(Schema):
    items = fields.List(fields.Nested(EntrySchema))


class EntryInputSchema(StrictSchema):
    patient_reference = fields.String(
        required=True,
        validate=validate.Regexp(PATIENT_REF_PATTERN, error="1 to 64 letters, digits or . _ : / + -"),
        metadata={"description": "A patient of the clinic (made by an appointment sent before)."},
    )
    practitioner = fields.String(allow_none=True, validate=validate.Length(max=entries.MAX_TEXT_LENGTH))
    location = fields.String(allow_none=True, validate=validate.Length(max=entries.MAX_TEXT_LENGTH))
    appointment_type = fields.String(allow_none=True, validate=validate.Length(max=entries.MAX_TEXT_LENGTH))
    windows = fields.List(
        fields.Dict(),
        load_default=list,
        validate=validate.Length(max=entries.MAX_WINDOWS),
        metadata={
            "description": 'Availability windows, e.g. [{"weekday": 1, "from": "08:00", "until": "12:00"}] '
            "(weekday 1 is Monday; the clinic's time zone). Empty: any time."
        },
    )
    earliest_date = fields.String(
        allow_none=True, validate=validate.Length(max=10), metadata={"description": "YYYY-MM-DD"}
    )
    latest_date = fields.String(
        allow_none=True, validate=validate.Length(max=10), metadata={"description": "YYYY-MM-DD"}
    )


class EntryView:
    """An entry with its patient's reference, dumped by `EntrySchema`."""

    def __init__(self, entry, reference: str):
        self._entry, self.patient_reference = entry, reference

    def __getattr__(self, name):
        return getattr(self._entry, name)


@blp.post("/waitlist")
@blp.arguments(EntryInputSchema)
@blp.response(201, EntrySchema, description="The patient is on the waitlist.")
@blp.alt_response(400, description="Invalid input: the field at fault is named.", **_ERRORS)
@blp.alt_response(409, description="The patient already waits for exactly this.", **_ERRORS)
def add_entry(data: dict):
    """Put a patient on the clinic's waitlist."""
    entry = entries.add_entry_from(data, source="api")
    return EntryView(entry, data["patient_reference"]), 201


@blp.get("/waitlist")
@blp.response(200, EntryListSchema, description="The waiting patients, oldest entry first (the order of offers).")
def list_waiting():
    """List the clinic's waiting patients."""
    return {"items": [EntryView(entry, reference) for entry, reference in entries.list_entries()]}


@blp.post("/waitlist/<int:entry_id>/withdraw")
@blp.response(200, EntrySchema, description="The entry is withdrawn: no further slot is offered for it.")
@blp.alt_response(404, description="No such entry in this clinic.", **_ERRORS)
@blp.alt_response(409, description="The entry is not waiting (booked or withdrawn already).", **_ERRORS)
def withdraw_entry(entry_id: int):
    """Take a patient off the waitlist."""
    entry = entries.withdraw_entry(entry_id)
    return EntryView(entry, entries.reference_of(entry))
