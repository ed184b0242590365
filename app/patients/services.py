"""Reading a patient for the people who talk to them: the overview beside a hotline conversation."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import utcnow
from app.patients.models import PATIENT_REF_PATTERN, Appointment, AppointmentStatus, MessageChannel, Patient
from app.tenancy import current_tenant_id

# How many appointments each side of now the overview shows: the panel is a glance, not a list.
OVERVIEW_APPOINTMENTS = 5


@dataclass(frozen=True)
class AppointmentLine:
    starts_at: datetime
    location: str
    practitioner: str
    status: AppointmentStatus


@dataclass(frozen=True)
class ChannelConsent:
    channel: MessageChannel
    consented: bool


@dataclass(frozen=True)
class PatientOverview:
    """What an agent sees of a patient: no name, no address (the audit trail names the patient by `patient_id`)."""

    patient_id: int
    language: str
    consent: tuple[ChannelConsent, ...]
    opted_out_at: datetime | None
    erased: bool
    upcoming: tuple[AppointmentLine, ...]
    past: tuple[AppointmentLine, ...]


def patient_overview(patient_ref: str, *, limit: int = OVERVIEW_APPOINTMENTS) -> PatientOverview | None:
    """The current clinic's patient with this reference, with their nearest appointments; None if there is none.

    Only the current clinic's patients are found (the tenant walls scope the query); a reference that
    is not a valid one finds nobody. Consent per channel is the patient's own flag, withdrawn by an
    opt-out. Upcoming appointments are the next `limit` from now, soonest first; past ones the last
    `limit`, newest first.
    """
    if not PATIENT_REF_PATTERN.match(patient_ref or ""):
        return None
    patient = db.session.scalar(select(Patient).where(Patient.reference == patient_ref))
    if patient is None:
        return None
    moment = utcnow()
    mine = select(Appointment).where(Appointment.patient_id == patient.id)
    upcoming = db.session.scalars(
        mine.where(Appointment.starts_at >= moment).order_by(Appointment.starts_at, Appointment.id).limit(limit)
    )
    past = db.session.scalars(
        mine.where(Appointment.starts_at < moment)
        .order_by(Appointment.starts_at.desc(), Appointment.id.desc())
        .limit(limit)
    )
    opted_out = patient.opted_out_at is not None
    return PatientOverview(
        patient_id=patient.id,
        language=patient.language,
        consent=(
            ChannelConsent(MessageChannel.EMAIL, patient.consent_email and not opted_out),
            ChannelConsent(MessageChannel.SMS, patient.consent_sms and not opted_out),
        ),
        opted_out_at=patient.opted_out_at,
        erased=patient.erased_at is not None,
        upcoming=tuple(_line(a) for a in upcoming),
        past=tuple(_line(a) for a in past),
    )


def _line(appointment: Appointment) -> AppointmentLine:
    return AppointmentLine(
        starts_at=appointment.starts_at,
        location=appointment.location,
        practitioner=appointment.practitioner,
        status=appointment.status,
    )


def reference_for_email(email: str) -> str | None:
    """The reference of the current clinic's one patient with this e-mail address (any case); else None.

    Rule: this clinic's patients only (the tenant scope), and only an unambiguous match: when several
    patients share an address (a family's), the mail is matched to none of them rather than to a guess.
    """
    if not email:
        return None
    return _sole_reference(func.lower(Patient.email) == email.strip().lower())


def _sole_reference(condition) -> str | None:
    """The reference of the current clinic's one patient meeting `condition`; None when none or several do."""
    references = db.session.scalars(select(Patient.reference).where(condition).limit(2)).all()
    return references[0] if len(references) == 1 else None


def pseudonym(kind: str, identifier: str) -> str:
    """The patient reference of someone the current clinic knows only by an e-mail address or a phone number:
    `<kind>-<16 hex>`, an HMAC of clinic and identifier under SECRET_KEY. The same sender gets the same
    reference (their contacts group together), it names no person, and it differs between clinics."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"{current_tenant_id()}:{identifier}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}-{digest[:16]}"


def reference_for_phone(number: str) -> str | None:
    """The reference of the current clinic's one patient with this E.164 number; None when no patient or
    several have it (a shared family line names nobody: guessing would show one patient another's data)."""
    return _sole_reference(Patient.phone == number)


# Appointments that still take place: a cancelled one is no appointment to talk about.
_STILL_ON = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)


def next_appointment(patient_ref: str) -> AppointmentLine | None:
    """The current clinic's patient's next appointment still on (scheduled or confirmed); None when there is none.

    Only the current clinic's patient with this reference is looked at (the tenant walls scope both queries);
    an appointment starting now or later counts, soonest first. Canned answers fill their appointment
    placeholders from it.
    """
    if not PATIENT_REF_PATTERN.match(patient_ref or ""):
        return None
    patient_id = db.session.scalar(select(Patient.id).where(Patient.reference == patient_ref))
    if patient_id is None:
        return None
    appointment = db.session.scalar(
        select(Appointment)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.starts_at >= utcnow(),
            Appointment.status.in_(_STILL_ON),
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(1)
    )
    return _line(appointment) if appointment is not None else None
