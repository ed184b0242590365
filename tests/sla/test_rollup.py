"""The half-hour SLA rollup: reports from it equal the direct SQL and the plain-Python reference,
every kind of contact write keeps it exact, and one clinic cannot read another's rows."""

import importlib.util
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import ProgrammingError

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, ContactStatus, Queue, Topic
from app.sla import metrics
from app.sla import services as sla
from app.sla.metrics import Counts
from app.sla.models import ServiceLevelConvention, SlaClock, SlaPolicy, SlaRollup
from app.tenancy import tenant_context
from tests.sla.test_metrics import reference_counts

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)


def _aware(moment):
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def contact_rows() -> list[dict]:
    """The current tenant's contacts as the plain facts `reference_counts` reads (targets as at their offer)."""
    rows = []
    for contact in db.session.scalars(select(Contact)):
        rows.append(
            {
                "id": contact.id,
                "queue_id": contact.queue_id,
                "version_id": contact.sla_policy_version_id,
                "channel": contact.channel,
                "topic": contact.topic,
                "language": contact.language,
                "status": contact.status.value,
                "offered_at": _aware(contact.offered_at),
                "due_at": _aware(contact.due_at),
                "first_response_at": _aware(contact.first_response_at),
                "resolved_at": _aware(contact.resolved_at),
                "resolution_due_at": _aware(contact.resolution_due_at),
                "wait": contact.wait_seconds,
                "target": contact.answer_target_seconds,
                "short": contact.short_abandon_seconds,
            }
        )
    return rows


def _bucket(moment: datetime) -> datetime:
    return moment - (moment - datetime(2000, 1, 1, tzinfo=UTC)) % HALF_HOUR


def expected_rollup() -> dict[tuple, Counts]:
    """What the rollup must hold: the reference counts per half hour and group, every due time passed."""
    groups = defaultdict(list)
    for row in contact_rows():
        groups[
            (
                _bucket(row["offered_at"]),
                row["queue_id"],
                row["version_id"],
                row["target"],
                row["channel"],
                row["topic"],
                row["language"],
            )
        ].append(row)
    return {key: reference_counts(rows, FAR_FUTURE) for key, rows in groups.items()}


def stored_rollup() -> dict[tuple, Counts]:
    """The rollup's rows of the current tenant, without groups all of whose contacts left."""
    names = [field for field in Counts.__dataclass_fields__]
    result = {}
    for row in db.session.scalars(select(SlaRollup)):
        counts = Counts(**{name: getattr(row, name) for name in names})
        if counts != Counts():
            result[
                (
                    _aware(row.bucket_start),
                    row.queue_id,
                    row.sla_policy_version_id,
                    row.answer_target_seconds,
                    row.channel,
                    row.topic,
                    row.language,
                )
            ] = counts
    return result


def assert_rollup_exact() -> None:
    db.session.flush()
    assert stored_rollup() == expected_rollup()


# --- a month of generated contacts, in several time zones -------------------------------------------

ZONES = {
    # Summer time ends on Sunday 25 October 2026: a 25-hour local day.
    "Europe/Berlin": ("DE", date(2026, 10, 1)),
    # Summer time ends on Sunday 1 November 2026, inside this period.
    "America/New_York": ("US", date(2026, 10, 15)),
    # +10:30 in winter, +11:00 in summer (from Sunday 4 October 2026): half-hour shifts.
    "Australia/Lord_Howe": ("AU", date(2026, 9, 20)),
    # +5:45: local midnights and hours are not on UTC half hours, so days and hours come from contacts.
    "Asia/Kathmandu": ("NP", date(2026, 10, 1)),
}


