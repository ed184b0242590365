"""Monthly report e-mails through a real RQ worker and SMTP server: once per clinic and month,
in the clinic's language, with PDF and CSV, only the clinic's own data; progress and failures visible."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from babel.dates import format_date
from flask_babel import force_locale, gettext
from pypdf import PdfReader
from sqlalchemy import func, select, text

from app.auth.models import Membership, User
from app.extensions import db, redis_connection
from app.jobs import REPORTS, get_queue
from app.reports import schedule
from app.reports.jobs import schedule_report_emails, send_monthly_report
from app.reports.models import ReportFailure, ReportRun, ReportRunStatus, ReportSchedule
from app.tenancy import tenant_context
from app.tenants.models import Tenant
from tests.infra.burst_worker import BurstWorker
from tests.infra.postgres import database_walls
from tests.reports.conftest import previous_month_of_today


def _work(app):
    with app.app_context():
        BurstWorker([get_queue(REPORTS)], connection=redis_connection()).work(burst=True)


def _set_schedule(app, tenant_id, member_ids=(), addresses="", *, enabled=True, day=1, preferences=None):
    with app.app_context(), tenant_context(tenant_id):
        schedule.save_schedule(
            enabled=enabled,
            day_of_month=day,
            member_ids=list(member_ids),
            addresses=addresses,
            preferences=preferences,
        )
        db.session.commit()


def _runs(app, tenant_id):
    with app.app_context(), tenant_context(tenant_id):
        runs = list(db.session.scalars(select(ReportRun).order_by(ReportRun.id)))
        db.session.expunge_all()
        return runs


def _attachments(message) -> dict:
    return {part.get_filename(): part for part in message.iter_attachments()}


def _german_subject(app, clinic: str, first: date) -> str:
    """The subject as the clinic's German catalog words it, with the month named by babel."""
    with app.test_request_context(), force_locale("de"):
        return gettext(
            "%(clinic)s: SLA report for %(month)s", clinic=clinic, month=format_date(first, "LLLL y", locale="de")
        )


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def last_month(app, two_tenants, fill_month):
    """Both clinics had contacts last month; clinic A speaks German and mails its admin and its quality lead.

    Clinic A's manager and admin read the site in English; the manager chose German for the admin's report,
    so both get the same German e-mail (per-recipient languages: tests/reports/test_report_recipients.py).
    """
    month = previous_month_of_today()
    a, b = two_tenants.a, two_tenants.b
    fill_month(a.id, a.agent, "Phone EN", month.first + timedelta(days=9))
    fill_month(b.id, b.agent, "B line", month.first + timedelta(days=9), policy_name="B contract")
    with app.app_context():
        db.session.get(Tenant, a.id).default_locale = "de"
        for user_id in (a.manager, a.clinic_admin):
            db.session.get(User, user_id).locale = "en"
        db.session.commit()
    _set_schedule(
        app,
        a.id,
        [a.clinic_admin],
        "Quality@Clinic-A.example",
        preferences={schedule.member_key(a.clinic_admin): {"frequency": "monthly", "locale": "de"}},
    )
    _set_schedule(app, b.id, [b.clinic_admin])
    two_tenants["month"] = month
    return two_tenants


