"""Chats in the audit trail: an agent reading a chat's transcript is "who saw what" like reading a contact, and the
clinic's widget settings are recorded like every other clinic setting."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.chat.models import ChatWidget
from app.extensions import db
from app.hotline.models import Channel
from app.tenancy import tenant_context
from tests.compliance.test_audit import CLIENT_IP, _login_from_ip
from tests.compliance.test_setting_audit import _last_event_id, _setting_events


def _views(app, tenant_id: int) -> list[AuditEvent]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "contact.viewed").order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def handed_over(two_tenants, create_queue, create_chat_session):
    for clinic in (two_tenants.a, two_tenants.b):
        queue = create_queue(clinic.id, "Chat EN", channel=Channel.CHAT)
        clinic["chat"], _token, clinic["contact"] = create_chat_session(clinic.id, queue, patient_ref="PAT-CHAT")
    return two_tenants


@pytest.mark.tenant_isolation
def test_the_desks_chat_panel_records_who_read_the_transcript_like_a_contact_page(app, handed_over):
    """The desk's chat panel (/t/<slug>/chats/<contact id>/panel) records its view as the contact page does."""
    a, b = handed_over.a, handed_over.b
    response = _login_from_ip(app, a.agent).get(f"/t/{a.slug}/chats/{a.contact}/panel")
    assert response.status_code == 200
    [event] = _views(app, a.id)
    assert (event.object_type, event.object_id) == ("contact", str(a.contact))
    assert (event.actor_id, event.ip_address) == (a.agent, CLIENT_IP)
    # Another clinic's chat is not found, and nothing is recorded in either clinic.
    assert _login_from_ip(app, a.agent).get(f"/t/{a.slug}/chats/{b.contact}/panel").status_code == 404
    assert len(_views(app, a.id)) == 1 and _views(app, b.id) == []


@pytest.mark.tenant_isolation
def test_widget_settings_changes_are_recorded_with_the_fields_never_the_values(app, two_tenants, create_chat_widget):
    a, b = two_tenants.a, two_tenants.b
    mark = _last_event_id(app)
    create_chat_widget(a.id, origins=("https://www.clinic-a.example",))
    with app.app_context(), tenant_context(a.id):
        widget = db.session.scalar(select(ChatWidget))
        widget_id = widget.id
        # A JSON column is saved (and audited) when it is assigned a new list, not when the old one is mutated.
        widget.allowed_origins = [*widget.allowed_origins, "https://booking.clinic-a.example"]
        widget.enabled = False
        db.session.commit()
        db.session.delete(db.session.get(ChatWidget, widget_id))
        db.session.commit()
    created, updated, deleted = _setting_events(app, a.id, mark)
    assert {e.object_type for e in (created, updated, deleted)} == {"chat_widget"}
    assert {e.object_id for e in (created, updated, deleted)} == {str(widget_id)}
    assert [e.details for e in (created, updated, deleted)] == [
        {"change": "created"},
        {"change": "updated", "fields": ["allowed_origins", "enabled"]},
        {"change": "deleted"},
    ]
    assert "clinic-a.example" not in str(updated.details)
    assert _setting_events(app, b.id, mark) == []