def _generate(tenant_id: int, time_zone: str, first_day: date, rng: random.Random, agent_id: int) -> SimpleNamespace:
    """About 300 contacts over a month: business-hours and calendar policies, no-policy contacts, holidays
    and a closure, pauses, transfers, abandons (short ones too), late and on-time answers, open ones, and
    callbacks offered after the report's moment."""
    from app.tenants.models import Closure

    zone = ZoneInfo(time_zone)
    start = datetime.combine(first_day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(first_day + timedelta(days=31), datetime.min.time(), zone).astimezone(UTC)
    db.session.add(Closure(day=first_day + timedelta(days=9), reason="Inventory"))
    queues = {}
    for name, channel, language, topic, target in (
        ("Phone EN", Channel.PHONE, "en", Topic.APPOINTMENTS, 30),
        ("Phone DE", Channel.PHONE, "de", Topic.TEST_RESULTS, 45),
        ("Chat", Channel.CHAT, "en", Topic.GENERAL, 60),
        ("Mail", Channel.EMAIL, "en", Topic.BILLING_QUESTIONS, 7200),
        ("Callbacks", Channel.CALLBACK, "en", Topic.APPOINTMENTS, 900),
    ):
        queues[name] = hotline.save_queue(
            None,
            name=name,
            channel=channel,
            language=language,
            topic=topic,
            priority=3,
            in_house=False,
            target_seconds=target,
            team_id=None,
        )
    db.session.flush()
    policies = [
        SlaPolicy(
            name="Phone 80/20",
            position=1,
            channel=Channel.PHONE,
            answer_within_seconds=20,
            short_abandon_seconds=5,
            convention=ServiceLevelConvention.EXCLUDE_SHORT_ABANDONS,
        ),
        SlaPolicy(
            name="Chat 90/40",
            position=2,
            queue_id=queues["Chat"].id,
            service_level_percent=90,
            answer_within_seconds=40,
            short_abandon_seconds=3,
        ),
        SlaPolicy(
            name="Mail office hours",
            position=3,
            channel=Channel.EMAIL,
            answer_within_seconds=60,
            first_response_seconds=4 * 3600,
            resolution_seconds=16 * 3600,
            clock=SlaClock.BUSINESS_HOURS,
            pause_while_waiting_on_patient=True,
        ),
        # Callbacks match no policy: the queue's own target applies.
    ]
    db.session.add_all(policies)
    db.session.flush()
    span = int((end - start).total_seconds())
    moment = start + timedelta(days=20, hours=11, minutes=7)
    names = list(queues)
    contacts = []
    for i in range(300):
        queue = queues[rng.choice(names)]
        if i % 40 == 0:  # crowd the edges of the period and of the DST change
            offered = rng.choice(
                [
                    start,
                    end - timedelta(seconds=1),
                    start + timedelta(seconds=rng.randint(0, 7200)),
                    end - timedelta(seconds=rng.randint(1, 7200)),
                ]
            )
        elif i % 40 == 1:
            offered = moment - timedelta(seconds=rng.randint(0, 6 * 3600))  # still pending at the moment
        else:
            offered = start + timedelta(seconds=rng.randint(0, span - 1))
        contact, _ = hotline.offer_contact(
            queue_id=queue.id, patient_ref=f"G{i}", offered_at=offered, language=rng.choice([queue.language, "de"])
        )
        contact.assigned_to_id = agent_id
        contacts.append(contact)
        if rng.random() < 0.15:  # transferred before anything else happens
            target = queues[rng.choice([name for name in names if queues[name].id != queue.id])]
            hotline.transfer_contact(contact, agent_id, queue_id=target.id, supervisor=True)
            contact.assigned_to_id = agent_id
        if rng.random() < 0.2 and contact.resolution_due_at is not None:  # waited on the patient a while
            paused_from = contact.offered_at + timedelta(minutes=rng.randint(1, 600))
            sla.extend_for_pause(contact, paused_from, paused_from + timedelta(minutes=rng.randint(1, 3000)))
        outcome = rng.choice(
            [
                "answered",
                "answered",
                "resolved",
                "resolved",
                "abandoned",
                "waiting",
                "resolved_unanswered",
                "paused_open",
            ]
        )
        wait = rng.choice([0, 2, 3, 5, 6, 19, 20, 21, 29, 30, 31, 40, 41, 59, 60, 61, 900, 7200, 20000, 90000])
        if outcome in ("answered", "resolved", "paused_open"):
            hotline.record_first_response(contact, agent_id, at=contact.offered_at + timedelta(seconds=wait))
        if outcome in ("resolved", "resolved_unanswered"):
            hotline.resolve_contact(
                contact, agent_id, disposition=hotline.DISPOSITIONS[0], supervisor=True, topic=rng.choice(list(Topic))
            )
            contact.resolved_at = contact.offered_at + timedelta(seconds=wait + rng.randint(0, 100000))
        if outcome == "abandoned":
            contact.status, contact.wait_seconds = ContactStatus.ABANDONED, wait
            contact.resolved_at = contact.offered_at + timedelta(seconds=wait)
        if outcome == "paused_open":
            contact.status = ContactStatus.WAITING_ON_PATIENT
        db.session.flush()
    # Callbacks booked for after the moment, a few beyond the period.
    for i in range(10):
        offered = moment + timedelta(hours=rng.randint(1, 300))
        hotline.offer_contact(queue_id=queues["Callbacks"].id, patient_ref=f"CB{i}", offered_at=offered)
    db.session.commit()
    return SimpleNamespace(start=start, end=end, moment=moment, queues={name: q.id for name, q in queues.items()})


@pytest.fixture(params=sorted(ZONES))
def generated_month(request, app, create_tenant, create_user):
    from app.auth.models import TenantRole

    time_zone = request.param
    country, first_day = ZONES[time_zone]
    tenant_id = create_tenant(f"gen-{country.lower()}", time_zone=time_zone, country_code=country)
    agent = create_user(f"agent-{country.lower()}@example.test", memberships=((tenant_id, TenantRole.AGENT),))
    with app.app_context(), tenant_context(tenant_id):
        world = _generate(tenant_id, time_zone, first_day, random.Random(f"rollup-{time_zone}"), agent)
    world.tenant_id, world.time_zone, world.first_day = tenant_id, time_zone, first_day
    return world


def _moments(world):
    return [world.start - timedelta(days=1), world.moment, world.end + timedelta(days=40)]


def _direct_by_queue(start, end, moment):
    return metrics._direct(
        start,
        end,
        moment,
        lambda s: [s.table.queue_id, s.table.sla_policy_version_id, s.table.answer_target_seconds],
        lambda s: (),
    )


def test_rollup_holds_exactly_the_reference_counts_of_every_half_hour(app, generated_month):
    with app.app_context(), tenant_context(generated_month.tenant_id):
        assert stored_rollup() == expected_rollup()


def test_counts_by_queue_from_the_rollup_equal_direct_sql_and_the_reference(app, generated_month):
    world = generated_month
    # The local month, and a range whose ends fall inside half hours (read from contacts there).
    ranges = [
        (world.start, world.end),
        (world.start + timedelta(minutes=17, seconds=3), world.moment + timedelta(minutes=44)),
    ]
    with app.app_context(), tenant_context(world.tenant_id):
        rows = contact_rows()
        for start, end in ranges:
            for moment in _moments(world):
                expected = defaultdict(list)
                for row in rows:
                    if start <= row["offered_at"] < end:
                        expected[(row["queue_id"], row["version_id"], row["target"])].append(row)
                reference = {key: reference_counts(group, moment) for key, group in expected.items()}
                actual = metrics.counts_by_queue(start, end, moment=moment)
                assert actual == reference, (start, end, moment)
                assert actual == _direct_by_queue(start, end, moment)
        # Some contacts are still ahead of their due times at the moment: the subtraction is exercised.
        assert metrics.counts_by_queue(world.start, world.end, moment=world.moment) != metrics.counts_by_queue(
            world.start, world.end, moment=FAR_FUTURE
        )


def test_counts_by_local_day_equal_direct_sql_and_the_reference(app, generated_month):
    world = generated_month
    zone = ZoneInfo(world.time_zone)
    with app.app_context(), tenant_context(world.tenant_id):
        rows = contact_rows()
        for moment in _moments(world):
            for channels in (None, ("phone", "chat")):
                expected = defaultdict(list)
                for row in rows:
                    if world.start <= row["offered_at"] < world.end and (
                        channels is None or row["channel"].value in channels
                    ):
                        expected[(row["offered_at"].astimezone(zone).date(), row["version_id"])].append(row)
                actual = metrics.counts_by_day(
                    world.start, world.end, world.time_zone, moment=moment, channels=channels
                )
                assert actual == {key: reference_counts(group, moment) for key, group in expected.items()}
                direct = metrics._direct(
                    world.start,
                    world.end,
                    moment,
                    lambda s: [
                        metrics.func.date(metrics._local(s.table.offered_at, world.time_zone)),
                        s.table.sla_policy_version_id,
                    ],
                    metrics._in_channels(channels),
                )
                assert actual == direct


def test_heat_map_and_breakdowns_equal_the_reference(app, generated_month):
    world = generated_month
    zone = ZoneInfo(world.time_zone)
    with app.app_context(), tenant_context(world.tenant_id):
        rows = [row for row in contact_rows() if world.start <= row["offered_at"] < world.end]
        heat, by_language_queue = defaultdict(int), defaultdict(int)
        queue_id = world.queues["Phone EN"]
        for row in rows:
            local = row["offered_at"].astimezone(zone)
            heat[(local.isoweekday(), local.hour)] += 1
            if row["language"] == "de" and row["queue_id"] == queue_id:
                by_language_queue[(local.isoweekday(), local.hour)] += 1
        assert metrics.offered_by_hour(world.start, world.end, world.time_zone) == dict(heat)
        assert metrics.offered_by_hour(
            world.start, world.end, world.time_zone, language="de", queue_id=queue_id
        ) == dict(by_language_queue)
        for dimension in ("topic", "language", "channel"):
            expected = defaultdict(int)
            for row in rows:
                value = row[dimension]
                expected[getattr(value, "value", value)] += 1
            assert metrics.offered_by(dimension, world.start, world.end) == dict(expected)


def test_the_month_report_equals_the_report_read_from_contacts(app, generated_month, monkeypatch):
    """The whole dashboard report from the rollup, and from contacts only (what a range without a whole half hour
    reads, and a clinic whose zone is off the half hours)."""
    from app.reports.services import Period, build_report

    world = generated_month
    period = Period("month", world.first_day, world.first_day + timedelta(days=30), world.time_zone)
    with app.app_context(), tenant_context(world.tenant_id):
        from_rollup = build_report(period, moment=world.moment)
        # No whole half hour in any range: every count is read from the contacts.
        monkeypatch.setattr(metrics, "_bucket_ceil", lambda moment: datetime.max.replace(tzinfo=UTC))
        from_contacts = build_report(period, moment=world.moment)
    assert from_rollup == from_contacts
    assert from_rollup.total.offered > 250


def test_monthly_csv_over_http_matches_the_reference(app, generated_month, login_as, create_user):
    import csv
    import io

    from app.auth.models import TenantRole

    world = generated_month
    admin = create_user("gen-admin@example.test", memberships=((world.tenant_id, TenantRole.CLINIC_ADMIN),))
    last_day = world.first_day + timedelta(days=30)
    with app.app_context(), tenant_context(world.tenant_id):
        rows = [row for row in contact_rows() if world.start <= row["offered_at"] < world.end]
        slug = db.session.scalar(text("SELECT slug FROM tenants WHERE id = :t"), {"t": world.tenant_id})
    response = login_as(admin).get(f"/t/{slug}/sla.csv?period=custom&start={world.first_day}&end={last_day}")
    assert response.status_code == 200
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).split("\n", 1)[1])))
    assert sum(int(line["offered"]) for line in table) == len(rows)
    # The counts that do not depend on the moment, per queue name.
    by_queue = defaultdict(list)
    names = {queue_id: name for name, queue_id in world.queues.items()}
    for row in rows:
        by_queue[names[row["queue_id"]]].append(row)
    for name, group in by_queue.items():
        lines = [line for line in table if line["queue"] == name]
        counts = reference_counts(group, datetime.now(UTC))
        assert sum(int(line["offered"]) for line in lines) == counts.offered
        assert sum(int(line["abandoned"]) for line in lines) == counts.abandoned
        assert sum(int(line["answered_within_target"]) for line in lines) == counts.answered_within


