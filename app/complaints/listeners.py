"""How the register listens to the hotline below it (app/hotline/signals.py); the factory connects it once.

- `complaint_flagged`: a contact flagged as a complaint opens a register entry linked to it
  (`services.open_from_flagged_contact`, in the flag's transaction).
- `contacts_shown`: the contacts a page shows get `complaint_ids` (contact id → the newest complaint the
  viewer may see), which the contact page links to.
"""

from flask_login import current_user

from app.complaints import services
from app.hotline import signals


def _on_complaint_flagged(contact, *, actor_id, reason, at, **_extra) -> None:
    services.open_from_flagged_contact(contact, actor_id=actor_id, reason=reason, at=at)


def _on_contacts_shown(contacts, **_extra) -> dict:
    # The page's viewer decides which complaints may be linked (agents: their own).
    return {"complaint_ids": services.complaints_of_contacts([c.id for c in contacts or ()], current_user)}


def listen_to_hotline() -> None:
    """Connect the register to the hotline's signals (called once by the factory)."""
    signals.complaint_flagged.connect(_on_complaint_flagged, weak=False)
    signals.contacts_shown.connect(_on_contacts_shown, weak=False)
