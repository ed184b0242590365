"""Report e-mails per recipient: daily, weekly or monthly, each in the recipient's language, with a link to the
dashboard for that period; each (clinic, frequency, period) sent once, through a real RQ worker."""

from datetime import UTC, date, datetime, timedelta

from flask_babel import force_locale, gettext
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.reports import schedule
from app.reports.models import ReportFrequency, ReportRun, ReportRunStatus
from app.tenancy import tenant_context
from tests.reports.test_report_emails import _set_schedule, _work

# A Wednesday, 10:00 in Berlin: yesterday is Tuesday 10 November, last week 2–8 November, last month October.
NOW = datetime(2026, 11, 11, 9, tzinfo=UTC)


def _runs(app, tenant_id):
    with app.app_context(), tenant_context(tenant_id):
        runs = [
            (run.frequency, run.period_start, run.period_end, run.status)
            for run in db.session.scalars(select(ReportRun).order_by(ReportRun.frequency, ReportRun.id))
        ]
        return runs


def _subject(app, locale: str, label_of) -> str:
    with app.test_request_context(), force_locale(locale):
        return gettext("%(clinic)s: SLA report for %(month)s", clinic="Clinic A", month=label_of())


def test_each_recipient_gets_their_period_in_their_language_with_its_dashboard_link(
    app, two_tenants, fill_month, mailbox
):
    a = two_tenants.a
    fill_month(a.id, a.agent, "Phone EN", date(2026, 11, 10))
    with app.app_context():
        db.session.get(User, a.supervisor).locale = "fr"
        db.session.commit()
    _set_schedule(
        app,
        a.id,
        [a.supervisor, a.clinic_admin],
        "quality@clinic-a.example",
        preferences={
            schedule.member_key(a.supervisor): {"frequency": "daily"},  # their own language: French
            schedule.member_key(a.clinic_admin): {"frequency": "weekly", "locale": "de"},
            "quality@clinic-a.example": {"frequency": "monthly", "locale": "pl"},
        },
    )

    with app.app_context():
        assert schedule.queue_due_runs(now=NOW) == 3
        assert schedule.queue_due_runs(now=NOW) == 0  # each (clinic, frequency, period) once
    _work(app)

    assert _runs(app, a.id) == [
        (ReportFrequency.DAILY, date(2026, 11, 10), date(2026, 11, 10), ReportRunStatus.SENT),
        (ReportFrequency.WEEKLY, date(2026, 11, 2), date(2026, 11, 8), ReportRunStatus.SENT),
        (ReportFrequency.MONTHLY, date(2026, 10, 1), date(2026, 10, 31), ReportRunStatus.SENT),
    ]
    mail = {m["To"]: m for m in mailbox}
    assert sorted(mail) == ["admin-a@example.test", "quality@clinic-a.example", "supervisor-a@example.test"]

    daily = mail["supervisor-a@example.test"]
    assert daily["Subject"] == _subject(app, "fr", lambda: format_date_in("fr", date(2026, 11, 10), "long"))
    assert "period=custom&start=2026-11-10&end=2026-11-10" in daily.get_body().get_content()
    # The day's figures: fill_month's four contacts of 10 November.
    assert "4" in daily.get_body().get_content()

    weekly = mail["admin-a@example.test"]
    with app.test_request_context(), force_locale("de"):
        week = gettext("the week of %(start)s to %(end)s", start="2026-11-02", end="2026-11-08")
    assert week != "the week of 2026-11-02 to 2026-11-08"  # translated
    assert weekly["Subject"].startswith(_subject(app, "de", lambda: "X").split("X")[0])
    assert "period=custom&start=2026-11-02&end=2026-11-08" in weekly.get_body().get_content()

    monthly = mail["quality@clinic-a.example"]
    assert monthly["Subject"] == _subject(app, "pl", lambda: format_date_in("pl", date(2026, 10, 1), "LLLL y"))
    assert "period=custom&start=2026-10-01&end=2026-10-31" in monthly.get_body().get_content()
    assert {part.get_filename() for part in monthly.iter_attachments()} == {
        "sla-clinic-a-2026-10-01-2026-10-31.pdf",
        "sla-clinic-a-2026-10-01-2026-10-31.csv",
    }

    # The next pass (same day) sends nothing; the next day sends the new day only.
    with app.app_context():
        assert schedule.queue_due_runs(now=NOW + timedelta(hours=1)) == 0
        assert schedule.queue_due_runs(now=NOW + timedelta(days=1)) == 1
    sent = len(mailbox)
    _work(app)
    assert len(mailbox) == sent + 1 and mailbox[-1]["To"] == "supervisor-a@example.test"


def format_date_in(locale: str, day: date, pattern: str) -> str:
    from babel.dates import format_date

    return format_date(day, pattern, locale=locale)


def test_one_email_per_language_and_the_cron_counts_runs(app, two_tenants, fill_month, mailbox):
    a = two_tenants.a
    fill_month(a.id, a.agent, "Phone EN", date(2026, 10, 10))
    _set_schedule(
        app,
        a.id,
        [a.supervisor, a.clinic_admin],
        "quality@clinic-a.example",
        preferences={schedule.member_key(a.supervisor): {"frequency": "monthly", "locale": "de"}},
    )
    with app.app_context():
        assert schedule.queue_due_runs(now=NOW) == 1  # everyone monthly: one run
    _work(app)
    # The supervisor in German; the admin and the address in the clinic's English: two e-mails.
    assert sorted(m["To"] for m in mailbox) == [
        "admin-a@example.test, quality@clinic-a.example",
        "supervisor-a@example.test",
    ]


def test_bad_preferences_are_refused_and_nothing_saved(app, login_as, two_tenants):
    a = two_tenants.a
    manager = login_as(a.manager)
    url = f"/t/{a.slug}/settings/reports"
    key = schedule.member_key(a.clinic_admin)
    for bad in ({f"frequency-{key}": "hourly"}, {f"locale-{key}": "xx"}):
        response = manager.post(url, {"enabled": "y", "day_of_month": "1", "member_ids": [str(a.clinic_admin)], **bad})
        assert response.status_code == 400
    with app.app_context(), tenant_context(a.id):
        assert schedule.get_schedule() is None


def test_the_settings_page_saves_each_recipients_frequency_and_language(app, login_as, two_tenants):
    a = two_tenants.a
    manager = login_as(a.manager)
    url = f"/t/{a.slug}/settings/reports"
    key = schedule.member_key(a.clinic_admin)
    response = manager.post(
        url,
        {
            "enabled": "y",
            "day_of_month": "1",
            "member_ids": [str(a.clinic_admin)],
            f"frequency-{key}": "weekly",
            f"locale-{key}": "es",
            # A setting for someone not chosen is dropped, not saved.
            f"frequency-{schedule.member_key(a.supervisor)}": "daily",
        },
    )
    assert response.status_code == 302
    with app.app_context(), tenant_context(a.id):
        saved = schedule.get_schedule()
        assert saved.preferences == {key: {"frequency": "weekly", "locale": "es"}}
    page = manager.get(url).get_data(as_text=True)
    assert 'name="frequency-member:' in page and '<option value="weekly" selected>' in page
    assert '<option value="es" selected>' in page
