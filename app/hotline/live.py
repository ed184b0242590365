"""Live updates of the desk: every committed change of a contact is announced on its clinic's channel.

Rule: one `after_flush` listener sees every contact, event, note and message the ORM writes, so no
service has to remember to announce its change, and `push.publish_after_commit` sends the news only
once the transaction commits (a rolled-back change announces nothing). What it announces on
`push.clinic_channel(tenant)`:

- `{"kind": "contact", "id": <contact id>}` for a contact created, changed or deleted, or one whose
  events, notes or messages were written;
- `{"kind": "queue", "id": <queue id>}` for each queue whose counts may have changed: a contact
  entered or left it, or changed status or due time in it (waiting, in progress, next breach).

Kinds and ids only: a page that hears of contact 42 asks for its own view of it, through its own rules.
The one write the ORM does not see is the claim (one SQL statement for speed): `claim_next_contact`
announces it with `announce_contact`. Bulk purges (retention, offboarding) touch closed contacts that no
live page counts, and announce nothing.
"""

from itertools import chain

from sqlalchemy import event, inspect

from app import push
from app.hotline.models import Contact, ContactEvent, ContactMessage, ContactNote

# A change of these columns moves a contact between a queue's counts, or changes its next breach.
_COUNTED = ("status", "queue_id", "due_at")
_CHILDREN = (ContactEvent, ContactNote, ContactMessage)


def announce_contact(session, tenant_id: int, contact_id: int, *queue_ids: int) -> None:
    """Announce, after the commit, that a contact changed (and the counts of `queue_ids` with it)."""
    channel = push.clinic_channel(tenant_id)
    push.publish_after_commit(session, channel, {"kind": "contact", "id": contact_id})
    for queue_id in queue_ids:
        push.publish_after_commit(session, channel, {"kind": "queue", "id": queue_id})


def _queues_changed(contact: Contact, *, created_or_deleted: bool) -> list[int]:
    """The queues whose counts a change of `contact` moves: its queue (and the one it left) when it came,
    went, or changed a counted column; none for a change no count shows (a subject, a complaint)."""
    if created_or_deleted:
        return [contact.queue_id]
    state = inspect(contact)
    if not any(state.attrs[name].history.has_changes() for name in _COUNTED):
        return []
    return sorted({contact.queue_id, *state.attrs.queue_id.history.deleted} - {None})


def _announce(session, _flush_context) -> None:
    # After the flush, before its bookkeeping is reset: new rows have their ids, and the attributes
    # still hold what this flush changed.
    for instance in chain(session.new, session.deleted, session.dirty):
        if isinstance(instance, Contact):
            whole = instance in session.new or instance in session.deleted
            if not whole and not session.is_modified(instance, include_collections=False):
                continue
            queues = _queues_changed(instance, created_or_deleted=whole)
            announce_contact(session, instance.tenant_id, instance.id, *queues)
        elif isinstance(instance, _CHILDREN):
            announce_contact(session, instance.tenant_id, instance.contact_id)


def install_contact_announcements(session_class) -> None:
    """Listen to every flush of `session_class` (the application's sessions) once."""
    event.listen(session_class, "after_flush", _announce)