# --- every kind of write keeps it exact ---------------------------------------------------------------


@pytest.fixture
def small_clinic(app, two_tenants, create_queue, set_languages):
    a = two_tenants.a
    phone = create_queue(a.id, "Phone EN", target_seconds=60)
    mail = create_queue(
        a.id, "Mail", channel=Channel.EMAIL, language="de", topic=Topic.TEST_RESULTS, target_seconds=3600
    )
    set_languages(a.agent, "en", "de")
    with app.app_context(), tenant_context(a.id):
        db.session.add(
            SlaPolicy(name="Phone 80/20", position=1, queue_id=phone, answer_within_seconds=20, short_abandon_seconds=5)
        )
        db.session.commit()
    return SimpleNamespace(world=two_tenants, tenant=a.id, agent=a.agent, phone=phone, mail=mail)


def test_offers_claims_answers_transfers_pauses_resolves_abandons_and_deletes_keep_it_exact(app, small_clinic):
    c = small_clinic
    base = datetime.now(UTC) - timedelta(hours=3)
    with app.app_context(), tenant_context(c.tenant):
        contacts = [
            hotline.offer_contact(
                queue_id=c.phone if i % 2 else c.mail, patient_ref=f"S{i}", offered_at=base + timedelta(minutes=13 * i)
            )[0]
            for i in range(8)
        ]
        assert_rollup_exact()
        db.session.commit()
        claimed = db.session.get(Contact, hotline.claim_next_contact(c.agent))
        assert_rollup_exact()
        hotline.record_first_response(claimed, c.agent, at=_aware(claimed.offered_at) + timedelta(seconds=25))
        assert_rollup_exact()
        hotline.transfer_contact(contacts[1], c.agent, queue_id=c.mail, supervisor=True)  # phone -> mail, en
        assert_rollup_exact()
        hotline.transfer_contact(contacts[2], c.agent, queue_id=c.mail, language="en", supervisor=True)
        assert_rollup_exact()
        contacts[3].assigned_to_id = c.agent
        hotline.wait_on_patient(contacts[3], c.agent)
        hotline.resume(contacts[3], c.agent)
        assert_rollup_exact()
        hotline.resolve_contact(
            contacts[4], c.agent, disposition=hotline.DISPOSITIONS[0], topic=Topic.COMPLAINTS, supervisor=True
        )
        assert_rollup_exact()
        contacts[5].status, contacts[5].wait_seconds = ContactStatus.ABANDONED, 4
        assert_rollup_exact()
        contacts[6].offered_at = _aware(contacts[6].offered_at) - timedelta(days=2)  # moves to another half hour
        assert_rollup_exact()
        db.session.delete(contacts[7])
        assert_rollup_exact()
        db.session.commit()
        assert_rollup_exact()