def test_schedule_mails_last_months_report_once_in_the_clinic_language(app, last_month, mailbox):
    a, month = last_month.a, last_month.month
    with app.app_context():
        assert schedule_report_emails() == 2
        assert schedule_report_emails() == 0  # the (clinic, month) run exists: scheduling twice queues once
    _work(app)

    german_month = format_date(month.first, "LLLL y", locale="de")
    a_mail = [m for m in mailbox if "Clinic A" in m["Subject"]]
    assert len(a_mail) == 1 and len(mailbox) == 2
    message = a_mail[0]
    assert message["Subject"] == _german_subject(app, "Clinic A", month.first)
    assert german_month in message["Subject"]
    # The German wording, not only a German month name (some months read the same in both languages).
    with app.test_request_context(), force_locale("en"):
        english = gettext(
            "%(clinic)s: SLA report for %(month)s",
            clinic="Clinic A",
            month=format_date(month.first, "LLLL y", locale="en"),
        )
    assert message["Subject"] != english
    assert set(message["To"].addresses[i].addr_spec for i in range(2)) == {
        "admin-a@example.test",
        "quality@clinic-a.example",
    }

    stem = f"sla-clinic-a-{month.first}-{month.last}"
    files = _attachments(message)
    assert set(files) == {f"{stem}.pdf", f"{stem}.csv"}
    assert files[f"{stem}.pdf"].get_content_type() == "application/pdf"
    assert files[f"{stem}.csv"].get_content_type() == "text/csv"

    rows = list(csv.reader(io.StringIO(files[f"{stem}.csv"].get_content())))
    figures = dict(zip(rows[1], rows[2], strict=True))
    assert (figures["queue"], figures["offered"], figures["service_level_percent"]) == ("Phone EN", "4", "50.00")
    assert len(rows) == 3  # header lines and clinic A's one queue, nothing of clinic B

    pdf = _pdf_text(files[f"{stem}.pdf"].get_content())
    with app.test_request_context(), force_locale("de"):
        per_queue = gettext("Per queue")
    assert per_queue != "Per queue" and per_queue in pdf
    assert "Clinic A" in pdf and "Phone EN" in pdf and "21,7 Sek." in pdf
    assert "B line" not in pdf and "Clinic B" not in pdf
    assert "B line" not in message.get_body().get_content()

    b_mail = next(m for m in mailbox if "Clinic B" in m["Subject"])
    assert b_mail["To"] == "admin-b@example.test"
    assert b_mail["Subject"].startswith("Clinic B: SLA report for ")  # clinic B speaks English
    b_pdf = _pdf_text(next(p for p in b_mail.iter_attachments() if p.get_filename().endswith(".pdf")).get_content())
    assert "B line" in b_pdf and "Phone EN" not in b_pdf

    [run] = _runs(app, a.id)
    assert (run.status, run.progress, run.attempts) == (ReportRunStatus.SENT, 100, 1)
    assert (run.period_start, run.period_end) == (month.first, month.last)
    assert run.sent_at is not None and run.message_id == message["Message-ID"]

    # The next hourly pass finds the month done and sends nothing.
    with app.app_context():
        assert schedule_report_emails() == 0
    _work(app)
    assert len(mailbox) == 2


def test_a_duplicated_or_retried_job_never_sends_the_month_twice(app, last_month, mailbox):
    a = last_month.a
    with app.app_context():
        schedule_report_emails()
    _work(app)
    [run] = _runs(app, a.id)
    sent = len(mailbox)

    # At-least-once delivery: the same job delivered twice more after it succeeded.
    with app.app_context():
        for _ in range(2):
            get_queue(REPORTS).enqueue(send_monthly_report, a.id, run.id)
    _work(app)
    assert len(mailbox) == sent
    assert _runs(app, a.id)[0].status == ReportRunStatus.SENT


def _force_status(app, tenant_id, run_id, status, **values):
    with app.app_context(), tenant_context(tenant_id):
        run = db.session.get(ReportRun, run_id)
        run.status = status
        for key, value in values.items():
            setattr(run, key, value)
        db.session.commit()


def test_a_job_that_died_while_sending_is_not_resent_but_shown_as_interrupted(app, login_as, last_month, mailbox):
    a = last_month.a
    with app.app_context():
        schedule_report_emails()
    [run] = _runs(app, a.id)
    # As if an earlier attempt recorded the send and died before confirming it.
    _force_status(app, a.id, run.id, ReportRunStatus.SENDING, attempts=1)
    _work(app)

    assert [m for m in mailbox if "Clinic A" in m["Subject"]] == []
    [run] = _runs(app, a.id)
    assert (run.status, run.failure) == (ReportRunStatus.FAILED, ReportFailure.INTERRUPTED)
    page = login_as(a.manager).get(f"/t/{a.slug}/reports").get_data(as_text=True)
    assert "Failed: The worker stopped while sending" in page


