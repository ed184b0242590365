"""What changed since a page was drawn: the cursors that open pages poll to learn of new activity.

A cursor is an opaque string of whole numbers that changes whenever anything its page shows changes.
A page is drawn with the cursor of that moment; its script asks every few seconds whether the
current cursor still equals it, and offers a reload when it does not (push comes in a later issue).
Comparing for equality, not order, also notices things that went away (a contact resolved, a note
deleted). Cursors carry ids, counts and times only: never anything about a patient.

- A contact's cursor: its latest event, note and message ids, the latest change of a message (a
  delivery status) and of the contact itself (status, assignee, due times).
- A list's cursor: how many open contacts it holds, the newest of them, and the latest change of any
  of them; the agent's own list counts the contacts assigned to them.
"""

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.hotline.models import Contact, ContactEvent, ContactMessage, ContactNote
from app.hotline.services import OPEN_STATUSES
from app.i18n import _l
from app.input_rules import BadInput

# Three (a list's) or five (a contact's) dot-separated whole numbers, each within PostgreSQL's bigint (19 digits).
_CURSOR = re.compile(r"\d{1,19}(?:\.\d{1,19}){2}(?:(?:\.\d{1,19}){2})?")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime | None) -> int:
    """A moment as whole microseconds since 1970 (exact: no float on the way); none is 0."""
    return 0 if moment is None else (moment - _EPOCH) // timedelta(microseconds=1)


def parse_cursor(value: str | None) -> str | None:
    """The cursor a page was drawn with, checked; None when there is none (the first poll).

    Rule: a cursor is what `contact_cursor` or `list_cursor` made; anything else is bad input.
    """
    if value is None:
        return None
    if not _CURSOR.fullmatch(value):
        raise BadInput(_l("This activity cursor is not valid. Reload the page."), "after")
    return value


def contact_cursor(contact: Contact) -> str:
    """The cursor of a contact's page: changes with every event, note, message or change of the contact."""
    events = select(func.coalesce(func.max(ContactEvent.id), 0)).where(ContactEvent.contact_id == contact.id)
    notes = select(func.coalesce(func.max(ContactNote.id), 0)).where(ContactNote.contact_id == contact.id)
    messages = select(func.max(ContactMessage.id), func.max(ContactMessage.updated_at)).where(
        ContactMessage.contact_id == contact.id
    )
    event_id = db.session.scalar(events)
    note_id = db.session.scalar(notes)
    message_id, message_changed = db.session.execute(messages).one()
    changed = db.session.scalar(select(Contact.updated_at).where(Contact.id == contact.id))
    return ".".join(
        str(part) for part in (event_id, note_id, message_id or 0, _micros(message_changed), _micros(changed))
    )


def list_cursor(agent_id: int | None = None) -> str:
    """The cursor of a list of open contacts: the agent's own (`agent_id`), else all of the clinic's."""
    query = select(func.count(), func.coalesce(func.max(Contact.id), 0), func.max(Contact.updated_at)).where(
        Contact.status.in_(OPEN_STATUSES)
    )
    if agent_id is not None:
        query = query.where(Contact.assigned_to_id == agent_id)
    count, newest, changed = db.session.execute(query).one()
    return f"{count}.{newest}.{_micros(changed)}"