def test_bulk_statements_keep_it_exact(app, small_clinic):
    c = small_clinic
    base = datetime(2026, 10, 25, 0, 40, tzinfo=UTC)
    with app.app_context(), tenant_context(c.tenant):
        for i in range(30):
            hotline.offer_contact(
                queue_id=(c.phone, c.mail)[i % 2], patient_ref=f"B{i}", offered_at=base + timedelta(minutes=7 * i)
            )
        db.session.commit()
        db.session.execute(
            update(Contact)
            .where(Contact.id % 3 == 0)
            .values(status=ContactStatus.ABANDONED, wait_seconds=Contact.id % 11)
        )
        assert_rollup_exact()
        db.session.execute(
            update(Contact)
            .where(Contact.id % 3 == 1)
            .values(first_response_at=Contact.offered_at + timedelta(seconds=18), wait_seconds=18)
        )
        assert_rollup_exact()
        db.session.execute(delete(Contact).where(Contact.id % 5 == 0))
        assert_rollup_exact()
        db.session.commit()


def test_editing_a_target_moves_no_count_of_contacts_already_offered(app, small_clinic):
    """Targets are those in force at the offer: an edit judges only the contacts offered after it."""
    c = small_clinic
    base = datetime.now(UTC) - timedelta(days=1)

    def offer_batch(minute: int, tag: str) -> None:
        for i, wait in enumerate([3, 10, 19, 20, 21, 40, 59, 60, 61, 200]):
            for queue in (c.phone, c.mail):
                contact, _ = hotline.offer_contact(
                    queue_id=queue, patient_ref=f"{tag}{i}", offered_at=base + timedelta(minutes=minute + i)
                )
                if i % 3 == 0:
                    contact.status, contact.wait_seconds = ContactStatus.ABANDONED, wait
                else:
                    hotline.record_first_response(contact, c.agent, at=contact.offered_at + timedelta(seconds=wait))

    with app.app_context(), tenant_context(c.tenant):
        offer_batch(0, "T")
        db.session.commit()
        window = (base, base + timedelta(minutes=30))
        before, rollup_before = metrics.counts_by_queue(*window), stored_rollup()
        policy = db.session.scalar(select(SlaPolicy))
        sla.save_policy(policy, **_policy_values(policy, answer_within_seconds=60, short_abandon_seconds=30))
        mail = db.session.get(Queue, c.mail)
        hotline.save_queue(
            mail,
            name=mail.name,
            channel=mail.channel,
            language=mail.language,
            topic=mail.topic,
            priority=mail.priority,
            in_house=False,
            target_seconds=20,
            team_id=None,
        )
        db.session.commit()
        assert metrics.counts_by_queue(*window) == before and stored_rollup() == rollup_before
        # Contacts offered after the edit are judged by the new targets, in rows of their own.
        offer_batch(40, "N")
        db.session.commit()
        assert_rollup_exact()
        after = metrics.counts_by_queue(base, base + timedelta(hours=1))
        new_version = sla.current_version(policy).id
        assert set(after) == set(before) | {(c.phone, new_version, 60), (c.mail, None, 20)}
        assert (
            after[(c.phone, new_version, 60)].answered_within
            > before[next(key for key in before if key[0] == c.phone)].answered_within
        )


