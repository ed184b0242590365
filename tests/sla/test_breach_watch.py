"""The breach watch through a real RQ worker: warn once, breach once, mail supervisors once, per clinic."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db, redis_connection
from app.jobs import get_queue
from app.sla import alerts
from app.sla.jobs import schedule_breach_watch
from app.sla.models import AlertKind, SlaAlert
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker


def _work(app):
    with app.app_context():
        BurstWorker([get_queue("default")], connection=redis_connection()).work(burst=True)


def _alerts(app, tenant_id):
    with app.app_context(), tenant_context(tenant_id):
        return sorted((a.contact_id, a.kind.value) for a in db.session.scalars(select(SlaAlert)))


def test_watch_warns_then_breaches_and_mails_each_once(app, two_tenants, create_queue, create_contact, mailbox):
    a, b = two_tenants.a, two_tenants.b
    # Targets of an hour: the clock keeps running through the test, and a worker stalled a minute on a
    # busy machine must not age the fresh contact into its warning (CI once saw exactly that with 100 s).
    queue = create_queue(a.id, "Phone EN", target_seconds=3600)
    warned = create_contact(a.id, queue, age_seconds=3060)  # 85 % of the hour: warning only
    breached = create_contact(a.id, queue, age_seconds=5400)  # past due: warning and breach
    fresh = create_contact(a.id, queue, age_seconds=10)  # nothing yet, and not for 48 minutes
    create_contact(b.id, create_queue(b.id, "B line", target_seconds=3600), age_seconds=18000)

    with app.app_context():
        assert schedule_breach_watch() == 2
        assert schedule_breach_watch() == 0  # still queued: scheduling twice schedules once
    _work(app)

    assert _alerts(app, a.id) == sorted([(warned, "warning"), (breached, "warning"), (breached, "breach")])
    a_mail = [m for m in mailbox if "Clinic A" in m["Subject"]]
    assert {m["To"] for m in a_mail} == {"manager-a@example.test", "supervisor-a@example.test"}
    body = a_mail[0].get_content()
    assert f"contact {breached}" in body and "Phone EN" in body
    assert "P-1" not in body  # no patient reference in e-mails
    assert all("B line" not in m.get_content() for m in a_mail)

    # A second run raises nothing new and sends nothing new.
    sent = len(mailbox)
    with app.app_context():
        schedule_breach_watch()
    _work(app)
    assert len(mailbox) == sent
    assert len(_alerts(app, a.id)) == 3
    assert (fresh, "warning") not in _alerts(app, a.id)


def test_answered_and_paused_contacts_are_not_watched(app, two_tenants, create_queue, create_contact):
    from app.hotline import services as hotline
    from app.hotline.models import Contact

    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN", target_seconds=60)
    answered = create_contact(a.id, queue, age_seconds=300)
    with app.app_context(), tenant_context(a.id):
        hotline.record_first_response(db.session.get(Contact, answered), a.agent)
        db.session.commit()
        assert alerts.raise_alerts() == []


def test_alerts_are_raised_at_the_policy_warning_share(app, two_tenants, create_queue, create_contact):
    from app.sla import services as sla

    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN")
    with app.app_context(), tenant_context(a.id):
        sla.save_policy(
            None, name="Warn at half", service_level_percent=80, answer_within_seconds=100, warn_at_percent=50
        )
        db.session.commit()
    contact = create_contact(a.id, queue, age_seconds=55)
    with app.app_context(), tenant_context(a.id):
        raised = alerts.raise_alerts(datetime.now(UTC) + timedelta(seconds=1))
        assert [(r.contact_id, r.kind) for r in raised] == [(contact, AlertKind.WARNING)]


def test_supervisor_page_lists_the_clinics_sla_alerts_and_none_of_another(
    app, two_tenants, create_queue, create_contact, login_as
):
    # The hotline's page shows what the SLA domain above it contributes (app/hotline/signals.py).
    a, b = two_tenants.a, two_tenants.b
    breached = create_contact(a.id, create_queue(a.id, "Phone EN", target_seconds=100), age_seconds=150)
    foreign = create_contact(b.id, create_queue(b.id, "B line", target_seconds=100), age_seconds=150)
    for tenant_id in (a.id, b.id):
        with app.app_context(), tenant_context(tenant_id):
            alerts.raise_alerts()
            db.session.commit()

    page = login_as(a.supervisor).get(f"/t/{a.slug}/supervisor").get_data(as_text=True)
    assert f"Contact {breached}" in page and "Breach" in page
    assert f"Contact {foreign}<" not in page and "No SLA warnings or breaches recorded." not in page
