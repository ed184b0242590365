"""Retention (issue 7): per-clinic periods, the purge job through a real worker, and its runs page."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.campaigns.models import OutboundMessage, SurveyAnswer
from app.compliance.retention.jobs import run_retention, schedule_retention
from app.compliance.retention.models import RetentionRun, RetentionSettings
from app.extensions import db, redis_connection
from app.hotline.models import Contact
from app.jobs import get_queue
from app.reports.services import Period, build_report
from app.sla import metrics
from app.tenancy import tenant_context
from tests.compliance.clinic_data import fill_clinic, get, notes_of, snapshot, usage_totals
from tests.infra.burst_worker import BurstWorker

PERSONAL_TABLES = (
    "contacts",
    "contact_notes",
    "contact_events",
    "outbound_messages",
    "survey_answers",
    "usage_records",
    "sla_rollups",
    "chat_sessions",
    "chat_messages",
)


def run_default_worker(app) -> None:
    with app.app_context():
        BurstWorker([get_queue("default")], connection=redis_connection()).work(burst=True)


def queue_retention(app, tenant_id: int) -> None:
    with app.app_context():
        get_queue("default").enqueue(
            run_retention, tenant_id, description="app.compliance.retention.jobs.run_retention"
        )


@pytest.fixture
def clinics(app, two_tenants):
    two_tenants["data_a"] = fill_clinic(app, two_tenants.a.id, two_tenants.a.agent, "A")
    two_tenants["data_b"] = fill_clinic(app, two_tenants.b.id, two_tenants.b.agent, "B")
    return two_tenants


def _sla_figures(app, tenant_id: int, moment: datetime):
    """The SLA report over the last two years and the raw counts per queue, as a clinic admin would see them."""
    with app.app_context(), tenant_context(tenant_id):
        today = moment.date()
        report = build_report(Period("custom", today - timedelta(days=800), today, "Europe/Berlin"), moment=moment)
        counts = metrics.counts_by_queue(moment - timedelta(days=800), moment + timedelta(days=1), moment=moment)
        return report, counts


def _runs(app, tenant_id: int) -> list[RetentionRun]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(RetentionRun).order_by(RetentionRun.id)).all()
        db.session.expunge_all()
        return rows


@pytest.mark.tenant_isolation
def test_retention_job_purges_exactly_what_is_older_and_keeps_sla_and_usage_identical(app, clinics, owner_engine):
    a, b = clinics.data_a, clinics.data_b
    moment = datetime.now(UTC)
    sla_before, usage_before = _sla_figures(app, a.tenant_id, moment), usage_totals(app, a.tenant_id)
    ledger_before = snapshot(owner_engine, a.tenant_id, ("usage_records", "sla_rollups", "contact_events"))
    b_before = snapshot(owner_engine, b.tenant_id, PERSONAL_TABLES)

    queue_retention(app, a.tenant_id)
    run_default_worker(app)

    [run] = _runs(app, a.tenant_id)
    assert run.purged == {
        "contact_notes": 1,
        "contact_messages": 0,
        "contact_details": 2,
        "rejected_mails": 0,
        "chat_sessions": 1,
        "complaint_details": 0,
        "call_metadata": 1,
        "message_details": 1,
        "survey_comments": 1,
        "contact_exports": 0,
    }
    assert run.total == 7 and run.trigger == "scheduled"
    assert run.settings["contact_text_days"] == 365 and run.settings["message_days"] == 180

    old = get(app, a.tenant_id, Contact, a.old_contact)
    assert (old.subject, old.complaint_reason, old.patient_ref) == (None, None, "")
    assert notes_of(app, a.tenant_id, a.old_contact) == []
    # The facts SLA figures come from are untouched.
    assert (old.status.value, old.wait_seconds, old.first_response_at is not None) == ("resolved", 12, True)
    young = get(app, a.tenant_id, Contact, a.young_contact)
    assert (young.subject, young.complaint_reason, young.patient_ref) == (
        "Subject PAT-YOUNG-A",
        "Complaint of PAT-YOUNG-A",
        "PAT-YOUNG-A",
    )
    assert notes_of(app, a.tenant_id, a.young_contact) == ["Note about PAT-YOUNG-A in clinic A"]
    still_open = get(app, a.tenant_id, Contact, a.open_contact)
    assert (still_open.subject, still_open.patient_ref) == ("Subject PAT-OPEN-A", "PAT-OPEN-A")

    old_call, young_call = get(app, a.tenant_id, Contact, a.old_call), get(app, a.tenant_id, Contact, a.young_call)
    assert (old_call.external_id, old_call.patient_ref) == (None, "")
    assert (young_call.external_id, young_call.patient_ref) == ("call:YOUNG-A", "CALLER-YOUNG-A")

    old_message = get(app, a.tenant_id, OutboundMessage, a.old_message)
    young_message = get(app, a.tenant_id, OutboundMessage, a.young_message)
    assert old_message.provider_id is None and old_message.token.startswith("~")
    assert old_message.token != "token-old-A" and old_message.status.value == "delivered"
    assert (young_message.provider_id, young_message.token) == ("SM-young-A", "token-young-A")
    assert get(app, a.tenant_id, SurveyAnswer, a.old_answer).comment is None
    assert get(app, a.tenant_id, SurveyAnswer, a.old_answer).score == 4
    assert get(app, a.tenant_id, SurveyAnswer, a.young_answer).comment == "Comment young A"

    # The chat that ended before the period went with its messages; the younger one stays whole.
    chats = snapshot(owner_engine, a.tenant_id, ("chat_sessions", "chat_messages"))
    assert [c["id"] for c in chats["chat_sessions"]] == [a.young_chat]
    assert {m["session_id"] for m in chats["chat_messages"]} == {a.young_chat}

    # SLA report figures, raw SLA counts, the rollup, the timeline and the billing ledger: exactly equal.
    assert _sla_figures(app, a.tenant_id, moment) == sla_before
    assert usage_totals(app, a.tenant_id) == usage_before
    assert snapshot(owner_engine, a.tenant_id, ("usage_records", "sla_rollups", "contact_events")) == ledger_before
    assert sla_before[0].total.offered == 5 and usage_before["handled_contact"][0] == 3
    # Clinic B: not a single row changed, and no run recorded.
    assert snapshot(owner_engine, b.tenant_id, PERSONAL_TABLES) == b_before
    assert _runs(app, b.tenant_id) == []


def test_a_second_retention_run_purges_nothing(app, clinics, owner_engine):
    a = clinics.data_a
    queue_retention(app, a.tenant_id)
    run_default_worker(app)
    after_first = snapshot(owner_engine, a.tenant_id, PERSONAL_TABLES)

    queue_retention(app, a.tenant_id)
    run_default_worker(app)

    first, second = _runs(app, a.tenant_id)
    assert first.total == 7
    assert second.total == 0 and set(second.purged.values()) == {0}
    after_second = snapshot(owner_engine, a.tenant_id, PERSONAL_TABLES)
    for rows in (after_first, after_second):  # updated_at is the only column allowed to move
        for table in rows.values():
            for row in table:
                row.pop("updated_at", None)
    assert after_second == after_first


def test_clinic_periods_decide_what_is_purged(app, clinics):
    a = clinics.data_a
    with app.app_context(), tenant_context(a.tenant_id):
        db.session.add(RetentionSettings(contact_text_days=3650, message_days=30, call_metadata_days=3650))
        db.session.commit()
    queue_retention(app, a.tenant_id)
    run_default_worker(app)
    [run] = _runs(app, a.tenant_id)
    # Only messages (both are older than 30 days) and survey comments go; contacts keep their text.
    assert run.purged == {
        "contact_notes": 0,
        "contact_messages": 0,
        "contact_details": 0,
        "rejected_mails": 0,
        "chat_sessions": 0,
        "complaint_details": 0,
        "call_metadata": 0,
        "message_details": 2,
        "survey_comments": 2,
        "contact_exports": 0,
    }
    assert get(app, a.tenant_id, Contact, a.old_contact).subject == "Subject PAT-OLD-A"


def test_daily_schedule_queues_one_run_per_clinic_once(app, clinics):
    with app.app_context():
        assert schedule_retention() == 2
        assert schedule_retention() == 0  # still queued: scheduling twice schedules once
    run_default_worker(app)
    assert [run.total for run in _runs(app, clinics.a.id)] == [7]
    assert [run.total for run in _runs(app, clinics.b.id)] == [7]


def test_worker_cron_registers_the_daily_retention_run(app, monkeypatch):
    from rq.cron import CronScheduler

    import worker

    registered = []
    monkeypatch.setattr(CronScheduler, "start", lambda self: registered.extend(self._cron_jobs))
    worker.run_cron(app)
    [job] = [job for job in registered if job.func.__name__ == "schedule_retention"]
    assert job.cron == "30 2 * * *" and job.queue_name == "default"


# --- the page ---------------------------------------------------------------------------------------------


def _settings(app, tenant_id: int):
    with app.app_context(), tenant_context(tenant_id):
        settings = db.session.scalar(select(RetentionSettings))
        db.session.expunge_all()
        return settings


def _audit_actions(app, tenant_id: int) -> list[str]:
    with app.app_context(), tenant_context(tenant_id):
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


GOOD = {"contact_text_days": "400", "message_days": "90", "call_metadata_days": "120"}


def test_manager_saves_periods_and_the_change_is_audited(app, login_as, two_tenants):
    a = two_tenants.a
    response = login_as(a.manager).post(f"/t/{a.slug}/retention/", GOOD)
    assert response.status_code == 302
    settings = _settings(app, a.id)
    assert (settings.contact_text_days, settings.message_days, settings.call_metadata_days) == (400, 90, 120)
    assert settings.updated_by_id == a.manager
    with app.app_context(), tenant_context(a.id):
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retention.settings_saved"))
        assert event.actor_id == a.manager
        assert event.details["before"]["contact_text_days"] == 365
        assert event.details["after"] == {"contact_text_days": 400, "message_days": 90, "call_metadata_days": 120}
    assert _settings(app, two_tenants.b.id) is None


RANGE_ERROR = "Enter a whole number of days from 30 to 3650."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("contact_text_days", "29", RANGE_ERROR),
        ("message_days", "3651", RANGE_ERROR),
        ("call_metadata_days", "-5", RANGE_ERROR),
        ("message_days", "abc", "Not a valid integer value"),
        ("contact_text_days", "", "Enter a number of days."),
    ],
)
def test_bad_periods_answer_400_and_save_nothing(app, login_as, two_tenants, field, value, message):
    a = two_tenants.a
    response = login_as(a.manager).post(f"/t/{a.slug}/retention/", {**GOOD, field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _settings(app, a.id) is None
    assert "retention.settings_saved" not in _audit_actions(app, a.id)


def test_a_later_bad_period_leaves_the_saved_ones_unchanged(app, login_as, two_tenants):
    a = two_tenants.a
    browser = login_as(a.manager)
    assert browser.post(f"/t/{a.slug}/retention/", GOOD).status_code == 302
    # The first two values are valid and would change; the third is not: nothing of the three is saved.
    bad = {"contact_text_days": "500", "message_days": "100", "call_metadata_days": "10"}
    assert browser.post(f"/t/{a.slug}/retention/", bad).status_code == 400
    settings = _settings(app, a.id)
    assert (settings.contact_text_days, settings.message_days, settings.call_metadata_days) == (400, 90, 120)
    assert _audit_actions(app, a.id).count("retention.settings_saved") == 1


def test_clinic_admin_reads_the_periods_but_cannot_change_them(app, login_as, two_tenants):
    a = two_tenants.a
    browser = login_as(a.clinic_admin)
    page = browser.get(f"/t/{a.slug}/retention/")
    assert page.status_code == 200
    assert "365 days" in page.get_data(as_text=True)
    assert 'name="contact_text_days"' not in page.get_data(as_text=True)
    assert browser.post(f"/t/{a.slug}/retention/", GOOD).status_code == 403
    assert browser.post(f"/t/{a.slug}/retention/purge").status_code == 403
    assert _settings(app, a.id) is None


def test_agent_gets_403_on_the_retention_page(login_as, two_tenants):
    a = two_tenants.a
    assert login_as(a.agent).get(f"/t/{a.slug}/retention/").status_code == 403


@pytest.mark.tenant_isolation
def test_manager_of_b_gets_404_on_retention_of_a(app, login_as, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    browser = login_as(b.manager)
    assert browser.get(f"/t/{a.slug}/retention/").status_code == 404
    assert browser.get(f"/t/{a.slug}/retention/?page=2").status_code == 404
    assert browser.post(f"/t/{a.slug}/retention/", GOOD).status_code == 404
    assert browser.post(f"/t/{a.slug}/retention/purge").status_code == 404
    assert _settings(app, a.id) is None
    with app.app_context():
        assert get_queue("default").count == 0


@pytest.mark.tenant_isolation
def test_runs_page_shows_an_empty_state_then_runs_of_this_clinic_only(app, login_as, clinics):
    a, b = clinics.a, clinics.b
    browser = login_as(a.manager)
    assert "No purge has run yet" in browser.get(f"/t/{a.slug}/retention/").get_data(as_text=True)

    assert browser.post(f"/t/{a.slug}/retention/purge").status_code == 302
    run_default_worker(app)
    page = browser.get(f"/t/{a.slug}/retention/").get_data(as_text=True)
    assert "No purge has run yet" not in page
    assert "1 runs, page 1 of 1" in page
    assert _runs(app, a.id)[0].trigger == "manual"
    assert _runs(app, b.id) == []
    assert "No purge has run yet" in login_as(b.manager).get(f"/t/{b.slug}/retention/").get_data(as_text=True)


def test_runs_page_is_paginated(app, login_as, two_tenants):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        for day in range(25):
            started = datetime.combine(date(2026, 1, 1) + timedelta(days=day), datetime.min.time(), UTC)
            db.session.add(
                RetentionRun(
                    started_at=started,
                    finished_at=started,
                    trigger="scheduled",
                    settings={},
                    purged={"contact_notes": day},
                    total=day,
                )
            )
        db.session.commit()
    browser = login_as(a.clinic_admin)
    first = browser.get(f"/t/{a.slug}/retention/").get_data(as_text=True)
    assert "25 runs, page 1 of 2" in first and "?page=2" in first
    second = browser.get(f"/t/{a.slug}/retention/?page=2")
    assert second.status_code == 200
    runs_table = second.get_data(as_text=True).split('id="retention-runs"')[1]
    assert runs_table.count("<tr>") == 1 + 5  # header and the five oldest runs
    assert browser.get(f"/t/{a.slug}/retention/?page=zero").status_code == 400
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert db.session.scalar(select(func.count(RetentionRun.id))) == 0