def test_a_duplicate_of_a_running_job_leaves_it_to_the_running_one(app, last_month, mailbox):
    a = last_month.a
    with app.app_context():
        schedule_report_emails()
    [run] = _runs(app, a.id)
    _force_status(app, a.id, run.id, ReportRunStatus.RUNNING, attempts=1, progress=30, started_at=datetime.now(UTC))
    _work(app)

    assert [m for m in mailbox if "Clinic A" in m["Subject"]] == []
    [run] = _runs(app, a.id)
    assert (run.status, run.progress, run.attempts) == (ReportRunStatus.RUNNING, 30, 1)


def test_rqs_rerun_of_a_crashed_job_takes_its_run_over_and_sends_once(app, last_month, mailbox):
    """A worker killed mid-build leaves the run `running`; RQ runs the job again under the same id."""
    a = last_month.a
    with app.app_context():
        schedule_report_emails()
    [run] = _runs(app, a.id)
    _force_status(
        app,
        a.id,
        run.id,
        ReportRunStatus.RUNNING,
        attempts=1,
        progress=30,
        started_at=datetime.now(UTC),
        job_id="report-crashed",
    )
    with app.app_context():
        get_queue(REPORTS).enqueue(send_monthly_report, a.id, run.id, job_id="report-crashed")
    _work(app)

    assert len([m for m in mailbox if "Clinic A" in m["Subject"]]) == 1
    [run] = _runs(app, a.id)
    assert (run.status, run.attempts) == (ReportRunStatus.SENT, 2)


def test_a_run_abandoned_past_its_lease_can_be_sent_again(app, login_as, last_month, mailbox):
    a = last_month.a
    with app.app_context():
        schedule_report_emails()
    [run] = _runs(app, a.id)
    manager = login_as(a.manager)
    _force_status(app, a.id, run.id, ReportRunStatus.RUNNING, attempts=1, started_at=datetime.now(UTC))
    assert manager.post(f"/t/{a.slug}/reports/send").status_code == 409  # still within its lease
    _force_status(
        app,
        a.id,
        run.id,
        ReportRunStatus.RUNNING,
        started_at=datetime.now(UTC) - schedule.RUNNING_LEASE - timedelta(minutes=1),
    )
    assert manager.post(f"/t/{a.slug}/reports/send").status_code == 303
    _work(app)
    assert len([m for m in mailbox if "Clinic A" in m["Subject"]]) == 1
    assert _runs(app, a.id)[0].status == ReportRunStatus.SENT


def test_manager_sends_last_month_now_and_follows_its_progress(app, login_as, last_month, mailbox):
    a, month = last_month.a, last_month.month
    manager = login_as(a.manager)
    response = manager.post(f"/t/{a.slug}/reports/send")
    assert response.status_code == 303
    assert response.location == f"/t/{a.slug}/reports"
    assert mailbox == []  # only queued: the worker sends it

    page = manager.get(f"/t/{a.slug}/reports").get_data(as_text=True)
    assert 'class="run-status status-queued"' in page and 'data-done="false"' in page and "js/report-runs.js" in page
    status = manager.get(f"/t/{a.slug}/reports/runs.json").get_json()
    assert [(r["status"], r["progress"], r["done"]) for r in status["runs"]] == [("queued", 0, False)]

    _work(app)
    assert [m["Subject"] for m in mailbox] == [_german_subject(app, "Clinic A", month.first)]
    status = manager.get(f"/t/{a.slug}/reports/runs.json").get_json()
    assert [(r["status"], r["progress"], r["done"]) for r in status["runs"]] == [("sent", 100, True)]
    page = manager.get(f"/t/{a.slug}/reports").get_data(as_text=True)
    assert 'class="run-status status-sent"' in page and "admin-a@example.test" in page

    # Pressing again, or the schedule's next pass, does not send the month twice.
    again = manager.post(f"/t/{a.slug}/reports/send")
    assert again.status_code == 409
    assert "was already sent" in again.get_data(as_text=True)
    with app.app_context():
        assert schedule_report_emails() == 1  # clinic B only
    _work(app)
    assert len([m for m in mailbox if "Clinic A" in m["Subject"]]) == 1


