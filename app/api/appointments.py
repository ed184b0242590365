"""JSON API v1: a clinic's appointments, pushed by its practice system and read back.

Same token authentication, rate limit and JSON error answers as the rest of API v1
(app/api/views.py): the token decides the clinic, so another clinic's appointment ids and
external ids simply do not exist here. The record shape is the CSV import's
(app/patients/appointments.py), and so are the rules and their messages.
"""

from dataclasses import dataclass
from datetime import date

from flask import current_app, g
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from app.api.schemas import ErrorSchema, StrictSchema, UtcDateTime
from app.api.views import _authenticate, _domain_error, _http_error, _rate_limit_key, requires_scope
from app.auth.access import API_CLIENTS, default_rule
from app.auth.models import ApiScope
from app.errors import DomainError
from app.extensions import csrf, db, limiter
from app.health import require_redis
from app.i18n import _l
from app.input_rules import check_date
from app.patients import appointments as services
from app.patients.models import PATIENT_REF_PATTERN, Appointment, AppointmentStatus, Patient

blp = Blueprint(
    "api_appointments",
    __name__,
    url_prefix="/api/v1",
    description="The clinic's appointments: create or update by your external_id, list, read, record outcomes.",
)
csrf.exempt(blp)
default_rule(blp, API_CLIENTS)
# One budget per token across the whole API: the same scope as app/api/views.py.
limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api", key_func=_rate_limit_key)(blp)
blp.before_request(require_redis)  # as app/api/views.py: 503 while Redis is down
blp.before_request(_authenticate)
blp.before_request(requires_scope(ApiScope.HOTLINE))
# Errors answer exactly like the rest of the API: JSON, the field at fault named, the transaction rolled back.
blp.errorhandler(DomainError)(_domain_error)
blp.errorhandler(HTTPException)(_http_error)


# --- schemas ---------------------------------------------------------------------------------------


class PatientSchema(Schema):
    reference = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "E.164, e.g. +4915112345678."})
    language = fields.String()
    consent_email = fields.Boolean()
    consent_sms = fields.Boolean(metadata={"description": "False whenever the patient opted out."})
    opted_out_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "When the patient opted out of all messages of this clinic; imports never undo it."},
    )


class AppointmentSchema(Schema):
    id = fields.Integer()
    external_id = fields.String()
    starts_at = UtcDateTime()
    location = fields.String()
    practitioner = fields.String()
    appointment_type = fields.String(allow_none=True)
    status = fields.Enum(AppointmentStatus, by_value=True)
    status_changed_at = UtcDateTime(allow_none=True)
    patient = fields.Nested(PatientSchema)


class AppointmentPageSchema(Schema):
    items = fields.List(fields.Nested(AppointmentSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer(metadata={"description": "Appointments matching the filters, on all pages."})
    pages = fields.Integer()


class AppointmentInputSchema(StrictSchema):
    external_id = fields.String(
        required=True,
        validate=validate.Regexp(services.EXTERNAL_ID_PATTERN, error="1 to 64 printable characters without spaces."),
        metadata={"description": "Your id of the appointment: sending it again updates the same appointment."},
    )
    patient_reference = fields.String(
        required=True,
        validate=validate.Regexp(PATIENT_REF_PATTERN, error="1 to 64 letters, digits or . _ : / + -"),
        metadata={"description": "The clinic's pseudonymous patient reference, never a name."},
    )
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "International (+49…) or national in the clinic's country; stored in E.164."},
    )
    language = fields.String(
        allow_none=True,
        validate=validate.Length(max=5),
        metadata={"description": "One of the clinic's languages; defaults to the clinic's default language."},
    )
    consent_email = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    consent_sms = fields.Boolean(
        load_default=False,
        truthy={True},
        falsy={False},
        metadata={"description": "Ignored (stays false) for a patient who opted out."},
    )
    starts_at = fields.String(
        required=True,
        validate=validate.Length(max=40),
        metadata={
            "description": "ISO 8601 with an offset (2026-05-04T09:30:00+02:00); without one, the clinic's local time."
        },
    )
    location = fields.String(required=True, validate=validate.Length(min=1, max=services.MAX_TEXT_LENGTH))
    practitioner = fields.String(required=True, validate=validate.Length(min=1, max=services.MAX_TEXT_LENGTH))
    appointment_type = fields.String(
        allow_none=True,
        validate=validate.Length(max=services.MAX_TEXT_LENGTH),
        metadata={"description": "Your kind of visit (waitlist entries may ask for one); left out: unchanged."},
    )


