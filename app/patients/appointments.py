"""Appointments and their patients: intake (API and CSV import), outcomes, listing, no-show rates.

One record shape serves the API and the CSV import alike: `external_id, patient_reference, email,
phone, language, consent_email, consent_sms, starts_at, location, practitioner`. `check_record`
validates one record without touching the database and reports every problem per field;
`save_appointment` upserts a valid record (patient by reference, appointment by external_id).

Rules kept here, in one place:
- Phone numbers are parsed with `phonenumbers`, the clinic's country as the default region, and
  stored in E.164; e-mail addresses are validated and normalised with `email_validator`.
- The language must be one the clinic serves; an empty one means the clinic's default language.
- A time with an offset is taken as given; a time without one is read in the clinic's time zone.
  A local time that does not exist (skipped by a clock change) is refused; an ambiguous one (the
  repeated hour in autumn) is read as the first of the two.
- Opt-out wins: a re-import never clears a patient's `opted_out_at`, and an opted-out patient's
  consent flags stay withdrawn whatever the import says. Only the patient can opt in again.
- An appointment keeps its patient: an external_id already used for another patient is refused
  (a reminder must never reach someone else because of a mistyped reference).
- Moving a confirmed appointment to another time makes it scheduled again: the patient confirmed
  the old time, not the new one.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import and_, func, select

from app import csv_import
from app.control_characters import has_control_characters
from app.csv_import import FieldError
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import _l
from app.input_rules import (
    control_character_message,
    date_in_range,
    date_out_of_range_message,
    has_control_character,
)
from app.models import utcnow
from app.patients.models import PATIENT_REF_PATTERN, Appointment, AppointmentStatus, Patient
from app.patients.signals import appointment_cancelled

# The columns of an import file and the fields of an API record, in this order.
COLUMNS = (
    "external_id",
    "patient_reference",
    "email",
    "phone",
    "language",
    "consent_email",
    "consent_sms",
    "starts_at",
    "location",
    "practitioner",
)
REQUIRED_COLUMNS = ("external_id", "patient_reference", "starts_at", "location", "practitioner")
# Columns a file may add after those: the clinic's kind of visit, which waitlist entries may ask for.
OPTIONAL_COLUMNS = ("appointment_type",)

EXTERNAL_ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,64}$")
MAX_TEXT_LENGTH = 120  # location, practitioner (the columns' size)
MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 2000
TRUE_WORDS = {"1", "true", "yes", "y", "x"}
FALSE_WORDS = {"", "0", "false", "no", "n"}

# Outcomes a person or a clinic's system records; scheduled/confirmed come from intake and replies.
OUTCOMES = (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED)
# Attended and no-show can only be said of an appointment that has begun (a little clock skew allowed).
OUTCOME_CLOCK_SKEW = timedelta(minutes=5)


# --- one record ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentRecord:
    """A validated, normalised record: E.164 phone, normalised e-mail, UTC start time."""

    external_id: str
    patient_reference: str
    email: str | None
    phone: str | None
    language: str
    consent_email: bool
    consent_sms: bool
    starts_at: datetime
    location: str
    practitioner: str
    appointment_type: str | None = None  # None: keep the appointment's type as it is

    def canonical(self) -> dict:
        values = asdict(self)
        values["starts_at"] = self.starts_at.astimezone(UTC).isoformat()
        return values


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _parse_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    word = _text(value).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_local_or_aware(value, time_zone: str) -> datetime:
    """An ISO 8601 time (or `YYYY-MM-DD HH:MM`) as aware UTC; without an offset it is clinic-local.

    Raises ValueError with a translatable message when the text is not a time or the local
    time does not exist in the clinic's time zone.
    """
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value)
        # A bare date would silently mean midnight: a time of day is required.
        if len(text) < 16:
            raise ValueError(
                _l(
                    "Not a date and time: use ISO 8601 (2026-05-04T09:30+02:00) or "
                    "2026-05-04 09:30 in the clinic's time zone."
                )
            )
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError(
                _l(
                    "Not a date and time: use ISO 8601 (2026-05-04T09:30+02:00) or "
                    "2026-05-04 09:30 in the clinic's time zone."
                )
            ) from None
    # Year 1 or 9999 would overflow below, as soon as an offset is applied.
    if not date_in_range(moment):
        raise ValueError(date_out_of_range_message())
    if moment.tzinfo is None:
        zone = ZoneInfo(time_zone)
        local = moment.replace(tzinfo=zone, fold=0)
        # A wall time skipped by a clock change does not survive the round trip through UTC.
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
            raise ValueError(
                _l(
                    "This local time does not exist in %(zone)s (the clocks changed); give the time with its offset.",
                    zone=time_zone,
                )
            )
        moment = local
    return moment.astimezone(UTC)


def check_record(tenant, raw: Mapping[str, object]) -> tuple[AppointmentRecord | None, list[FieldError]]:
    """Validate one record against the clinic's rules, without the database; every problem is reported.

    Returns the normalised record, or None and the list of problems (one or more per field).
    """
    errors: list[FieldError] = []

    def refuse(name: str, message) -> None:
        errors.append(FieldError(name, message))

    # An imported file reaches no form: its cells get the input rule of every single-line text here.
    for name in COLUMNS + OPTIONAL_COLUMNS:
        if isinstance(raw.get(name), str) and has_control_character(raw[name]):
            refuse(name, control_character_message())
    if errors:
        return None, errors
    for name in REQUIRED_COLUMNS:
        if not _text(raw.get(name)):
            refuse(name, _l("Required."))

    external_id = _text(raw.get("external_id"))
    if external_id and not EXTERNAL_ID_PATTERN.match(external_id):
        refuse("external_id", _l("1 to 64 printable characters without spaces."))

    reference = _text(raw.get("patient_reference"))
    if reference and not PATIENT_REF_PATTERN.match(reference):
        refuse("patient_reference", _l("1 to 64 letters, digits or . _ : / + -"))

    email = _text(raw.get("email")) or None
    if email is not None:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            refuse("email", _l("Not a valid e-mail address."))
        else:
            if len(email) > 254:
                refuse("email", _l("At most 254 characters."))

    phone = _text(raw.get("phone")) or None
    if phone is not None:
        try:
            number = phonenumbers.parse(phone, tenant.country_code)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            refuse(
                "phone",
                _l("Not a valid phone number (national numbers are read as %(country)s).", country=tenant.country_code),
            )
        else:
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    language = _text(raw.get("language")).lower() or tenant.default_locale
    if language not in tenant.supported_locales:
        refuse(
            "language",
            _l(
                "The clinic does not serve this language; it serves %(languages)s.",
                languages=", ".join(tenant.supported_locales),
            ),
        )

    consents = {}
    for name in ("consent_email", "consent_sms"):
        consents[name] = _parse_bool(raw.get(name))
        if consents[name] is None:
            refuse(name, _l("Write yes or no (or 1 or 0)."))

    starts_at = None
    if _text(raw.get("starts_at")) or isinstance(raw.get("starts_at"), datetime):
        try:
            starts_at = parse_local_or_aware(raw.get("starts_at"), tenant.time_zone)
        except ValueError as error:
            refuse("starts_at", error.args[0])
        except OverflowError:
            refuse(
                "starts_at",
                _l(
                    "Not a date and time: use ISO 8601 (2026-05-04T09:30+02:00) or "
                    "2026-05-04 09:30 in the clinic's time zone."
                ),
            )

    texts = {}
    for name in ("location", "practitioner", "appointment_type"):
        texts[name] = " ".join(_text(raw.get(name)).split())
        if len(texts[name]) > MAX_TEXT_LENGTH:
            refuse(name, _l("At most %(n)s characters.", n=MAX_TEXT_LENGTH))
        # Both fill placeholders of messages, e-mail subjects too: a control character (NUL …) is refused.
        if has_control_characters(texts[name]):
            refuse(name, _l("Control characters (such as NUL) are not allowed."))

    if errors:
        return None, errors
    return AppointmentRecord(
        external_id=external_id,
        patient_reference=reference,
        email=email,
        phone=phone,
        language=language,
        consent_email=consents["consent_email"],
        consent_sms=consents["consent_sms"],
        starts_at=starts_at,
        location=texts["location"],
        practitioner=texts["practitioner"],
        appointment_type=texts["appointment_type"] or None,
    ), []


def check_against_clinic(records: Iterable[AppointmentRecord]) -> dict[str, list[FieldError]]:
    """Problems that need the clinic's existing data, per external_id (one query per kind, not per row).

    An external_id that already belongs to an appointment of another patient is refused.
    """
    records = list(records)
    if not records:
        return {}
    rows = db.session.execute(
        select(Appointment.external_id, Patient.reference)
        .join(Patient, and_(Patient.id == Appointment.patient_id, Patient.tenant_id == Appointment.tenant_id))
        .where(Appointment.external_id.in_({r.external_id for r in records}))
    ).all()
    owners = dict(rows)
    problems: dict[str, list[FieldError]] = {}
    for record in records:
        owner = owners.get(record.external_id)
        if owner is not None and owner != record.patient_reference:
            problems.setdefault(record.external_id, []).append(
                FieldError(
                    "patient_reference",
                    _l("This appointment belongs to another patient; an appointment cannot change its patient."),
                )
            )
    return problems


def _raise_first(errors: list[FieldError], error_class=DomainError):
    first = errors[0]
    raise error_class(_l("%(field)s: %(problem)s", field=first.field, problem=first.message), first.field)


# --- saving ----------------------------------------------------------------------------------------


def upsert_patient(record: AppointmentRecord, patient: Patient | None = None) -> tuple[Patient, bool]:
    """Create or update the clinic's patient with this reference; returns (patient, created).

    Opt-out wins: `opted_out_at` is never cleared here, and an opted-out patient's consent
    flags stay False even when the record grants consent.
    """
    if patient is None:
        patient = db.session.scalar(select(Patient).where(Patient.reference == record.patient_reference))
    created = patient is None
    if created:
        patient = Patient(reference=record.patient_reference)
        db.session.add(patient)
    patient.email = record.email
    patient.phone = record.phone
    patient.language = record.language
    withdrawn = patient.opted_out_at is not None
    patient.consent_email = record.consent_email and not withdrawn
    patient.consent_sms = record.consent_sms and not withdrawn
    return patient, created


def save_appointment(record: AppointmentRecord) -> tuple[Appointment, bool]:
    """Create or update the appointment with this external_id and its patient; returns (appointment, created).

    Idempotent: the same record twice changes nothing the second time. The status is kept,
    except that a confirmed appointment moved to another time is scheduled again.
    """
    problems = check_against_clinic([record]).get(record.external_id)
    if problems:
        _raise_first(problems, Conflict)
    patient, _new = upsert_patient(record)
    db.session.flush()
    appointment, created = _apply(record, patient, find_appointment_by_external_id(record.external_id))
    db.session.flush()
    return appointment, created


def _apply(record: AppointmentRecord, patient: Patient, appointment: Appointment | None) -> tuple[Appointment, bool]:
    created = appointment is None
    if created:
        appointment = Appointment(
            external_id=record.external_id, patient_id=patient.id, status=AppointmentStatus.SCHEDULED
        )
        db.session.add(appointment)
    elif appointment.status == AppointmentStatus.CONFIRMED and appointment.starts_at != record.starts_at:
        appointment.status = AppointmentStatus.SCHEDULED
        appointment.status_changed_at = utcnow()
    appointment.starts_at = record.starts_at
    appointment.location = record.location
    appointment.practitioner = record.practitioner
    if record.appointment_type is not None:
        appointment.appointment_type = record.appointment_type
    return appointment, created


def save_appointment_from(tenant, raw: Mapping[str, object]) -> tuple[Appointment, bool]:
    """Validate a raw record (API) and save it; the first problem is raised as a DomainError naming its field."""
    record, errors = check_record(tenant, raw)
    if errors:
        _raise_first(errors)
    return save_appointment(record)


# --- reading and outcomes --------------------------------------------------------------------------


def get_appointment(appointment_id: int) -> Appointment:
    appointment = db.session.scalar(select(Appointment).where(Appointment.id == appointment_id))
    if appointment is None:
        raise NotFound(_l("No such appointment in this clinic."))
    return appointment


def find_appointment_by_external_id(external_id: str) -> Appointment | None:
    return db.session.scalar(select(Appointment).where(Appointment.external_id == external_id))


def patient_of(appointment: Appointment) -> Patient:
    return db.session.scalar(select(Patient).where(Patient.id == appointment.patient_id))


def record_outcome(
    appointment_id: int, outcome: AppointmentStatus | str, *, now: datetime | None = None
) -> Appointment:
    """Mark an appointment attended, no-show or cancelled; the same outcome again changes nothing.

    Attended and no-show need an appointment that has begun; a wrong outcome may be corrected.
    """
    try:
        outcome = AppointmentStatus(outcome)
    except ValueError:
        raise DomainError(_l("The outcome must be attended, no-show or cancelled."), "outcome") from None
    if outcome not in OUTCOMES:
        raise DomainError(_l("The outcome must be attended, no-show or cancelled."), "outcome")
    appointment = get_appointment(appointment_id)
    now = now or utcnow()
    if outcome != AppointmentStatus.CANCELLED and appointment.starts_at > now + OUTCOME_CLOCK_SKEW:
        raise Conflict(_l("The appointment has not begun yet: only cancelled can be recorded before it."), "outcome")
    if appointment.status != outcome:
        appointment.status = outcome
        appointment.status_changed_at = now
        db.session.flush()
        if outcome == AppointmentStatus.CANCELLED:
            appointment_cancelled.send(appointment, at=now)
    return appointment


def cancel_appointment(appointment: Appointment, *, now: datetime) -> None:
    """Mark a still-on appointment cancelled and announce it (the patient's own answer, app/campaigns)."""
    appointment.status, appointment.status_changed_at = AppointmentStatus.CANCELLED, now
    db.session.flush()
    appointment_cancelled.send(appointment, at=now)


def book_appointment(
    *, patient_id: int, external_id: str, starts_at: datetime, location: str, practitioner: str, now: datetime
) -> Appointment:
    """A new confirmed appointment the patient booked themselves (a waitlist slot); flushed.

    The clinic's unique external_id is the caller's guard against booking one thing twice: a second
    booking under the same external_id fails in the database.
    """
    appointment = Appointment(
        external_id=external_id,
        patient_id=patient_id,
        starts_at=starts_at,
        location=location,
        practitioner=practitioner,
        status=AppointmentStatus.CONFIRMED,
        status_changed_at=now,
    )
    db.session.add(appointment)
    db.session.flush()
    return appointment


@dataclass
class AppointmentPage:
    items: list[tuple[Appointment, Patient]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_appointments(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    status: AppointmentStatus | None = None,
    location: str | None = None,
    practitioner: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> AppointmentPage:
    """The clinic's appointments in [start, end), soonest first, with their patients, one page at a time."""
    conditions = []
    if start is not None:
        conditions.append(Appointment.starts_at >= start)
    if end is not None:
        conditions.append(Appointment.starts_at < end)
    if status is not None:
        conditions.append(Appointment.status == status)
    if location:
        conditions.append(Appointment.location == location)
    if practitioner:
        conditions.append(Appointment.practitioner == practitioner)
    total = db.session.scalar(select(func.count(Appointment.id)).where(*conditions))
    page = max(1, page)
    rows = db.session.execute(
        select(Appointment, Patient)
        .join(Patient, and_(Patient.id == Appointment.patient_id, Patient.tenant_id == Appointment.tenant_id))
        .where(*conditions)
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return AppointmentPage(items=[(a, p) for a, p in rows], total=total, page=page, per_page=per_page)


def locations_and_practitioners() -> tuple[list[str], list[str]]:
    """The distinct locations and practitioners of the clinic's appointments, for filter choices."""
    locations = db.session.scalars(select(Appointment.location).distinct().order_by(Appointment.location)).all()
    practitioners = db.session.scalars(
        select(Appointment.practitioner).distinct().order_by(Appointment.practitioner)
    ).all()
    return list(locations), list(practitioners)


def local_day_bounds(first: date | None, last: date | None, time_zone: str) -> tuple[datetime | None, datetime | None]:
    """[first 00:00, the day after last 00:00) in the clinic's time zone, as UTC."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(first, time(), zone).astimezone(UTC) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC) if last else None
    return start, end


# --- CSV import ------------------------------------------------------------------------------------


@dataclass
class ImportRow:
    line: int  # the line of the file, the header being line 1
    values: dict[str, str]
    record: AppointmentRecord | None = None
    errors: list[FieldError] = field(default_factory=list)
    action: str | None = None  # "create" or "update" once checked
    notes: list[object] = field(default_factory=list)


@dataclass
class ImportPreview:
    """Every row of a file with its problems; `file_errors` are problems of the file as a whole."""

    rows: list[ImportRow] = field(default_factory=list)
    file_errors: list[object] = field(default_factory=list)
    delimiter: str = ","

    @property
    def valid(self) -> bool:
        return not self.file_errors and bool(self.rows) and all(not row.errors for row in self.rows)

    @property
    def invalid_rows(self) -> int:
        return sum(1 for row in self.rows if row.errors)

    @property
    def creates(self) -> int:
        return sum(1 for row in self.rows if row.action == "create" and not row.errors)

    @property
    def updates(self) -> int:
        return sum(1 for row in self.rows if row.action == "update" and not row.errors)

    def digest(self) -> str:
        """A fingerprint of exactly what would be imported (normalised records, in order)."""
        canonical = [row.record.canonical() for row in self.rows if row.record is not None]
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def decode_import(data: bytes) -> str:
    """The file as text: UTF-8, with or without a byte-order mark."""
    return csv_import.decode(data, MAX_IMPORT_BYTES)


def preview_import(tenant, text: str) -> ImportPreview:
    """Parse and check a whole import file without saving anything; every row is checked.

    Rules: a header with exactly the known columns (any order, the required ones present),
    at most MAX_IMPORT_ROWS rows, each external_id once per file, one set of contact details
    per patient reference, and every row valid for the clinic.
    """
    table = csv_import.read_table(
        text, columns=COLUMNS + OPTIONAL_COLUMNS, required=REQUIRED_COLUMNS, max_rows=MAX_IMPORT_ROWS
    )
    preview = ImportPreview(
        rows=[ImportRow(line=row.line, values=row.values, errors=row.errors) for row in table.rows],
        file_errors=table.file_errors,
        delimiter=table.delimiter,
    )
    if not preview.file_errors:
        _check_rows(tenant, preview.rows)
    return preview


def _check_rows(tenant, rows: list[ImportRow]) -> None:
    first_line_of: dict[str, int] = {}
    patient_details: dict[str, tuple[int, tuple]] = {}
    for row in rows:
        record, errors = check_record(tenant, row.values)
        row.errors.extend(errors)
        external_id = _text(row.values.get("external_id"))
        if external_id:
            if external_id in first_line_of:
                row.errors.append(
                    FieldError("external_id", _l("Appears already on line %(line)s.", line=first_line_of[external_id]))
                )
            else:
                first_line_of[external_id] = row.line
        if record is not None:
            details = (record.email, record.phone, record.language, record.consent_email, record.consent_sms)
            seen = patient_details.setdefault(record.patient_reference, (row.line, details))
            if seen[1] != details:
                row.errors.append(
                    FieldError(
                        "patient_reference",
                        _l("The same patient has other contact details or consent on line %(line)s.", line=seen[0]),
                    )
                )
        row.record = record if not row.errors else None
    valid = [row.record for row in rows if row.record is not None]
    clinic_problems = check_against_clinic(valid)
    existing = (
        set(
            db.session.scalars(
                select(Appointment.external_id).where(Appointment.external_id.in_({r.external_id for r in valid}))
            )
        )
        if valid
        else set()
    )
    opted_out = (
        dict(
            db.session.execute(
                select(Patient.reference, Patient.opted_out_at).where(
                    Patient.reference.in_({r.patient_reference for r in valid}), Patient.opted_out_at.is_not(None)
                )
            ).all()
        )
        if valid
        else {}
    )
    for row in rows:
        if row.record is None:
            continue
        problems = clinic_problems.get(row.record.external_id)
        if problems:
            row.errors.extend(problems)
            row.record = None
            continue
        row.action = "update" if row.record.external_id in existing else "create"
        if row.record.patient_reference in opted_out and (row.record.consent_email or row.record.consent_sms):
            row.notes.append(_l("The patient opted out: consent stays withdrawn."))


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def run_import(preview: ImportPreview) -> ImportResult:
    """Save every row of a valid preview, all or nothing (the caller commits once, or rolls back).

    The rows are checked again against the clinic's current data first: something may have
    changed since the preview. Patients and appointments are looked up in two queries, not per row.
    """
    if not preview.valid:
        raise DomainError(_l("The file has errors: nothing was imported."), "file")
    records = [row.record for row in preview.rows]
    problems = check_against_clinic(records)
    if problems:
        _raise_first(next(iter(problems.values())), Conflict)
    patients = {
        p.reference: p
        for p in db.session.scalars(
            select(Patient).where(Patient.reference.in_({r.patient_reference for r in records}))
        )
    }
    for record in records:
        patients[record.patient_reference], _new = upsert_patient(record, patients.get(record.patient_reference))
    db.session.flush()
    appointments = {
        a.external_id: a
        for a in db.session.scalars(
            select(Appointment).where(Appointment.external_id.in_({r.external_id for r in records}))
        )
    }
    created = updated = 0
    for record in records:
        _appointment, is_new = _apply(record, patients[record.patient_reference], appointments.get(record.external_id))
        created += is_new
        updated += not is_new
    db.session.flush()
    return ImportResult(created=created, updated=updated)


# --- preview → confirm -----------------------------------------------------------------------------
#
# The confirm step must import exactly what the person saw. The previewed file travels back in a
# hidden field, signed (HMAC, itsdangerous) together with the clinic, the person and the digest of
# the normalised records; confirming re-reads that very file, checks it again and refuses it when
# its records no longer match the digest (e.g. the clinic's time zone changed in between). Nothing
# is stored server-side before the confirmation, so an abandoned preview leaves no patient data behind.

IMPORT_SIGNING_SALT = "appointment-import"
IMPORT_MAX_AGE = 3600  # seconds a preview may be confirmed


class ImportExpired(DomainError):
    def __init__(self):
        super().__init__(_l("This preview is no longer valid (too old or altered). Upload the file again."), "payload")


def sign_import(secret_key: str, tenant_id: int, user_id: int, text: str, digest: str) -> str:
    """The signed, compressed confirm payload for a valid preview."""
    serializer = URLSafeTimedSerializer(secret_key, salt=IMPORT_SIGNING_SALT)
    return serializer.dumps({"tenant": tenant_id, "user": user_id, "csv": text, "digest": digest})


def open_import(secret_key: str, payload: str, tenant_id: int, user_id: int) -> tuple[str, str]:
    """(file text, digest) of a signed payload made for this clinic and person; ImportExpired otherwise."""
    serializer = URLSafeTimedSerializer(secret_key, salt=IMPORT_SIGNING_SALT)
    try:
        data = serializer.loads(payload or "", max_age=IMPORT_MAX_AGE)
    except BadData:
        raise ImportExpired() from None
    if not isinstance(data, dict) or data.get("tenant") != tenant_id or data.get("user") != user_id:
        raise ImportExpired()
    return data["csv"], data["digest"]
