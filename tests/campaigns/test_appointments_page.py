"""The appointments page: list and filters, outcomes, roles, isolation, and the no-show rates."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from app.campaigns.models import Campaign, CampaignKind, CampaignStep, MessageStatus, OutboundMessage
from app.campaigns.no_shows import month_starts, no_show_rates
from app.extensions import db
from app.patients.models import Appointment, AppointmentStatus, MessageChannel
from app.tenancy import tenant_context

BERLIN = ZoneInfo("Europe/Berlin")


def _page(browser, slug, **query):
    return browser.get(f"/t/{slug}/appointments/", query_string=query, headers={"Accept-Language": "en"})


@pytest.mark.parametrize("role", ["manager", "clinic_admin", "supervisor"])
def test_people_of_the_clinic_see_its_appointments(login_as, two_tenants, create_patient, create_appointment, role):
    a, b = two_tenants.a, two_tenants.b
    create_appointment(a.id, create_patient(a.id, "P-A"), external_id="APPT-OF-A")
    create_appointment(b.id, create_patient(b.id, "P-B"), external_id="APPT-OF-B")
    page = _page(login_as(a[role]), a.slug)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "APPT-OF-A" in body and "P-A" in body
    assert "APPT-OF-B" not in body and "P-B" not in body
    assert 'id="no-show-chart"' in body and "js/appointment-charts.js" in body
    assert "<script>" not in body  # the chart's data travels in a data attribute (CSP)
    assert f'href="/t/{a.slug}/appointments/"' in body  # the navigation links here


def test_agents_do_not_see_appointments(login_as, two_tenants):
    a = two_tenants.a
    browser = login_as(a.agent)
    assert _page(browser, a.slug).status_code == 403
    assert "/appointments/" not in browser.get(f"/t/{a.slug}/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["manager", "clinic_admin", "supervisor", "agent"])
@pytest.mark.tenant_isolation
def test_clinic_b_people_get_404_for_clinic_a(
    login_as, two_tenants, create_patient, create_appointment, owner_engine, role
):
    a, b = two_tenants.a, two_tenants.b
    appointment = create_appointment(a.id, create_patient(a.id), starts_in=-timedelta(hours=1))
    browser = login_as(b[role])
    assert _page(browser, a.slug).status_code == 404
    assert browser.post(f"/t/{a.slug}/appointments/{appointment}/outcome", {"outcome": "no_show"}).status_code == 404
    # Through their own clinic's address, A's appointment id does not exist either.
    if role in ("manager", "clinic_admin"):
        assert (
            browser.post(f"/t/{b.slug}/appointments/{appointment}/outcome", {"outcome": "no_show"}).status_code == 404
        )
    with owner_engine.connect() as conn:
        assert (
            conn.execute(text("SELECT status FROM appointments WHERE id = :id"), {"id": appointment}).scalar_one()
            == "scheduled"
        )


def test_filters_and_pages(login_as, two_tenants, create_patient, create_appointment):
    a = two_tenants.a
    patient = create_patient(a.id)
    for n in range(55):
        create_appointment(
            a.id,
            patient,
            external_id=f"X-{n:02d}",
            starts_in=timedelta(days=1, minutes=n),
            location="Annex" if n % 5 == 0 else "Main building",
        )
    create_appointment(a.id, patient, external_id="LATER", starts_in=timedelta(days=20), practitioner="Dr. Roth")
    browser = login_as(a.manager)
    first = _page(browser, a.slug).get_data(as_text=True)
    assert "56 appointments" in first and "Page 1 of 2" in first and "X-49" in first and "X-50" not in first
    second = _page(browser, a.slug, page=2).get_data(as_text=True)
    assert "X-50" in second and "LATER" in second and "X-49" not in second
    annex = _page(browser, a.slug, location="Annex").get_data(as_text=True)
    assert "11 appointments" in annex and "X-05" in annex and "X-01" not in annex
    roth = _page(browser, a.slug, practitioner="Dr. Roth").get_data(as_text=True)
    assert "1 appointment" in roth and "LATER" in roth
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).astimezone(BERLIN).date()
    window = _page(
        browser,
        a.slug,
        start=(tomorrow + timedelta(days=10)).isoformat(),
        end=(tomorrow + timedelta(days=30)).isoformat(),
    ).get_data(as_text=True)
    assert "1 appointment" in window and "LATER" in window
    assert "0 appointments" in _page(browser, a.slug, status="no_show").get_data(as_text=True)
    bad = _page(browser, a.slug, start="2030-05-02", end="2030-05-01")
    assert bad.status_code == 400 and "The end lies before the start." in bad.get_data(as_text=True)
    assert _page(browser, a.slug, status="lost").status_code == 400


def test_recording_an_outcome(login_as, two_tenants, create_patient, create_appointment, owner_engine):
    a = two_tenants.a
    patient = create_patient(a.id)
    past = create_appointment(a.id, patient, starts_in=-timedelta(hours=3), external_id="PAST")
    future = create_appointment(a.id, patient, starts_in=timedelta(days=3), external_id="FUTURE")
    browser = login_as(a.clinic_admin)
    done = browser.post(f"/t/{a.slug}/appointments/{past}/outcome", {"outcome": "no_show"})
    assert done.status_code == 302
    assert "Appointment PAST: No-show." in _page(browser, a.slug).get_data(as_text=True)
    early = browser.post(
        f"/t/{a.slug}/appointments/{future}/outcome", {"outcome": "attended"}, headers={"Accept-Language": "en"}
    )
    assert early.status_code == 409 and "has not begun yet" in early.get_data(as_text=True)
    assert browser.post(f"/t/{a.slug}/appointments/{future}/outcome", {"outcome": "lost"}).status_code == 400
    with owner_engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT external_id, status FROM appointments")).all())
        changed = conn.execute(
            text("SELECT status_changed_at FROM appointments WHERE id = :id"), {"id": past}
        ).scalar_one()
    assert rows == {"PAST": "no_show", "FUTURE": "scheduled"}
    assert changed > datetime.now(UTC) - timedelta(minutes=1)


def test_supervisors_may_not_record_outcomes(login_as, two_tenants, create_patient, create_appointment):
    a = two_tenants.a
    past = create_appointment(a.id, create_patient(a.id), starts_in=-timedelta(hours=3))
    browser = login_as(a.supervisor)
    assert 'name="outcome"' not in _page(browser, a.slug).get_data(as_text=True)
    assert browser.post(f"/t/{a.slug}/appointments/{past}/outcome", {"outcome": "no_show"}).status_code == 403


# --- no-show rates ------------------------------------------------------------------------------------


@pytest.fixture
def outbound(app):
    """`outbound(tenant_id, appointment_id, kind, status)`: one message of a campaign of that kind."""
    campaigns = {}

    def _send(tenant_id: int, appointment_id: int, kind: CampaignKind, status: MessageStatus) -> None:
        with app.app_context(), tenant_context(tenant_id):
            if (tenant_id, kind) not in campaigns:
                campaign = Campaign(name=f"{kind} campaign", kind=kind)
                db.session.add(campaign)
                db.session.flush()
                step = CampaignStep(campaign_id=campaign.id, offset_minutes=-1440, channel=MessageChannel.SMS)
                db.session.add(step)
                db.session.flush()
                campaigns[(tenant_id, kind)] = (campaign.id, step.id)
            campaign_id, step_id = campaigns[(tenant_id, kind)]
            appointment = db.session.get(Appointment, appointment_id)
            key = f"{step_id}:{appointment_id}:{status}"
            db.session.add(
                OutboundMessage(
                    campaign_id=campaign_id,
                    step_id=step_id,
                    appointment_id=appointment_id,
                    patient_id=appointment.patient_id,
                    channel=MessageChannel.SMS,
                    language="en",
                    dedupe_key=key,
                    token=key.ljust(43, "x")[:43],
                    status=status,
                    send_at=appointment.starts_at - timedelta(days=1),
                )
            )
            db.session.commit()

    return _send


def _at(tenant_id, patient, create_appointment, moment: datetime, status: AppointmentStatus, name: str) -> int:
    return create_appointment(tenant_id, patient, starts_in=moment - datetime.now(UTC), external_id=name, status=status)


def test_no_show_rates_per_month_with_and_without_reminders(
    app, login_as, two_tenants, create_patient, create_appointment, outbound
):
    a, b = two_tenants.a, two_tenants.b
    now = datetime.now(UTC)
    months = month_starts(6, "Europe/Berlin", now)
    last_month, two_ago, oldest = months[-2], months[-3], months[0]
    patient = create_patient(a.id)

    def local(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), BERLIN).astimezone(UTC)

    S = AppointmentStatus
    R, F = CampaignKind.REMINDER, CampaignKind.FOLLOW_UP
    plan = [
        # (name, when, outcome, messages)
        ("L1", local(last_month, 9), S.NO_SHOW, [(R, MessageStatus.SENT)]),
        ("L2", local(last_month, 10), S.ATTENDED, [(R, MessageStatus.DELIVERED)]),
        ("L3", local(last_month, 11), S.ATTENDED, [(R, MessageStatus.DELIVERED), (R, MessageStatus.FAILED)]),
        ("L4", local(last_month, 12), S.ATTENDED, [(R, MessageStatus.SENT)]),
        ("L5", local(last_month, 13), S.NO_SHOW, [(R, MessageStatus.FAILED)]),  # failed: not reminded
        ("L6", local(last_month, 14), S.NO_SHOW, [(F, MessageStatus.SENT)]),  # a follow-up is no reminder
        ("L7", local(last_month, 0, 30), S.ATTENDED, []),  # 00:30 local on the 1st is still the previous day in UTC
        ("L8", local(last_month, 15), S.CANCELLED, [(R, MessageStatus.SENT)]),  # cancelled: not counted
        ("L9", local(last_month, 16), S.SCHEDULED, []),  # no outcome: not counted
        ("T1", local(two_ago + timedelta(days=3), 9), S.NO_SHOW, []),
        ("T2", local(two_ago + timedelta(days=4), 9), S.NO_SHOW, [(R, MessageStatus.SENT)]),
        ("OLD", local(oldest, 0) - timedelta(hours=1), S.NO_SHOW, []),  # before the six months
    ]
    for name, when, outcome, messages in plan:
        appointment = _at(a.id, patient, create_appointment, when, outcome, name)
        for kind, status in messages:
            outbound(a.id, appointment, kind, status)
    # Clinic B's no-shows never count for A.
    patient_b = create_patient(b.id)
    for n in range(3):
        outbound(
            b.id,
            _at(b.id, patient_b, create_appointment, local(last_month, 9 + n), S.NO_SHOW, f"B{n}"),
            R,
            MessageStatus.SENT,
        )

    with app.app_context(), tenant_context(a.id):
        rates = {m.month: m for m in no_show_rates(6, time_zone="Europe/Berlin")}
    assert list(rates) == months
    last = rates[last_month]
    assert (last.reminded, last.reminded_no_show, last.not_reminded, last.not_reminded_no_show) == (4, 1, 3, 2)
    assert (str(last.reminded_rate), str(last.not_reminded_rate)) == ("25.0", "66.7")
    older = rates[two_ago]
    assert (older.reminded, older.reminded_no_show, older.not_reminded, older.not_reminded_no_show) == (1, 1, 1, 1)
    assert all(m.reminded == m.not_reminded == 0 for day, m in rates.items() if day not in (last_month, two_ago))

    body = _page(login_as(a.clinic_admin), a.slug).get_data(as_text=True)
    row = re.search(rf'<tr data-month="{last_month.isoformat()[:7]}">(.*?)</tr>', body, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[1:] == ["4", "1", "25", "3", "2", "66.7"]
    assert '"reminded": [' in body.replace("&#34;", '"') and "66.7" in body


def test_demo_appointments_and_no_show_rates_stay_per_clinic(app_context):
    """The demo's seed, as the embedded PostgreSQL runs it: behind both walls, one clinic at a time."""
    from sqlalchemy import func, select

    from app.demo import seed_demo
    from app.patients.models import Patient
    from app.tenants.models import Tenant

    seed_demo()
    db.session.commit()
    tenants = db.session.scalars(select(Tenant).order_by(Tenant.id)).all()
    per_clinic = {}
    for tenant in tenants:
        with tenant_context(tenant.id):
            rates = no_show_rates(6, time_zone=tenant.time_zone)
            patients = db.session.scalar(select(func.count(Patient.id)))
            appointments = db.session.scalars(select(Appointment)).all()
        now = datetime.now(UTC)
        expected = sum(
            1
            for a in appointments
            if a.status in (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW) and a.starts_at < now
        )
        assert sum(m.reminded + m.not_reminded for m in rates) == expected > 0
        assert patients == 30
        starts = [a.starts_at for a in appointments]
        assert min(starts) > now - timedelta(days=22) and max(starts) < now + timedelta(days=15)
        assert {a.status for a in appointments} >= {
            AppointmentStatus.ATTENDED,
            AppointmentStatus.NO_SHOW,
            AppointmentStatus.SCHEDULED,
        }
        per_clinic[tenant.id] = expected
    assert len(per_clinic) == 3