def test_the_run_reports_progress_while_it_builds(app, last_month, monkeypatch):
    """Each step is committed, so another session sees the percentage grow while the job runs."""
    a = last_month.a
    seen = []
    original = schedule._progress

    def watching(run_id, percent):
        original(run_id, percent)
        seen.append((percent, _runs(app, a.id)[0].progress))

    monkeypatch.setattr(schedule, "_progress", watching)
    with app.app_context(), tenant_context(a.id):
        schedule.request_last_month(db.session.get(Tenant, a.id))
        db.session.commit()
    _work(app)
    assert seen == [(30, 30), (50, 50), (80, 80)]


def test_a_failed_run_shows_why_and_can_be_sent_again(app, login_as, last_month, mailbox):
    a = last_month.a
    manager = login_as(a.manager)
    assert manager.post(f"/t/{a.slug}/reports/send").status_code == 303
    # The only member recipient leaves the clinic before the job runs; the typed address is dropped too.
    with app.app_context(), tenant_context(a.id):
        db.session.execute(Membership.__table__.delete().where(Membership.user_id == a.clinic_admin))
        db.session.get(ReportSchedule, schedule.get_schedule().id).addresses = []
        db.session.commit()
    _work(app)

    assert [m for m in mailbox if "Clinic A" in m["Subject"]] == []
    [run] = _runs(app, a.id)
    assert (run.status, run.failure) == (ReportRunStatus.FAILED, ReportFailure.NO_RECIPIENTS)
    page = manager.get(f"/t/{a.slug}/reports").get_data(as_text=True)
    assert "Failed: No recipients are set." in page

    _set_schedule(app, a.id, [], "quality@clinic-a.example")
    assert manager.post(f"/t/{a.slug}/reports/send").status_code == 303
    _work(app)
    [message] = [m for m in mailbox if "Clinic A" in m["Subject"]]
    assert message["To"] == "quality@clinic-a.example"
    [run] = _runs(app, a.id)
    assert (run.status, run.attempts) == (ReportRunStatus.SENT, 2)


def test_a_refused_mail_is_recorded_as_failed(app, login_as, last_month, mailbox, monkeypatch):
    import socket

    a = last_month.a
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setitem(app.config, "MAIL_PORT", closed_port)
    assert login_as(a.manager).post(f"/t/{a.slug}/reports/send").status_code == 303
    _work(app)

    assert mailbox == []
    [run] = _runs(app, a.id)
    assert (run.status, run.failure) == (ReportRunStatus.FAILED, ReportFailure.MAIL_REFUSED)
    assert run.failure_detail
    page = login_as(a.clinic_admin).get(f"/t/{a.slug}/reports")
    assert "Failed: The mail server did not accept the message." in page.get_data(as_text=True)


def test_send_now_needs_recipients(app, login_as, two_tenants):
    a = two_tenants.a
    response = login_as(a.manager).post(f"/t/{a.slug}/reports/send")
    assert response.status_code == 400
    assert "Choose the report&#39;s recipients" in response.get_data(as_text=True)
    assert _runs(app, a.id) == []


def test_only_managers_send_reports_or_change_their_settings(login_as, last_month):
    a = last_month.a
    for role in ("clinic_admin", "supervisor", "agent"):
        browser = login_as(a[role])
        assert browser.post(f"/t/{a.slug}/reports/send").status_code == 403
        assert browser.get(f"/t/{a.slug}/settings/reports").status_code == 403
    assert login_as(a.agent).get(f"/t/{a.slug}/reports").status_code == 403
    page = login_as(a.clinic_admin).get(f"/t/{a.slug}/reports").get_data(as_text=True)
    assert "reports/send" not in page