class AppointmentQuerySchema(StrictSchema):
    start = fields.String(
        data_key="from",
        validate=validate.Length(max=40),
        metadata={
            "description": "From this time (inclusive). A date means the start of that day in the clinic's time zone."
        },
    )
    end = fields.String(
        data_key="to",
        validate=validate.Length(max=40),
        metadata={
            "description": "Until this time (exclusive). A date means the end of that day in the clinic's time zone."
        },
    )
    status = fields.Enum(AppointmentStatus, by_value=True)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class OutcomeSchema(StrictSchema):
    outcome = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in services.OUTCOMES]),
        metadata={
            "description": "attended and no_show need an appointment that has begun; cancelled is possible any time."
        },
    )


# --- endpoints -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentView:
    """An appointment and its patient, dumped as one object by `AppointmentSchema`."""

    appointment: Appointment
    patient: Patient

    def __getattr__(self, name):
        return getattr(self.appointment, name)


def _view(appointment: Appointment) -> AppointmentView:
    return AppointmentView(appointment, services.patient_of(appointment))


_ERRORS = {"schema": ErrorSchema}


@blp.post("/appointments")
@blp.arguments(AppointmentInputSchema)
@blp.response(201, AppointmentSchema, description="The appointment was created.")
@blp.alt_response(
    200,
    schema=AppointmentSchema,
    description="An appointment with this external_id existed: it was "
    "updated (sending the same record again is a safe retry).",
)
@blp.alt_response(
    400, description="Invalid input: the field at fault is named (phone, language, starts_at…).", **_ERRORS
)
@blp.alt_response(409, description="The external_id belongs to an appointment of another patient.", **_ERRORS)
def upsert_appointment(data: dict):
    """Create or update an appointment and its patient, by your external_id."""
    try:
        appointment, created = services.save_appointment_from(g.tenant, data)
        db.session.flush()  # a unique key's conflict shows here; the request commits
    except IntegrityError:
        # A concurrent request with the same external_id or patient won the race: apply this one as an update.
        db.session.rollback()
        appointment, created = services.save_appointment_from(g.tenant, data)
        db.session.flush()
    return _view(appointment), 201 if created else 200


def _bound(value: str | None, name: str, *, end: bool):
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is not None:
        check_date(day, name)
        start, stop = services.local_day_bounds(day, day, g.tenant.time_zone)
        return stop if end else start
    try:
        return services.parse_local_or_aware(value, g.tenant.time_zone)
    except (ValueError, OverflowError) as error:
        message = error.args[0] if isinstance(error, ValueError) else _l("Not a date and time.")
        raise DomainError(_l("%(field)s: %(problem)s", field=name, problem=message), name) from None


@blp.get("/appointments")
# webargs ignores unknown query parameters unless told otherwise: a misspelt filter must not widen the list.
@blp.arguments(AppointmentQuerySchema, location="query", unknown=RAISE)
@blp.response(200, AppointmentPageSchema, description="One page of appointments, soonest first.")
@blp.alt_response(400, description="An invalid filter.", **_ERRORS)
def list_appointments(query: dict):
    """List the clinic's appointments, filtered by time and status, one page at a time."""
    start = _bound(query.get("start"), "from", end=False)
    end = _bound(query.get("end"), "to", end=True)
    page = services.list_appointments(
        start=start, end=end, status=query.get("status"), page=query["page"], per_page=query["per_page"]
    )
    return {
        "items": [AppointmentView(a, p) for a, p in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }


@blp.get("/appointments/<int:appointment_id>")
@blp.response(200, AppointmentSchema, description="The appointment and its patient.")
@blp.alt_response(404, description="No such appointment in this clinic.", **_ERRORS)
def get_appointment(appointment_id: int):
    """Read an appointment."""
    return _view(services.get_appointment(appointment_id))


@blp.post("/appointments/<int:appointment_id>/outcome")
@blp.arguments(OutcomeSchema)
@blp.response(200, AppointmentSchema, description="The outcome is recorded (the same outcome again changes nothing).")
@blp.alt_response(400, description="Not one of attended, no_show, cancelled.", **_ERRORS)
@blp.alt_response(404, description="No such appointment in this clinic.", **_ERRORS)
@blp.alt_response(409, description="attended or no_show for an appointment that has not begun.", **_ERRORS)
def record_outcome(data: dict, appointment_id: int):
    """Record whether the patient attended, did not show up, or the appointment was cancelled."""
    appointment = services.record_outcome(appointment_id, data["outcome"])
    return _view(appointment)