def _policy_values(policy: SlaPolicy, **changes) -> dict:
    names = (
        "name",
        "position",
        "queue_id",
        "channel",
        "topic",
        "min_priority",
        "service_level_percent",
        "answer_within_seconds",
        "max_asa_seconds",
        "max_abandon_percent",
        "short_abandon_seconds",
        "convention",
        "first_response_seconds",
        "resolution_seconds",
        "clock",
        "pause_while_waiting_on_patient",
        "warn_at_percent",
    )
    return {name: changes.get(name, getattr(policy, name)) for name in names}


def test_backfill_of_the_migration_rebuilds_the_same_rollup(app, small_clinic, owner_engine):
    c = small_clinic
    with app.app_context(), tenant_context(c.tenant):
        for i in range(12):
            contact, _ = hotline.offer_contact(
                queue_id=(c.phone, c.mail)[i % 2],
                patient_ref=f"F{i}",
                offered_at=datetime.now(UTC) - timedelta(hours=i),
            )
            if i % 4 == 0:
                hotline.record_first_response(contact, c.agent, at=contact.offered_at + timedelta(seconds=i))
        db.session.commit()
        kept = stored_rollup()
    spec = importlib.util.spec_from_file_location(
        "rollup_migration", Path(__file__).parents[2] / "migrations" / "versions" / "0018_sla_snapshot.py"
    )
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with owner_engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.all_tenants', 'on', true)"))
        conn.execute(text("DELETE FROM sla_rollups"))
        conn.execute(text(migration.apply_sql("(SELECT 1 AS sign, x.* FROM contacts x)")))
    with app.app_context(), tenant_context(c.tenant):
        assert stored_rollup() == kept == expected_rollup()


