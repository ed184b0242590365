"""Waitlist entries: one record shape for the clinic's page, the API and the CSV import, checked in one place.

A record is `patient_reference, practitioner, location, appointment_type, windows, earliest_date, latest_date`.
Rules kept here:
- The patient is one of the clinic's patients, found by reference (an appointment import or the API made them):
  the waitlist reaches them with the contact details and consent the clinic already holds.
- Practitioner, location and appointment type are optional; empty means any.
- Windows are written `mon 08:00-12:00; wed 14:00-18:00` (weekday as mon…sun or 1…7, Monday first; a range
  within one day, in the clinic's time zone); none means any time. The API takes the same text or a list of
  `{"weekday": 1-7, "from": "HH:MM", "until": "HH:MM"}`.
- Dates are `YYYY-MM-DD` in the clinic's calendar; the latest is not before the earliest.
- A patient waits once for the same wish: an identical waiting entry is refused.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select

from app import csv_import
from app.csv_import import FieldError
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import _l
from app.input_rules import check_date, control_character_message, has_control_character
from app.patients.models import PATIENT_REF_PATTERN, Patient
from app.waitlist.models import EntryStatus, WaitlistEntry

COLUMNS = (
    "patient_reference",
    "practitioner",
    "location",
    "appointment_type",
    "windows",
    "earliest_date",
    "latest_date",
)
REQUIRED_COLUMNS = ("patient_reference",)
MAX_TEXT_LENGTH = 120
MAX_WINDOWS = 21
MAX_IMPORT_BYTES = 512 * 1024
MAX_IMPORT_ROWS = 2000
SOURCES = ("ui", "api", "import")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(\w+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class EntryRecord:
    """A checked entry: the patient's id, texts normalised (None = any), windows as stored."""

    patient_id: int
    practitioner: str | None
    location: str | None
    appointment_type: str | None
    windows: tuple[tuple[int, str, str], ...]
    earliest_date: date | None
    latest_date: date | None

    def stored_windows(self) -> list[dict]:
        return [{"weekday": day, "from": start, "until": end} for day, start, end in self.windows]


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _weekday(word: str) -> int | None:
    word = word.lower()
    if word.isdigit() and 1 <= int(word) <= 7:
        return int(word) - 1
    return WEEKDAYS.index(word[:3]) if len(word) >= 3 and word[:3] in WEEKDAYS else None


def _clock(hours: str, minutes: str) -> time | None:
    hour, minute = int(hours), int(minutes)
    if hour == 24 and minute == 0:
        return time.max
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_windows(value) -> tuple[tuple[int, str, str], ...]:
    """The windows of a text (`mon 08:00-12:00; …`) or of a list of dicts; ValueError with a translated message."""
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        parts = [part for part in re.split(r"[;\n]", value) if part.strip()]
        raw = []
        for part in parts:
            match = _WINDOW.match(part)
            if match is None:
                raise ValueError(_l("Write windows as “mon 08:00-12:00; wed 14:00-18:00”."))
            raw.append((match[1], match[2], match[3], match[4], match[5]))
    elif isinstance(value, list):
        raw = []
        for item in value:
            if not isinstance(item, Mapping) or set(item) != {"weekday", "from", "until"}:
                raise ValueError(_l("Each window needs weekday (1 to 7, Monday first), from and until (HH:MM)."))
            start = re.fullmatch(r"(\d{1,2}):(\d{2})", str(item["from"]))
            end = re.fullmatch(r"(\d{1,2}):(\d{2})", str(item["until"]))
            if start is None or end is None:
                raise ValueError(_l("Each window needs weekday (1 to 7, Monday first), from and until (HH:MM)."))
            raw.append((str(item["weekday"]), start[1], start[2], end[1], end[2]))
    else:
        raise ValueError(_l("Write windows as “mon 08:00-12:00; wed 14:00-18:00”."))
    if len(raw) > MAX_WINDOWS:
        raise ValueError(_l("At most %(n)s windows.", n=MAX_WINDOWS))
    windows = []
    for day_word, h1, m1, h2, m2 in raw:
        day = _weekday(day_word)
        if day is None:
            raise ValueError(_l("Unknown weekday %(word)s: use mon … sun or 1 … 7.", word=day_word[:20]))
        start, end = _clock(h1, m1), _clock(h2, m2)
        if start is None or end is None or start >= end:
            raise ValueError(_l("A window runs from an earlier to a later time of the same day (00:00-24:00)."))
        windows.append((day, f"{int(h1):02d}:{m1}", f"{int(h2):02d}:{m2}"))
    return tuple(sorted(set(windows)))


