"""Waiting on the patient pauses the SLA timers, and every way out of the pause ends it."""

from datetime import timedelta

import pytest

from app.extensions import db
from app.hotline.models import Channel, Contact, ContactStatus, Topic
from app.sla import services as sla
from app.tenancy import tenant_context

PAUSE = timedelta(hours=2)


@pytest.fixture
def paused_mail(app, login_as, two_tenants, create_queue, create_contact, set_languages):
    """An e-mail, claimed by clinic A's agent, waiting on the patient for the last two hours (calendar clock)."""
    a = two_tenants.a
    mail = create_queue(a.id, "Mail EN", channel=Channel.EMAIL, topic=Topic.TEST_RESULTS, target_seconds=3600)
    other = create_queue(a.id, "Mail DE", channel=Channel.EMAIL, topic=Topic.TEST_RESULTS, language="de")
    set_languages(a.agent, "en", "de")
    with app.app_context(), tenant_context(a.id):
        sla.save_policy(
            None,
            name="Mail 4h",
            service_level_percent=80,
            answer_within_seconds=20,
            channel=Channel.EMAIL,
            first_response_seconds=4 * 3600,
            resolution_seconds=8 * 3600,
            pause_while_waiting_on_patient=True,
        )
        db.session.commit()
    contact_id = create_contact(a.id, mail)
    browser = login_as(a.agent)
    assert browser.post(f"/t/{a.slug}/workspace/next").status_code == 302
    assert browser.post(f"/t/{a.slug}/contacts/{contact_id}/wait").status_code == 302
    with app.app_context(), tenant_context(a.id):
        contact = db.session.get(Contact, contact_id)
        contact.waiting_on_patient_since -= PAUSE  # the patient took two hours to answer
        due = (contact.due_at, contact.resolution_due_at)
        db.session.commit()
    return browser, f"/t/{a.slug}/contacts/{contact_id}", contact_id, due, other


def _contact(app, tenant_id, contact_id) -> Contact:
    with app.app_context(), tenant_context(tenant_id):
        contact = db.session.get(Contact, contact_id)
        db.session.expunge(contact)
        return contact


@pytest.mark.parametrize("action", ["resume", "resolve", "release", "transfer"])
def test_every_way_out_of_a_pause_moves_the_due_times_by_it(app, two_tenants, paused_mail, action):
    browser, base, contact_id, (due, resolution_due), other_queue = paused_mail
    requests = {
        "resume": (f"{base}/resume", None),
        "resolve": (f"{base}/resolve", {"disposition": "information_given", "topic": "test_results"}),
        "release": (f"{base}/release", None),
        "transfer": (f"{base}/transfer", {"queue_id": str(other_queue), "language": "de"}),
    }
    url, form = requests[action]
    assert browser.post(url, form).status_code in (302, 303)
    contact = _contact(app, two_tenants.a.id, contact_id)
    assert contact.status != ContactStatus.WAITING_ON_PATIENT and contact.waiting_on_patient_since is None
    # Calendar clock: the two hours waited (plus the seconds the request took) are added once.
    assert PAUSE <= contact.resolution_due_at - resolution_due < PAUSE + timedelta(minutes=1)
    assert PAUSE <= contact.due_at - due < PAUSE + timedelta(minutes=1)


def test_a_ticket_resolved_while_waiting_on_the_patient_is_judged_with_its_last_pause(app, two_tenants, paused_mail):
    """Resolved 9 h of calendar time after the offer, the last 2 h waiting: 7 h of the 8 h target, met."""
    browser, base, contact_id, _due, _other = paused_mail
    with app.app_context(), tenant_context(two_tenants.a.id):
        contact = db.session.get(Contact, contact_id)
        contact.offered_at -= timedelta(hours=9)
        contact.resolution_due_at -= timedelta(hours=9)  # due an hour ago, if the pause did not count
        db.session.commit()
    assert (
        browser.post(f"{base}/resolve", {"disposition": "information_given", "topic": "test_results"}).status_code
        == 302
    )
    contact = _contact(app, two_tenants.a.id, contact_id)
    assert contact.status == ContactStatus.RESOLVED and contact.resolved_at <= contact.resolution_due_at
