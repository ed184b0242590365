"""A clinic's inbound addresses (set up by its managers) and the log of mail its addresses refused.

The rules an address must satisfy, whichever form, command or import saves it:
- a valid e-mail address, stored lower-case (mail systems compare domains without case, and nearly all
  compare local parts without case too; the gateway looks recipients up lower-cased);
- no plus part: replies go out from `address+<reply token>@domain`, so whatever follows a `+` is the
  gateway's to read, never part of a configured address;
- unique across clinics: the gateway finds the clinic by the recipient alone. Another clinic's rows are
  invisible here (tenant scoping and row-level security), so the database's unique constraint decides,
  inside a savepoint; the refusal never says which clinic holds the address;
- the queue is one of this clinic's e-mail queues (a contact takes its channel from its queue, and an agent
  answers an e-mail by e-mail); the reopen window lies within 0 … 8760 hours (a year); the display
  name (a header value on replies) has at most 120 characters and no control character.
"""

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.control_characters import refuse_control_characters
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Queue
from app.i18n import _l
from app.mailroom.models import DEFAULT_REOPEN_HOURS, InboundAddress, RejectedMail

MAX_REOPEN_HOURS = 8760  # a year; the table's check constraint says the same
MAX_DISPLAY_NAME = 120
REJECTED_PER_PAGE = 50
_ADDRESS_UNIQUE = "uq_inbound_addresses_address"


def addresses() -> list[InboundAddress]:
    """The current clinic's inbound addresses, alphabetically."""
    return list(db.session.scalars(select(InboundAddress).order_by(InboundAddress.address)))


def email_queues() -> list[Queue]:
    """The current clinic's queues an address may deliver into: e-mail ones."""
    return [queue for queue in hotline.queues() if queue.channel == Channel.EMAIL]


def get_address(address_id: int) -> InboundAddress:
    """One of the current clinic's addresses; NotFound for any other id (another clinic's included)."""
    found = db.session.scalar(select(InboundAddress).where(InboundAddress.id == address_id))
    if found is None:
        raise NotFound(_l("This inbound address does not exist."))
    return found


def normalise_address(text: str | None) -> str:
    """The address as stored: valid, lower-case, without a plus part; DomainError on `address` otherwise."""
    text = (text or "").strip()
    if not text:
        raise DomainError(_l("Enter an e-mail address."), "address")
    refuse_control_characters(text, "address", _l("Address"))
    try:
        address = validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise DomainError(_l("Enter a valid e-mail address, e.g. appointments@clinic.example."), "address") from None
    if "+" in address.rsplit("@", 1)[0]:
        raise DomainError(
            _l(
                "Enter the address without a “+” part: replies go out as address+token@domain, "
                "so the part after “+” is reserved for reply tokens."
            ),
            "address",
        )
    return address


def save_address(
    inbound: InboundAddress | None,
    *,
    address: str,
    queue_id: int | None,
    display_name: str | None = None,
    reopen_hours: int | None = DEFAULT_REOPEN_HOURS,
) -> InboundAddress:
    """Create (`inbound` None) or change an inbound address of the current clinic.

    The rules are the module's; a refusal raises DomainError naming the field and writes nothing.
    """
    address = normalise_address(address)
    if queue_id is None or queue_id not in {queue.id for queue in email_queues()}:
        raise DomainError(_l("Choose an e-mail queue of this clinic."), "queue_id")
    if reopen_hours is None or not 0 <= reopen_hours <= MAX_REOPEN_HOURS:
        raise DomainError(
            _l("Enter a number of hours from 0 to %(max)s (a year).", max=MAX_REOPEN_HOURS), "reopen_hours"
        )
    display_name = (display_name or "").strip() or None
    if display_name is not None:
        refuse_control_characters(display_name, "display_name", _l("Display name"))
        if len(display_name) > MAX_DISPLAY_NAME:
            raise DomainError(_l("Use at most %(n)s characters.", n=MAX_DISPLAY_NAME), "display_name")
    values = {"address": address, "queue_id": queue_id, "display_name": display_name, "reopen_hours": reopen_hours}
    return _write_unique(inbound, values)


def _write_unique(inbound: InboundAddress | None, values: dict) -> InboundAddress:
    """Write the address now, inside a savepoint, so that one held by any clinic is refused here (and
    rolled back alone: a new row dropped, a changed one re-read) rather than failing the commit."""
    try:
        with db.session.begin_nested():
            if inbound is None:
                inbound = InboundAddress()
                db.session.add(inbound)
            for name, value in values.items():
                setattr(inbound, name, value)
            db.session.flush()
    except IntegrityError as error:
        if _ADDRESS_UNIQUE not in str(error.orig):
            raise
        raise Conflict(_l("This address is already in use."), "address") from None
    return inbound


def delete_address(address_id: int) -> None:
    """Delete one of the current clinic's addresses: mail to it is refused by the gateway from then on."""
    db.session.delete(get_address(address_id))


def rejected_mails(page: int = 1, *, per_page: int = REJECTED_PER_PAGE) -> tuple[list[RejectedMail], int]:
    """One page of the current clinic's refused mail, newest first, and how many there are in all."""
    total = db.session.scalar(select(func.count(RejectedMail.id)))
    rows = db.session.scalars(
        select(RejectedMail)
        .order_by(RejectedMail.received_at.desc(), RejectedMail.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def listen_to_hotline() -> None:
    """Tell the hotline what an inbound address pointing at a queue means to a manager deleting it."""
    hotline.name_queue_reference(
        InboundAddress.__tablename__,
        _l("An inbound e-mail address still receives mail into this queue: move or delete it first."),
    )