def format_windows(windows: list[dict]) -> str:
    """Stored windows as the text people type: `mon 08:00-12:00; wed 14:00-18:00`."""
    return "; ".join(f"{WEEKDAYS[w['weekday']]} {w['from']}-{w['until']}" for w in windows)


def _date(value, name: str, refuse) -> date | None:
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        day = None
    if day is None:
        refuse(name, _l("Not a date: use YYYY-MM-DD."))
        return None
    try:
        check_date(day, name)
    except DomainError as error:
        refuse(name, error.message)
        return None
    return day


def check_entry(raw: Mapping[str, object], *, patients: Mapping[str, int] | None = None):
    """Check one record against the rules and the clinic's patients; (record, []) or (None, problems)."""
    errors: list[FieldError] = []

    def refuse(name: str, message) -> None:
        errors.append(FieldError(name, message))

    for name in COLUMNS:
        if isinstance(raw.get(name), str) and has_control_character(raw[name]):
            refuse(name, control_character_message())
    if errors:
        return None, errors
    reference = _text(raw.get("patient_reference"))
    patient_id = None
    if not reference:
        refuse("patient_reference", _l("Required."))
    elif not PATIENT_REF_PATTERN.match(reference):
        refuse("patient_reference", _l("1 to 64 letters, digits or . _ : / + -"))
    else:
        if patients is None:
            patient_id = db.session.scalar(select(Patient.id).where(Patient.reference == reference))
        else:
            patient_id = patients.get(reference)
        if patient_id is None:
            refuse("patient_reference", _l("No patient of this clinic has this reference."))
    texts = {}
    for name in ("practitioner", "location", "appointment_type"):
        texts[name] = " ".join(_text(raw.get(name)).split()) or None
        if texts[name] and len(texts[name]) > MAX_TEXT_LENGTH:
            refuse(name, _l("At most %(n)s characters.", n=MAX_TEXT_LENGTH))
    windows = ()
    try:
        windows = parse_windows(raw.get("windows"))
    except ValueError as error:
        refuse("windows", error.args[0])
    earliest = _date(raw.get("earliest_date"), "earliest_date", refuse)
    latest = _date(raw.get("latest_date"), "latest_date", refuse)
    if earliest and latest and latest < earliest:
        refuse("latest_date", _l("The latest date is before the earliest."))
    if errors:
        return None, errors
    return EntryRecord(
        patient_id=patient_id,
        practitioner=texts["practitioner"],
        location=texts["location"],
        appointment_type=texts["appointment_type"],
        windows=windows,
        earliest_date=earliest,
        latest_date=latest,
    ), []


def _raise_first(errors: list[FieldError]):
    first = errors[0]
    raise DomainError(_l("%(field)s: %(problem)s", field=first.field, problem=first.message), first.field)


def _same_wish(record: EntryRecord):
    return select(WaitlistEntry.id).where(
        WaitlistEntry.patient_id == record.patient_id,
        WaitlistEntry.status == EntryStatus.WAITING,
        WaitlistEntry.practitioner.is_(None)
        if record.practitioner is None
        else WaitlistEntry.practitioner == record.practitioner,
        WaitlistEntry.location.is_(None) if record.location is None else WaitlistEntry.location == record.location,
        WaitlistEntry.appointment_type.is_(None)
        if record.appointment_type is None
        else WaitlistEntry.appointment_type == record.appointment_type,
    )


