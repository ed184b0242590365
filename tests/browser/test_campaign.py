"""In the browser: a manager starts a reminder campaign and watches a real RQ worker send it.

The worker is `python worker.py outbound`, a real forking RQ worker in its own process (started
first, so that it is ready when the campaign starts), sending to the local SMS provider. The
provider holds the requests until the test has looked at the page mid-send; then the page's own
polling (campaign-progress.js, every 5 s, on Playwright's fake clock) shows the messages sent
without a reload.
"""

import subprocess
from datetime import UTC, datetime, time, timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from app.campaigns import services
from app.campaigns.jobs import run_outbound
from app.campaigns.models import CampaignKind, CampaignStatus, MessageStatus, OutboundMessage
from app.extensions import db
from app.jobs import get_queue
from app.patients.models import MessageChannel
from app.tenancy import tenant_context
from tests.infra.worker_process import kill_worker, start_worker, wait_for, worker_env

FLOW = "campaign"
# An appointment whose 48-hours-before reminder is due now (a few minutes ago).
DUE = timedelta(hours=48) - timedelta(minutes=5)


def _reminders(app, tenant_id: int, *, active: bool) -> int:
    """A reminder campaign: one SMS 48 hours before the appointment, in English and German."""
    with app.app_context(), tenant_context(tenant_id):
        services.save_outbound_settings(rate_per_minute=600, quiet_from=time(0, 0), quiet_until=time(0, 0))
        campaign = services.save_campaign(None, name="Reminders", kind=CampaignKind.REMINDER, audience={})
        step = services.add_step(campaign, offset_minutes=-48 * 60, channel=MessageChannel.SMS)
        services.save_template(
            step,
            language="en",
            subject=None,
            body="See you {date} at {time}, {location}. Reply 1 to confirm, 2 to cancel.",
        )
        services.save_template(
            step, language="de", subject=None, body="Bis {date} um {time}, {location}. Antworten Sie 1 zum Bestätigen."
        )
        if active:
            services.activate(campaign)
        db.session.commit()
        return campaign.id


def _messages(app, tenant_id: int) -> list[tuple[str, str]]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        return [(m.status, m.language) for m in rows]


def test_manager_starts_a_campaign_and_sees_its_messages_go_out(
    app, chromium_page, two_tenants, sms, create_patient, create_appointment, tmp_path
):
    ui, page = chromium_page, chromium_page.page
    a, b = two_tenants.a, two_tenants.b
    campaign = _reminders(app, a.id, active=False)
    for number, (phone, language) in enumerate(
        [("+4915100000001", "en"), ("+4915100000002", "de"), ("+4915100000003", "en")]
    ):
        patient = create_patient(a.id, f"P-{number}", phone=phone, language=language)
        create_appointment(a.id, patient, starts_in=DUE)
    no_consent = create_patient(a.id, "P-9", phone="+4915100000009", consent_sms=False)
    create_appointment(a.id, no_consent, starts_in=DUE)
    # Clinic B has a running campaign with a due appointment too: clinic A's run must not send it.
    _reminders(app, b.id, active=True)
    create_appointment(b.id, create_patient(b.id, "PB-1", phone="+4915100000099"), starts_in=DUE)

    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(app, tmp_path / "instance"), "outbound", log=log)
    try:
        ui.login("manager-a@example.test")
        page.locator("main").get_by_role("link", name="Clinic A").click()
        page.locator("nav.tenant-nav").get_by_role("link", name=ui.t("Campaigns")).click()
        expect(ui.heading()).to_have_text(ui.t("Campaigns"))
        row = page.locator("main tr", has_text="Reminders")
        expect(row.locator(".badge")).to_have_text(ui.t("Draft"))
        row.get_by_role("link", name="Reminders").click()
        expect(ui.heading()).to_have_text("Reminders")
        expect(page.locator("#progress")).to_contain_text(
            ui.t("No message planned yet. Messages are planned an hour before their time, once the campaign runs.")
        )
        ui.shot("draft")

        # Fake timers from the next page on, paused: the progress poll runs only when the test says so
        # (installed alone, the fake clock still flows with real time, so under load a poll could run early).
        started = datetime.now(UTC)
        page.clock.install(time=started)
        page.clock.pause_at(started + timedelta(seconds=1))
        page.get_by_role("button", name=ui.t("Start campaign")).click()
        expect(ui.flash()).to_contain_text(ui.t("Campaign started: messages go out as their time comes."))
        expect(page.locator("main hgroup .badge")).to_have_text(ui.t("Running"))
        with app.app_context(), tenant_context(a.id):
            assert services.get_campaign(campaign).status == CampaignStatus.ACTIVE
        ui.shot("started")

        # The minute's outbound run for clinic A, in the worker; the provider holds the SMS requests.
        sms.gate.clear()
        with app.app_context():
            get_queue("outbound").enqueue(
                run_outbound, a.id, time_budget_seconds=20, description="app.campaigns.jobs.run_outbound"
            )
        wait_for(lambda: sms.arrived >= 1, what="the worker's first SMS to reach the provider", log=log)

        # Mid-send, without a reload: the poll replaces "nothing planned yet" with the counters of the
        # planned messages, none sent yet; the one without consent is skipped.
        progress = page.locator("#progress")
        expect(progress.locator("[data-when=planned]")).to_be_hidden()
        page.clock.run_for(5_000)
        expect(progress.locator("[data-when=planned]")).to_be_visible()
        expect(progress.locator("[data-when=empty]")).to_be_hidden()
        expect(progress.locator("[data-field=sending]")).to_have_text("3")
        expect(progress.locator("[data-field=sent]")).to_have_text("0")
        expect(progress.locator("[data-field=skipped]")).to_have_text("1")
        expect(progress.locator("progress")).to_have_attribute("max", "4")
        expect(progress.locator("progress")).to_have_js_property("value", 1)
        ui.shot("sending")
        sms.gate.set()
        wait_for(
            lambda: (
                sorted(_messages(app, a.id))
                == sorted(
                    [
                        (MessageStatus.SENT, "en"),
                        (MessageStatus.SENT, "de"),
                        (MessageStatus.SENT, "en"),
                        (MessageStatus.SKIPPED, "en"),
                    ]
                )
            ),
            what="the three SMS recorded as sent",
            log=log,
        )
        # The page polls the progress every 5 seconds: it shows the three sent, without a reload.
        page.clock.run_for(5_000)
        expect(progress.locator("[data-field=sent]")).to_have_text("3")
        expect(progress.locator("[data-field=sending]")).to_have_text("0")
        expect(progress.locator("progress")).to_have_js_property("value", 4)
        ui.shot("sent")

        assert sorted(message["to"] for message in sms.delivered.values()) == [
            "+4915100000001",
            "+4915100000002",
            "+4915100000003",
        ]
        german = next(m for m in sms.delivered.values() if m["to"] == "+4915100000002")
        assert german["body"].startswith("Bis ")
        assert _messages(app, b.id) == []  # clinic B's run was not asked for: nothing planned, nothing sent

        page.get_by_role("link", name=ui.t("Every message with its status")).click()
        expect(page.locator("main tbody tr")).to_have_count(4)
        ui.shot("messages")
    finally:
        sms.gate.set()
        if worker.poll() is None:
            worker.terminate()  # warm shutdown: the worker is idle by now
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_worker(worker)
