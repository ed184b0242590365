"""Dispatch in batches: one connection per channel for a batch, the clinic's rate limit, confirmation in chunks."""

from sqlalchemy import event, select, text

from app.billing.models import UsageRecord
from app.campaigns import dispatch, planning, services
from app.campaigns.models import MessageStatus, OutboundMessage
from app.extensions import db
from app.patients.models import MessageChannel
from app.tenancy import tenant_context
from tests.campaigns.conftest import DUE_FIRST_STEP, now, run_outbound_worker
from tests.campaigns.test_outbound import _enqueue_run, _messages


def _patients_with_due_reminders(a, create_patient, create_appointment, count: int) -> None:
    for n in range(count):
        patient = create_patient(a.id, f"P-{n}", email=f"patient{n}@example.org", phone=f"+49151123456{n:02d}")
        create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)


def test_a_run_reuses_one_smtp_and_one_http_connection_per_sender_thread(
    app, two_tenants, sms, mailbox, smtp, create_patient, create_appointment, reminder_campaign, monkeypatch
):
    a = two_tenants.a
    reminder_campaign(a.id)  # SMS first
    reminder_campaign(a.id, channel_first=MessageChannel.EMAIL)
    _patients_with_due_reminders(a, create_patient, create_appointment, 6)
    monkeypatch.setattr(dispatch, "SENDERS", 2)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)

    assert len(sms.delivered) == 6 and sms.connections <= 2
    assert sorted(m["To"] for m in mailbox) == sorted(f"patient{n}@example.org" for n in range(6))
    assert len(set(smtp[0].peers)) <= 2
    messages = _messages(app, a.id)
    assert [m.status for m in messages] == [MessageStatus.SENT] * 12
    with app.app_context(), tenant_context(a.id):
        usage = sorted(db.session.execute(select(UsageRecord.source_key, UsageRecord.channel)).all())
    assert usage == sorted((f"message:{m.id}", m.channel.value) for m in messages)


def test_the_clinics_rate_limit_holds_back_what_exceeds_it(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign
):
    a = two_tenants.a
    reminder_campaign(a.id)
    _patients_with_due_reminders(a, create_patient, create_appointment, 3)
    with app.app_context(), tenant_context(a.id):
        settings = services.outbound_settings()
        services.save_outbound_settings(
            rate_per_minute=2, quiet_from=settings.quiet_from, quiet_until=settings.quiet_until
        )
        planning.plan_messages()
        db.session.commit()
        first = dispatch.dispatch_due(time_budget_seconds=5)
        again = dispatch.dispatch_due(time_budget_seconds=5)  # within the same minute: nothing more
    assert (first.sent, first.more_due) == (2, True)
    assert (again.sent, again.more_due) == (0, True)
    assert len(sms.delivered) == 2
    statuses = sorted(m.status for m in _messages(app, a.id))
    assert statuses == sorted([MessageStatus.SENT, MessageStatus.SENT, MessageStatus.SCHEDULED])


def test_sent_messages_are_confirmed_in_chunks_during_a_batch(
    app, two_tenants, sms, create_patient, create_appointment, reminder_campaign, monkeypatch
):
    """A chunk is committed as sent (with its usage) while the batch goes on: at most two chunks are open."""
    a = two_tenants.a
    reminder_campaign(a.id)
    _patients_with_due_reminders(a, create_patient, create_appointment, 3)
    monkeypatch.setattr(dispatch, "CONFIRM_EVERY", 1)
    with app.app_context(), tenant_context(a.id):
        planning.plan_messages()
        db.session.commit()
        ids = dispatch.claim_due(now(), 10).ids
        db.session.commit()
        clinic = dispatch._Clinic(db.session.get(dispatch.Tenant, a.id))
        seen_by_third = []
        original = dispatch.channels.Channels.send_sms

        def observe(self, *args, **kwargs):
            if len(sms.requests) == 2:  # about to send the third: read what another session sees
                with app.app_context(), tenant_context(a.id):
                    seen_by_third.extend(
                        db.session.scalars(select(OutboundMessage.status).order_by(OutboundMessage.id))
                    )
            return original(self, *args, **kwargs)

        monkeypatch.setattr(dispatch.channels.Channels, "send_sms", observe)
        result = dispatch.DispatchResult()
        with dispatch.SenderPool(size=1) as pool:
            dispatch.send_batch(ids, clinic, pool, result)
    assert result.sent == 3
    # When the third is sent, the first chunk is confirmed; the second may be; the third is not.
    assert seen_by_third[0] == MessageStatus.SENT and seen_by_third[2] == MessageStatus.SENDING
    assert [m.status for m in _messages(app, a.id)] == [MessageStatus.SENT] * 3


def test_the_claim_reads_only_the_messages_still_to_send_however_long_the_history(
    app, owner_engine, two_tenants, create_patient, create_appointment, reminder_campaign
):
    """Under RLS `status = 'scheduled'` cannot be an index condition (enum equality is not leakproof): through
    an index on (tenant, status, send_at) the claim read every past message of the clinic. The partial index
    of pending messages keeps it to what is still to send."""
    a = two_tenants.a
    reminder_campaign(a.id)
    _patients_with_due_reminders(a, create_patient, create_appointment, 3)
    with app.app_context(), tenant_context(a.id):
        planning.plan_messages()
        db.session.commit()
    with owner_engine.begin() as owner:  # a year of history: 3,000 messages sent long ago
        owner.execute(
            text("""
            INSERT INTO outbound_messages (tenant_id, campaign_id, step_id, appointment_id, patient_id, channel,
                                           language, dedupe_key, token, status, send_at, attempts, sent_at)
            SELECT tenant_id, campaign_id, step_id, appointment_id, patient_id, channel, language,
                   'old-' || id || '-' || n, 'old-token-' || id || '-' || n, 'sent', :now - n * interval '1 hour', 1,
                   :now - n * interval '1 hour'
              FROM outbound_messages CROSS JOIN generate_series(1, 1000) AS n
             WHERE tenant_id = :tenant"""),
            {"tenant": a.id, "now": now()},
        )
        owner.execute(text("ANALYZE outbound_messages"))
    plans = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("UPDATE outbound_messages SET status"):
            cursor.execute("SAVEPOINT explained")  # EXPLAIN ANALYZE runs the claim: undo it, then run it for real
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            plans.append(cursor.fetchone()[0][0]["Plan"])
            cursor.execute("ROLLBACK TO SAVEPOINT explained")

    with app.app_context(), tenant_context(a.id):
        event.listen(db.engine, "before_cursor_execute", explain)
        try:
            claimed = dispatch.claim_due(now(), 10).ids
        finally:
            event.remove(db.engine, "before_cursor_execute", explain)
        db.session.rollback()

    def scans(node):
        yield node
        for child in node.get("Plans", []):
            yield from scans(child)

    message_scans = [
        n
        for n in scans(plans[0])
        if n.get("Relation Name") == "outbound_messages" and n.get("Alias") != "outbound_messages"
    ]
    assert len(claimed) == 3
    assert [n.get("Index Name") for n in message_scans] == ["ix_outbound_messages_pending"]
    assert message_scans[0]["Actual Rows"] == 3  # not the 3,000 sent ones