# --- the schedule: when it is due ------------------------------------------------------------------


def test_the_schedule_is_due_from_its_day_in_the_clinic_time_zone(app, two_tenants):
    a = two_tenants.a
    _set_schedule(app, a.id, [a.clinic_admin], day=5)
    with app.app_context():
        assert schedule.queue_due_runs(now=datetime(2026, 11, 4, 22, 30, tzinfo=UTC)) == 0  # 23:30 in Berlin
        assert schedule.queue_due_runs(now=datetime(2026, 11, 4, 23, 30, tzinfo=UTC)) == 1  # 00:30 on the 5th
        assert schedule.queue_due_runs(now=datetime(2026, 11, 20, 9, tzinfo=UTC)) == 0
        assert schedule.queue_due_runs(now=datetime(2026, 12, 7, 9, tzinfo=UTC)) == 1
    assert [(r.period_start, r.period_end) for r in _runs(app, a.id)] == [
        (date(2026, 10, 1), date(2026, 10, 31)),
        (date(2026, 11, 1), date(2026, 11, 30)),
    ]
    with app.app_context():
        assert len(get_queue(REPORTS)) == 2


def test_a_disabled_schedule_or_a_suspended_clinic_sends_nothing(app, two_tenants):
    from app.tenants.models import TenantStatus

    a, b = two_tenants.a, two_tenants.b
    _set_schedule(app, a.id, [a.clinic_admin], enabled=False)
    _set_schedule(app, b.id, [b.clinic_admin])
    with app.app_context():
        db.session.get(Tenant, b.id).status = TenantStatus.SUSPENDED
        db.session.commit()
        assert schedule.queue_due_runs() == 0
    assert _runs(app, a.id) == [] and _runs(app, b.id) == []


# --- settings ---------------------------------------------------------------------------------------


def test_manager_sets_the_report_schedule(app, login_as, two_tenants):
    a = two_tenants.a
    manager = login_as(a.manager)
    page = manager.get(f"/t/{a.slug}/settings/reports").get_data(as_text=True)
    assert "Admin Of A" in page and "Admin Of B" not in page
    response = manager.post(
        f"/t/{a.slug}/settings/reports",
        {
            "enabled": "y",
            "day_of_month": "3",
            "member_ids": [str(a.clinic_admin), str(a.supervisor)],
            "addresses": "Quality@Clinic-A.example, board@clinic-a.example\nquality@clinic-a.example",
        },
    )
    assert response.status_code == 302
    with app.app_context(), tenant_context(a.id):
        saved = schedule.get_schedule()
        assert (saved.enabled, saved.day_of_month) == (True, 3)
        assert saved.member_ids == sorted([a.clinic_admin, a.supervisor])
        assert saved.addresses == ["quality@clinic-a.example", "board@clinic-a.example"]
        assert schedule.recipients(saved, a.id) == [
            "admin-a@example.test",
            "supervisor-a@example.test",
            "quality@clinic-a.example",
            "board@clinic-a.example",
        ]
    page = manager.get(f"/t/{a.slug}/settings/reports").get_data(as_text=True)
    assert "board@clinic-a.example" in page and 'value="3"' in page


def test_the_report_schedule_is_a_step_of_onboarding(app, login_as, two_tenants):
    from app.tenants.models import TenantStatus

    a = two_tenants.a
    with app.app_context():
        db.session.get(Tenant, a.id).status = TenantStatus.DRAFT
        db.session.commit()
    manager = login_as(a.manager)
    people = manager.get(f"/t/{a.slug}/settings/people").get_data(as_text=True)
    assert f'href="/t/{a.slug}/settings/reports"' in people
    response = manager.post(f"/t/{a.slug}/settings/reports", {"day_of_month": "1"})
    assert response.status_code == 302
    assert response.location == f"/t/{a.slug}/settings/status"


