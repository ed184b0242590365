"""Telephony events (call offered, answered, abandoned, ended) turned into contacts and their timeline.

The telephony platform may resend an event (at-least-once webhooks): each event has a
key `call id + kind`, so a replay finds the event already recorded and changes nothing.
Events must follow the call's life in time: answered or abandoned after offered, ended after answered.

An offered call names its patient by reference, or by the caller's number (E.164): the number names the
clinic's one patient with it, else the caller stays a pseudonym `tel-<16 hex>`, a keyed hash of clinic and
number, so that the same caller's calls are one patient's history without the number itself being kept in
`patient_ref`, in the timeline or in a log line.
"""

import enum
import re
from datetime import datetime

from sqlalchemy import select

from app.billing.ledger import record_usage
from app.billing.models import UsageKind
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline import services, signals
from app.hotline.models import Contact, ContactEvent, ContactStatus, EventKind
from app.i18n import _l
from app.patients.services import pseudonym, reference_for_phone
from app.tenancy import current_tenant_id

E164_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")


class CallEvent(enum.StrEnum):
    OFFERED = "offered"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    ENDED = "ended"


# Which earlier event each event needs, and which events exclude it.
_REQUIRES = {
    CallEvent.ANSWERED: EventKind.OFFERED,
    CallEvent.ABANDONED: EventKind.OFFERED,
    CallEvent.ENDED: EventKind.ANSWERED,
}
_EXCLUDED_BY = {
    CallEvent.ANSWERED: EventKind.ABANDONED,
    CallEvent.ABANDONED: EventKind.ANSWERED,
}


def _source_key(call_id: str, kind: CallEvent) -> str:
    return f"call:{call_id}:{kind.value}"


def record_call_event(
    *,
    call_id: str,
    kind: CallEvent,
    occurred_at: datetime,
    queue_id: int | None = None,
    patient_ref: str | None = None,
    agent_id: int | None = None,
    caller_number: str | None = None,
) -> tuple[Contact, bool]:
    """Apply one telephony event; returns (contact, applied) where applied is False for a replay.

    An offered call without `patient_ref` is the patient `caller_patient_ref(caller_number)` names."""
    if occurred_at.tzinfo is None:
        raise DomainError(_l("Times must carry a time zone offset."), "occurred_at")
    check_call_agent(agent_id)
    external_id = f"call:{call_id}"
    existing = db.session.scalar(select(ContactEvent).where(ContactEvent.source_key == _source_key(call_id, kind)))
    if existing is not None:
        return services.get_contact(existing.contact_id), False

    if kind == CallEvent.OFFERED:
        if queue_id is None:
            raise DomainError(_l("An offered call needs its queue."), "queue_id")
        if not patient_ref and caller_number:
            patient_ref = caller_patient_ref(caller_number)
        contact, created = services.offer_contact(
            queue_id=queue_id,
            patient_ref=patient_ref or "",
            external_id=external_id,
            offered_at=occurred_at,
            source="telephony",
            source_key=_source_key(call_id, kind),
        )
        if not created:
            # A concurrent delivery of this same event committed between our look-up and the offer.
            if db.session.scalar(select(ContactEvent.id).where(ContactEvent.source_key == _source_key(call_id, kind))):
                return contact, False
            raise Conflict(_l("This call was already offered."), "call_id")
        return contact, True

    contact = services.find_contact_by_external_id(external_id)
    if contact is None:
        raise NotFound(_l("Unknown call: its offered event has not been received."))
    history = {event.kind: event for event in services.timeline(contact)}
    required = history.get(_REQUIRES[kind])
    if required is None:
        raise Conflict(_l("This event cannot happen before the call was answered."), "kind")
    if kind in _EXCLUDED_BY and _EXCLUDED_BY[kind] in history:
        raise Conflict(_l("This call was already answered or abandoned."), "kind")
    if occurred_at < required.occurred_at:
        raise DomainError(_l("Event times are out of order for this call."), "occurred_at")

    key = _source_key(call_id, kind)
    if kind == CallEvent.ANSWERED:
        services.set_status(contact, ContactStatus.ASSIGNED, at=occurred_at)
        contact.assigned_to_id = agent_id
        contact.assigned_at = occurred_at
        services.append_event(contact, EventKind.ANSWERED, actor_id=agent_id, at=occurred_at, source_key=key)
        services.record_first_response(contact, agent_id, at=occurred_at)
        if agent_id is not None:
            signals.contact_assigned.send(contact, agent_id=agent_id, at=occurred_at, how="answered")
    elif kind == CallEvent.ABANDONED:
        services.set_status(contact, ContactStatus.ABANDONED, at=occurred_at)
        contact.resolved_at = occurred_at
        contact.wait_seconds = services.exact_wait(contact.offered_at, occurred_at)
        services.append_event(
            contact,
            EventKind.ABANDONED,
            at=occurred_at,
            source_key=key,
            waited_seconds=int((occurred_at - contact.offered_at).total_seconds()),
        )
    else:
        talk_seconds = int((occurred_at - required.occurred_at).total_seconds())
        services.append_event(
            contact, EventKind.ENDED, actor_id=agent_id, at=occurred_at, source_key=key, talk_seconds=talk_seconds
        )
        # Talk time is billed per started minute, answered → ended; keyed by call, so a replay bills nothing.
        record_usage(
            kind=UsageKind.TALK_MINUTES,
            quantity=-(-talk_seconds // 60),
            occurred_at=occurred_at,
            source_key=f"{key}:talk",
        )
    return contact, True


def caller_patient_ref(number: str) -> str:
    """The patient reference of a caller: the current clinic's one patient with this E.164 number, else a
    pseudonym (HMAC of clinic and number under SECRET_KEY) that is the same for every call from it."""
    if not E164_PATTERN.match(number or ""):
        raise DomainError(_l("The caller's number must be in E.164 form, e.g. +4930123456."), "caller_number")
    return reference_for_phone(number) or pseudonym("tel", number)


def check_call_agent(agent_id: int | None) -> None:
    """An agent named by the telephony platform must be an agent of the current clinic."""
    if agent_id is None:
        return
    if agent_id not in {agent.id for agent in services.tenant_agents(current_tenant_id())}:
        raise DomainError(_l("Unknown agent: choose an agent of this clinic."), "agent_id")