# --- isolation ----------------------------------------------------------------------------------------


def _rollup_of_both(app, small_clinic, create_queue):
    world = small_clinic.world
    other = create_queue(world.b.id, "Phone B")
    with app.app_context():
        for tenant, queue in ((world.a.id, small_clinic.phone), (world.b.id, other)):
            with tenant_context(tenant):
                hotline.offer_contact(queue_id=queue, patient_ref="I1")
                db.session.commit()
    return world


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_clinic_a_reads_none_of_clinic_bs_rollup_even_with_raw_sql(app, small_clinic, create_queue):
    world = _rollup_of_both(app, small_clinic, create_queue)
    with app.app_context():
        with tenant_context(world.a.id):
            assert {row[0] for row in db.session.execute(text("SELECT tenant_id FROM sla_rollups"))} == {world.a.id}
            assert (
                db.session.execute(
                    text("SELECT count(*) FROM sla_rollups WHERE tenant_id = :b"), {"b": world.b.id}
                ).scalar_one()
                == 0
            )
            assert {row.tenant_id for row in db.session.scalars(select(SlaRollup))} == {world.a.id}
        db.session.rollback()
        assert db.session.execute(text("SELECT count(*) FROM sla_rollups")).scalar_one() == 0
        db.session.rollback()


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_clinic_a_cannot_write_into_clinic_bs_rollup(app, small_clinic, create_queue):
    world = _rollup_of_both(app, small_clinic, create_queue)
    with app.app_context():
        with tenant_context(world.a.id):
            changed = db.session.execute(
                text("UPDATE sla_rollups SET offered = offered + 100 WHERE tenant_id = :b"), {"b": world.b.id}
            ).rowcount
            assert changed == 0
            with pytest.raises(ProgrammingError, match="row-level security"):
                db.session.execute(
                    text(
                        "INSERT INTO sla_rollups (tenant_id, bucket_start, queue_id, channel, topic, language, offered)"
                        " SELECT :b, now(), 1, 'phone', 'general', 'en', 1"
                    ),
                    {"b": world.b.id},
                )
        db.session.rollback()
        with tenant_context(world.b.id):
            assert sum(row.offered for row in db.session.scalars(select(SlaRollup))) == 1
            queue = db.session.scalar(select(Queue))
            assert metrics.counts_by_queue(
                datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
            ).keys() == {(queue.id, None, queue.target_seconds)}
        db.session.rollback()