def _schedule_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ReportSchedule).execution_options(all_tenants=True))


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"enabled": "y", "day_of_month": "31", "addresses": "q@clinic-a.example"},
            "Choose a day between 1 and 28, so that every month has it.",
        ),
        (
            {"enabled": "y", "day_of_month": "0", "addresses": "q@clinic-a.example"},
            "Choose a day between 1 and 28, so that every month has it.",
        ),
        (
            {"enabled": "y", "day_of_month": "", "addresses": "q@clinic-a.example"},
            "Choose a day between 1 and 28, so that every month has it.",
        ),
        (
            {"enabled": "y", "day_of_month": "5", "addresses": "q@clinic-a.example, not-an-address"},
            "not-an-address is not a valid e-mail address.",
        ),
        ({"enabled": "y", "day_of_month": "5"}, "Choose at least one recipient for the monthly report."),
        (
            {"enabled": "y", "day_of_month": "5", "addresses": "\n".join(f"p{n}@clinic-a.example" for n in range(21))},
            "At most 20 further addresses.",
        ),
    ],
)
def test_bad_settings_answer_400_and_save_nothing(app, login_as, two_tenants, form, message):
    a = two_tenants.a
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/reports", form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _schedule_count(app) == 0


# --- isolation --------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_clinic_b_people_cannot_be_recipients_of_clinic_a(app, login_as, two_tenants):
    a, b = two_tenants.a, two_tenants.b
    response = login_as(a.manager).post(
        f"/t/{a.slug}/settings/reports",
        {"enabled": "y", "day_of_month": "1", "member_ids": [str(a.clinic_admin), str(b.clinic_admin)]},
    )
    assert response.status_code == 400
    assert "Choose recipients among the clinic&#39;s people." in response.get_data(as_text=True)
    assert _schedule_count(app) == 0


@pytest.mark.parametrize("role", ["clinic_admin", "manager", "supervisor", "agent"])
@pytest.mark.tenant_isolation
def test_clinic_b_people_get_404_for_clinic_a_reports(app, login_as, last_month, role, mailbox):
    a, b = last_month.a, last_month.b
    browser = login_as(b[role])
    for method, path in (
        ("get", "/reports"),
        ("get", "/reports/runs.json"),
        ("post", "/reports/send"),
        ("get", "/settings/reports"),
        ("post", "/settings/reports"),
    ):
        response = getattr(browser, method)(f"/t/{a.slug}{path}")
        assert response.status_code == 404, (method, path)
        assert "admin-a@example.test" not in response.get_data(as_text=True)
    assert _runs(app, a.id) == []
    with app.app_context(), tenant_context(a.id):
        assert schedule.get_schedule().member_ids == [a.clinic_admin]
    _work(app)
    assert mailbox == []


@pytest.mark.tenant_isolation
def test_each_clinic_lists_only_its_own_runs(app, login_as, last_month):
    a, b = last_month.a, last_month.b
    assert login_as(b.manager).post(f"/t/{b.slug}/reports/send").status_code == 303
    _work(app)
    page = login_as(a.clinic_admin).get(f"/t/{a.slug}/reports")
    body = page.get_data(as_text=True)
    assert "No report has been e-mailed yet." in body and "admin-b@example.test" not in body
    assert login_as(a.clinic_admin).get(f"/t/{a.slug}/reports/runs.json").get_json() == {"runs": []}
    # The second wall: a raw, unscoped query inside clinic A's context sees none of clinic B's rows (where it
    # stands: not in the run behind the application's wall alone).
    if database_walls() == "both":
        with app.app_context(), tenant_context(a.id):
            assert db.session.execute(text("SELECT count(*) FROM report_runs")).scalar() == 0
            assert db.session.execute(text("SELECT count(*) FROM report_schedules")).scalar() == 1