def add_entry(record: EntryRecord, *, source: str) -> WaitlistEntry:
    """Put a checked record on the clinic's waitlist; flushed.

    Rule: a patient waits once for the same practitioner, location and type (a Conflict otherwise), so an
    API client's retry or a re-imported file does not offer them every slot twice.
    """
    if source not in SOURCES:
        raise ValueError(source)
    for existing_id in db.session.scalars(_same_wish(record)):
        existing = db.session.get(WaitlistEntry, existing_id)
        if existing.windows == record.stored_windows() and (existing.earliest_date, existing.latest_date) == (
            record.earliest_date,
            record.latest_date,
        ):
            raise Conflict(_l("This patient already waits for exactly this."), "patient_reference")
    entry = WaitlistEntry(
        patient_id=record.patient_id,
        practitioner=record.practitioner,
        location=record.location,
        appointment_type=record.appointment_type,
        windows=record.stored_windows(),
        earliest_date=record.earliest_date,
        latest_date=record.latest_date,
        status=EntryStatus.WAITING,
        source=source,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def add_entry_from(raw: Mapping[str, object], *, source: str) -> WaitlistEntry:
    """Check a raw record (page or API) and add it; the first problem is raised naming its field."""
    record, errors = check_entry(raw)
    if errors:
        _raise_first(errors)
    return add_entry(record, source=source)


def get_entry(entry_id: int) -> WaitlistEntry:
    entry = db.session.scalar(select(WaitlistEntry).where(WaitlistEntry.id == entry_id))
    if entry is None:
        raise NotFound(_l("No such waitlist entry in this clinic."))
    return entry


def reference_of(entry: WaitlistEntry) -> str:
    return db.session.scalar(select(Patient.reference).where(Patient.id == entry.patient_id))


def withdraw_entry(entry_id: int) -> WaitlistEntry:
    """Take a waiting patient off the waitlist: no further slot is offered to them (offers made stay valid)."""
    entry = get_entry(entry_id)
    if entry.status != EntryStatus.WAITING:
        raise Conflict(_l("Only a waiting entry can be withdrawn."), "entry")
    entry.status = EntryStatus.WITHDRAWN
    return entry


def list_entries(
    *, status: EntryStatus | None = EntryStatus.WAITING, limit: int = 500
) -> list[tuple[WaitlistEntry, str]]:
    """The clinic's entries with their patient's reference, oldest first (the order slots are offered in)."""
    query = (
        select(WaitlistEntry, Patient.reference)
        .join(Patient, (Patient.id == WaitlistEntry.patient_id) & (Patient.tenant_id == WaitlistEntry.tenant_id))
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(WaitlistEntry.status == status)
    return [(entry, reference) for entry, reference in db.session.execute(query)]


# --- CSV import --------------------------------------------------------------------------------------------


@dataclass
class ImportRow:
    line: int
    values: dict[str, str]
    record: EntryRecord | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class ImportPreview:
    rows: list[ImportRow] = field(default_factory=list)
    file_errors: list[object] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.file_errors and bool(self.rows) and all(not row.errors for row in self.rows)

    @property
    def invalid_rows(self) -> int:
        return sum(1 for row in self.rows if row.errors)


def decode_import(data: bytes) -> str:
    return csv_import.decode(data, MAX_IMPORT_BYTES)


def preview_import(text: str) -> ImportPreview:
    """Check a whole waitlist file without saving anything: the header, then every row, each problem per field."""
    table = csv_import.read_table(text, columns=COLUMNS, required=REQUIRED_COLUMNS, max_rows=MAX_IMPORT_ROWS)
    preview = ImportPreview(
        rows=[ImportRow(line=row.line, values=row.values, errors=row.errors) for row in table.rows],
        file_errors=table.file_errors,
    )
    if preview.file_errors:
        return preview
    references = {_text(row.values.get("patient_reference")) for row in preview.rows}
    patients = dict(
        db.session.execute(select(Patient.reference, Patient.id).where(Patient.reference.in_(references))).all()
    )
    for row in preview.rows:
        record, errors = check_entry(row.values, patients=patients)
        row.errors.extend(errors)
        row.record = record if not row.errors else None
    return preview


def run_import(preview: ImportPreview) -> int:
    """Add every row of a valid preview, all or nothing (the caller commits once); returns how many were added.

    A row whose patient already waits for exactly this is refused like on the page (a Conflict naming its line).
    """
    if not preview.valid:
        raise DomainError(_l("The file has errors: nothing was imported."), "file")
    for row in preview.rows:
        try:
            add_entry(row.record, source="import")
        except Conflict as error:
            raise Conflict(_l("Line %(line)s: %(problem)s", line=row.line, problem=error.message), "file") from None
    return len(preview.rows)


# The confirm step imports exactly the previewed file: it travels back signed with the clinic and the person
# (as the appointment import does, app/patients/appointments.py); nothing is stored before the confirmation.
IMPORT_SIGNING_SALT = "waitlist-import"
IMPORT_MAX_AGE = 3600


def sign_import(secret_key: str, tenant_id: int, user_id: int, text: str) -> str:
    return URLSafeTimedSerializer(secret_key, salt=IMPORT_SIGNING_SALT).dumps(
        {"tenant": tenant_id, "user": user_id, "csv": text}
    )


def open_import(secret_key: str, payload: str, tenant_id: int, user_id: int) -> str:
    """The file text of a signed payload made for this clinic and person; a DomainError otherwise."""
    try:
        data = URLSafeTimedSerializer(secret_key, salt=IMPORT_SIGNING_SALT).loads(payload or "", max_age=IMPORT_MAX_AGE)
    except BadData:
        data = None
    if not isinstance(data, dict) or data.get("tenant") != tenant_id or data.get("user") != user_id:
        raise DomainError(_l("This preview is no longer valid (too old or altered). Upload the file again."), "payload")
    return data["csv"]
