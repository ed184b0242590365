"""Past SLA reports never move: a contact is judged by the targets in force when it was offered.

October is reported, then the policy, its convention, a queue's own target and the clinic's
calendar are edited one after the other; October's CSV and PDF stay byte for byte the same.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel
from app.reports.pdf import report_pdf
from app.reports.services import Period, build_report
from app.sla.models import SlaPolicy
from app.tenancy import tenant_context
from app.tenants import services as tenants

DAY = date(2026, 10, 14)
PERIOD = "period=custom&start=2026-10-01&end=2026-10-31"
GENERATED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # the PDF states when it was generated: pinned
MOMENT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def october(app, two_tenants, fill_month, create_queue, login_as):
    """Clinic A's October: a phone line under "Contract 80/20" (waits 5, 15, 45 s and an abandon at 30 s)
    and a chat line judged by its own 30 s queue target (waits 10, 25, 40 s)."""
    a = two_tenants.a
    phone = fill_month(a.id, a.agent, "Phone EN", DAY)
    chat = create_queue(a.id, "Chat EN", channel=Channel.CHAT, target_seconds=30)
    start = datetime.combine(DAY, time(11), ZoneInfo("Europe/Berlin")).astimezone(UTC)
    with app.app_context(), tenant_context(a.id):
        for minute, wait in enumerate([10, 25, 40]):
            contact, _ = hotline.offer_contact(
                queue_id=chat, patient_ref=f"CH{minute}", offered_at=start + timedelta(minutes=minute)
            )
            hotline.record_first_response(contact, a.agent, at=contact.offered_at + timedelta(seconds=wait))
        db.session.commit()
    a["phone"], a["chat"] = phone, chat
    # One session per role for the whole test: logging in again for every request hits the login rate limit.
    a["admin_browser"], a["manager_browser"] = login_as(a.clinic_admin), login_as(a.manager)
    return a


def _csv(clinic) -> bytes:
    response = clinic.admin_browser.get(f"/t/{clinic.slug}/sla.csv?{PERIOD}")
    assert response.status_code == 200
    return response.get_data()


def _pdf(app, clinic) -> bytes:
    with app.test_request_context(), force_locale("en"), tenant_context(clinic.id):
        report = build_report(Period("custom", date(2026, 10, 1), date(2026, 10, 31), "Europe/Berlin"), moment=MOMENT)
        return report_pdf(report, clinic_name="Clinic A", generated_at=GENERATED)


def _policy_form(app, clinic, **changes) -> tuple[int, dict]:
    with app.app_context(), tenant_context(clinic.id):
        policy = db.session.scalar(select(SlaPolicy))
        form = {
            "name": policy.name,
            "position": str(policy.position),
            "queue_id": str(policy.queue_id),
            "channel": "",
            "topic": "",
            "service_level_percent": str(policy.service_level_percent),
            "answer_within_seconds": str(policy.answer_within_seconds),
            "max_asa_seconds": str(policy.max_asa_seconds),
            "max_abandon_percent": str(policy.max_abandon_percent),
            "short_abandon_seconds": str(policy.short_abandon_seconds),
            "convention": policy.convention.value,
            "clock": policy.clock.value,
            "warn_at_percent": str(policy.warn_at_percent),
            "pause_while_waiting_on_patient": "y",
        }
        return policy.id, {**form, **changes}


def _edit_policy(app, clinic, **changes) -> None:
    policy_id, form = _policy_form(app, clinic, **changes)
    response = clinic.manager_browser.post(f"/t/{clinic.slug}/settings/sla/{policy_id}", form)
    assert response.status_code == 302, response.get_data(as_text=True)


def _edit_queue_target(app, clinic, queue_id: int, target: int) -> None:
    form = {
        "name": "Chat EN",
        "channel": "chat",
        "language": "en",
        "topic": "appointments",
        "priority": "3",
        "target_seconds": str(target),
        "team_id": "",
    }
    response = clinic.manager_browser.post(f"/t/{clinic.slug}/settings/queues/{queue_id}", form)
    assert response.status_code == 302, response.get_data(as_text=True)


def _edit_calendar(app, clinic) -> None:
    with app.app_context(), tenant_context(clinic.id):
        tenants.set_weekly_hours([(weekday, time(6), time(23)) for weekday in range(7)])
        tenants.add_closure(DAY, "Flood")
        db.session.commit()


def test_octobers_csv_and_pdf_stay_byte_identical_after_every_kind_of_edit(app, october):
    a = october
    csv_before, pdf_before = _csv(a), _pdf(app, a)
    assert b"Contract 80/20" in csv_before and b",50.00,80.00," in csv_before  # 2 of 4 within 20 s
    assert _pdf(app, a) == pdf_before  # regenerating alone changes nothing

    edits = [
        ("answer target 20 s -> 10 s", lambda: _edit_policy(app, a, answer_within_seconds="10")),
        ("convention", lambda: _edit_policy(app, a, convention="answered_only")),
        (
            "short abandons",
            lambda: _edit_policy(app, a, short_abandon_seconds="60", convention="exclude_short_abandons"),
        ),
        (
            "name and targets",
            lambda: _edit_policy(
                app,
                a,
                name="Contract 95/5",
                service_level_percent="95",
                max_asa_seconds="5",
                max_abandon_percent="1",
            ),
        ),
        ("queue target", lambda: _edit_queue_target(app, a, a.chat, 5)),
        ("calendar", lambda: _edit_calendar(app, a)),
    ]
    for what, edit in edits:
        edit()
        assert _csv(a) == csv_before, what
        assert _pdf(app, a) == pdf_before, what


def test_contacts_offered_after_an_edit_are_judged_by_the_new_targets(app, october):
    """The same waits offered on 15 October, after the target went to 10 s: a row of their own."""
    a = october
    _edit_policy(app, a, answer_within_seconds="10")
    start = datetime.combine(DAY + timedelta(days=1), time(10), ZoneInfo("Europe/Berlin")).astimezone(UTC)
    with app.app_context(), tenant_context(a.id):
        for minute, wait in enumerate([5, 15, 45]):
            contact, _ = hotline.offer_contact(
                queue_id=a.phone, patient_ref=f"N{minute}", offered_at=start + timedelta(minutes=minute)
            )
            hotline.record_first_response(contact, a.agent, at=contact.offered_at + timedelta(seconds=wait))
        db.session.commit()
    lines = [line.split(",") for line in _csv(a).decode().splitlines()[2:]]
    phone = sorted((line[5], line[7], line[10]) for line in lines if line[0] == "Phone EN")
    # (offered, answered within target, service level): old contacts by 20 s, new ones by 10 s.
    assert phone == [("3", "1", "33.33"), ("4", "2", "50.00")]
