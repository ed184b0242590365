"""A strongly negative message on a waiting contact raises its priority once, flags it for the supervisor and is
audited; the supervisor sees the flag and the daily trend of their own clinic only."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from app.audit.models import AuditEvent
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, ContactStatus
from app.sentiment import services as sentiment
from app.sentiment.models import MessageSentiment
from app.tenancy import tenant_context
from tests.mailroom.world import make_mail, send
from tests.sentiment.conftest import run_worker, sentiments_of

FURIOUS = "This is unacceptable! Nobody answers and the receptionist was extremely rude."
MILD = "Unfortunately the way to the parking was a bit confusing."
HAPPY = "Thank you so much, the nurse was wonderful."


def _say(app, tenant_id: int, contact_id: int, words: str, *, language="en", at: datetime | None = None) -> None:
    """A patient message on the contact, asked for as the chat asks for it (the chat's own tests cover HTTP)."""
    with app.app_context(), tenant_context(tenant_id):
        contact = db.session.get(Contact, contact_id)
        sentiment.request_label("chat", None, words, language, contact_id=contact.id, queue_id=contact.queue_id, at=at)
        db.session.commit()


def _contact(app, tenant_id: int, contact_id: int) -> Contact:
    with app.app_context(), tenant_context(tenant_id):
        contact = db.session.get(Contact, contact_id)
        db.session.expunge(contact)
        return contact


def _alert_events(app, tenant_id: int) -> list[AuditEvent]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sentiment.alert_raised")).all()
        db.session.expunge_all()
        return rows


def test_a_furious_mail_on_a_waiting_contact_raises_priority_flags_and_audits(app, mail_world, gateway, login_as):
    a = mail_world.a
    send(gateway, make_mail(subject="Complaint", text=FURIOUS))
    run_worker(app)

    [row] = sentiments_of(app, a.id)
    contact = _contact(app, a.id, row.contact_id)
    assert row.score <= app.config["SENTIMENT_ALERT_SCORE"] and row.alerted_at is not None
    assert (contact.status, contact.priority) == (ContactStatus.WAITING, 4)  # the queue's 3, raised by one
    [event] = _alert_events(app, a.id)
    assert (event.object_type, event.object_id, event.actor_id) == ("contact", str(contact.id), None)
    assert event.details == {"message_sentiment_id": row.id, "source": "email", "priority": 4}
    assert "rude" not in str(event.details)

    page = login_as(a.supervisor).get(f"/t/{a.slug}/supervisor", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="sentiment-flag"' in html and "Unhappy patient" in html
    assert "Patient sentiment, last 7 days" in html and "100 %" in html

    other = login_as(mail_world.b.supervisor).get(f"/t/{mail_world.b.slug}/supervisor").get_data(as_text=True)
    assert "sentiment-flag" not in other and "No patient messages labelled in the last 7 days." in other
    assert _alert_events(app, mail_world.b.id) == []


def test_only_a_strongly_negative_message_alerts(app, two_tenants, create_queue, create_contact):
    a = two_tenants.a
    queue = create_queue(a.id, "Chat", channel=Channel.CHAT)
    mild, happy = create_contact(a.id, queue), create_contact(a.id, queue, patient_ref="P-2")
    _say(app, a.id, mild, MILD)
    _say(app, a.id, happy, HAPPY)
    run_worker(app)
    labels = {r.contact_id: (r.label, r.alerted_at) for r in sentiments_of(app, a.id)}
    assert labels[mild][0] == "negative" and labels[happy] == ("positive", None)
    # Negative, but above the threshold: labelled, not alerted.
    assert labels[mild][1] is None
    assert [_contact(app, a.id, c).priority for c in (mild, happy)] == [3, 3]
    assert _alert_events(app, a.id) == []


def test_the_priority_is_raised_once_per_contact_and_never_past_5(app, two_tenants, create_queue, create_contact):
    a = two_tenants.a
    queue = create_queue(a.id, "Chat", channel=Channel.CHAT)
    contact = create_contact(a.id, queue)
    urgent = create_contact(a.id, queue, patient_ref="P-2", priority=5)
    for _ in range(2):
        _say(app, a.id, contact, FURIOUS)
    _say(app, a.id, urgent, FURIOUS)
    run_worker(app)
    assert _contact(app, a.id, contact).priority == 4
    assert _contact(app, a.id, urgent).priority == 5
    # Every strongly negative message is flagged and audited; the priority moved once.
    assert all(r.alerted_at is not None for r in sentiments_of(app, a.id))
    assert len(_alert_events(app, a.id)) == 3


def test_a_contact_no_longer_waiting_is_not_raised(app, two_tenants, create_queue, create_contact, set_languages):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Chat", channel=Channel.CHAT)
    contact = create_contact(a.id, queue)
    with app.app_context(), tenant_context(a.id):
        assert hotline.claim_next_contact(a.agent) == contact
        db.session.commit()
    _say(app, a.id, contact, FURIOUS)
    run_worker(app)
    [row] = sentiments_of(app, a.id)
    assert row.label == "negative" and row.alerted_at is None
    assert _contact(app, a.id, contact).priority == 3


def test_the_raised_contact_is_claimed_before_one_due_at_the_same_time(
    app, two_tenants, create_queue, create_contact, set_languages
):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Chat", channel=Channel.CHAT, target_seconds=60)
    calm = create_contact(a.id, queue, age_seconds=10)
    upset = create_contact(a.id, queue, patient_ref="P-2")
    with app.app_context(), tenant_context(a.id):
        db.session.get(Contact, upset).due_at = db.session.get(Contact, calm).due_at
        db.session.commit()
    _say(app, a.id, upset, FURIOUS)
    run_worker(app)
    with app.app_context(), tenant_context(a.id):
        assert hotline.claim_next_contact(a.agent) == upset
        db.session.commit()


def test_daily_shares_per_day_and_queue_in_the_clinics_time_zone(app, two_tenants, create_queue, create_contact):
    a = two_tenants.a
    queue = create_queue(a.id, "Chat", channel=Channel.CHAT)
    contact = create_contact(a.id, queue)
    day = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    for words, language, at in [
        (FURIOUS, "en", day),
        (HAPPY, "en", day + timedelta(hours=1)),
        (HAPPY, "en", day + timedelta(hours=2)),
        ("Can I move my appointment to Friday?", "en", day + timedelta(hours=3)),
        (HAPPY, "en", day - timedelta(hours=13)),  # 23:00 UTC the day before: already the 10th in Berlin
        ("Grazie mille, tutto perfetto", "it", day),  # a language we do not read: left out of the shares
    ]:
        _say(app, a.id, contact, words, language=language, at=at)
    run_worker(app)
    with app.app_context(), tenant_context(a.id):
        berlin = sentiment.daily_shares(days=2, time_zone="Europe/Berlin", until=day + timedelta(hours=6))
        utc = sentiment.daily_shares(days=2, time_zone="UTC", until=day + timedelta(hours=6))
    [share] = berlin
    assert (share.day.isoformat(), share.queue_id, share.total) == ("2026-03-10", queue, 5)
    assert (share.negative, share.neutral, share.positive) == (0.2, 0.2, 0.6)
    assert [(s.day.isoformat(), s.total) for s in utc] == [("2026-03-10", 4), ("2026-03-09", 1)]
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert sentiment.daily_shares(days=30, time_zone="UTC", until=day + timedelta(days=1)) == []


def test_clinic_b_reads_no_label_of_clinic_a_even_without_the_orm_filter(
    app, two_tenants, create_queue, create_contact
):
    a, b = two_tenants.a, two_tenants.b
    contact = create_contact(a.id, create_queue(a.id, "Chat", channel=Channel.CHAT))
    _say(app, a.id, contact, FURIOUS)
    run_worker(app)
    with app.app_context(), tenant_context(b.id):
        assert db.session.execute(text("SELECT count(*) FROM message_sentiments")).scalar_one() == 0
        assert sentiment.flagged_contacts([contact]) == {}
        assert db.session.get(MessageSentiment, 1) is None
    with app.app_context(), tenant_context(a.id):
        assert db.session.execute(text("SELECT count(*) FROM message_sentiments")).scalar_one() == 1
        assert set(sentiment.flagged_contacts([contact])) == {contact}
