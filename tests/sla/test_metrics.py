"""SQL metrics agree with a plain-Python reference of the definitions in docs/sla.md."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.extensions import db
from app.hotline.models import Channel, Contact, ContactStatus, Queue, Topic
from app.sla import metrics
from app.sla.metrics import Counts
from app.sla.models import ServiceLevelConvention, SlaPolicy
from app.sla.services import current_version
from app.tenancy import tenant_context

BERLIN = ZoneInfo("Europe/Berlin")
# October 2026 in Berlin: summer time ends on Sunday 25 October (03:00 CEST -> 02:00 CET).
PERIOD_START = datetime(2026, 10, 1, tzinfo=BERLIN).astimezone(UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=BERLIN).astimezone(UTC)
NOW = datetime(2026, 11, 15, tzinfo=UTC)


def reference_counts(rows: list[dict], moment: datetime) -> Counts:
    """docs/sla.md, section 2, literally: one contact at a time."""
    c = defaultdict(int)
    for r in rows:
        target, short = r["target"], r["short"]
        answered = r["first_response_at"] is not None
        abandoned = r["status"] == "abandoned"
        c["offered"] += 1
        if answered:
            c["answered"] += 1
            c["wait_seconds_answered"] += r["wait"]
            c["answered_within"] += r["wait"] <= target
        if abandoned:
            c["abandoned"] += 1
            c["abandoned_within"] += r["wait"] <= target
            c["short_abandons"] += r["wait"] < short
        if answered or (r["due_at"] < moment and not abandoned):
            c["first_response_due"] += 1
        if answered and r["first_response_at"] <= r["due_at"]:
            c["first_response_met"] += 1
        resolution_due = (
            r["resolution_due_at"] is not None
            and not abandoned
            and (r["status"] == "resolved" or r["resolution_due_at"] < moment)
        )
        if resolution_due:
            c["resolution_due"] += 1
            c["resolution_met"] += r["status"] == "resolved" and r["resolved_at"] <= r["resolution_due_at"]
        late = (answered and r["first_response_at"] > r["due_at"]) or (
            not answered and not abandoned and r["due_at"] < moment
        )
        c["breaches"] += late
    return Counts(**c)


@pytest.fixture
def month_of_contacts(app, create_tenant):
    """600 contacts over October 2026 in two queues and three policies, with every outcome."""
    rng = random.Random(20261123)
    tenant_id = create_tenant("metrics-clinic")
    rows = []
    with app.app_context(), tenant_context(tenant_id):
        phone = Queue(
            name="Phone",
            channel=Channel.PHONE,
            language="en",
            topic=Topic.APPOINTMENTS,
            priority=3,
            in_house=False,
            target_seconds=30,
        )
        mail = Queue(
            name="Mail",
            channel=Channel.EMAIL,
            language="en",
            topic=Topic.TEST_RESULTS,
            priority=2,
            in_house=False,
            target_seconds=3600,
        )
        db.session.add_all([phone, mail])
        db.session.flush()
        strict = SlaPolicy(
            name="80/20",
            position=1,
            queue_id=phone.id,
            answer_within_seconds=20,
            short_abandon_seconds=5,
            convention=ServiceLevelConvention.EXCLUDE_SHORT_ABANDONS,
        )
        mail_policy = SlaPolicy(
            name="Mail 4h",
            position=2,
            channel=Channel.EMAIL,
            answer_within_seconds=60,
            first_response_seconds=4 * 3600,
            resolution_seconds=24 * 3600,
        )
        db.session.add_all([strict, mail_policy])
        db.session.flush()
        version = {policy.id: current_version(policy).id for policy in (strict, mail_policy)}
        for i in range(600):
            queue = rng.choice([phone, mail])
            # A third of the phone contacts predate the policy: no policy, the queue's 30 s target.
            policy = (strict if rng.random() > 0.33 else None) if queue is phone else mail_policy
            offered = PERIOD_START + timedelta(seconds=rng.randint(0, int((PERIOD_END - PERIOD_START).total_seconds())))
            if i % 50 == 0:
                offered = PERIOD_END - timedelta(seconds=rng.randint(1, 3600))
            due = offered + timedelta(
                seconds=policy.first_response_seconds
                if policy is mail_policy
                else (policy.answer_within_seconds if policy else queue.target_seconds)
            )
            resolution_due = offered + timedelta(hours=24) if policy is mail_policy else None
            outcome = rng.choice(["answered", "answered", "answered", "abandoned", "waiting", "resolved"])
            wait = rng.choice([0, 3, 4, 5, 6, 19, 20, 21, 29, 30, 31, 90, 5000, 20000])
            row = {"status": "waiting", "first_response_at": None, "wait": None, "resolved_at": None}
            if outcome in ("answered", "resolved"):
                row.update(status="assigned", first_response_at=offered + timedelta(seconds=wait), wait=wait)
            if outcome == "resolved":
                row.update(status="resolved", resolved_at=offered + timedelta(seconds=wait + rng.randint(0, 90000)))
            if outcome == "abandoned":
                row.update(status="abandoned", wait=wait, resolved_at=offered + timedelta(seconds=wait))
            target = policy.answer_within_seconds if policy else queue.target_seconds
            short = policy.short_abandon_seconds if policy else 5
            contact = Contact(
                queue_id=queue.id,
                channel=queue.channel,
                language="en",
                topic=queue.topic,
                priority=3,
                status=ContactStatus(row["status"]),
                patient_ref=f"P{i}",
                offered_at=offered,
                due_at=due,
                resolution_due_at=resolution_due,
                first_response_at=row["first_response_at"],
                resolved_at=row["resolved_at"],
                wait_seconds=row["wait"],
                sla_policy_id=policy.id if policy else None,
                sla_policy_version_id=version[policy.id] if policy else None,
                answer_target_seconds=target,
                short_abandon_seconds=short,
            )
            db.session.add(contact)
            row.update(
                queue_id=queue.id,
                version_id=version[policy.id] if policy else None,
                offered_at=offered,
                due_at=due,
                resolution_due_at=resolution_due,
                target=target,
                short=short,
            )
            rows.append(row)
        db.session.commit()
    return tenant_id, rows


def test_counts_by_queue_match_the_reference(app, month_of_contacts):
    tenant_id, rows = month_of_contacts
    expected = defaultdict(list)
    for row in rows:
        expected[(row["queue_id"], row["version_id"], row["target"])].append(row)
    with app.app_context(), tenant_context(tenant_id):
        actual = metrics.counts_by_queue(PERIOD_START, PERIOD_END, moment=NOW)
    assert set(actual) == set(expected)
    for key, group in expected.items():
        assert actual[key] == reference_counts(group, NOW), key


def test_counts_by_local_day_match_the_reference_across_daylight_saving(app, month_of_contacts):
    tenant_id, rows = month_of_contacts
    expected = defaultdict(list)
    for row in rows:
        expected[(row["offered_at"].astimezone(BERLIN).date(), row["version_id"])].append(row)
    with app.app_context(), tenant_context(tenant_id):
        actual = metrics.counts_by_day(PERIOD_START, PERIOD_END, "Europe/Berlin", moment=NOW)
    assert set(actual) == set(expected)
    assert len({day for day, _ in actual}) == 31
    for key, group in expected.items():
        assert actual[key] == reference_counts(group, NOW), key


def test_heat_map_counts_by_local_weekday_and_hour(app, month_of_contacts):
    tenant_id, rows = month_of_contacts
    expected = defaultdict(int)
    for row in rows:
        local = row["offered_at"].astimezone(BERLIN)
        expected[(local.isoweekday(), local.hour)] += 1
    with app.app_context(), tenant_context(tenant_id):
        assert metrics.offered_by_hour(PERIOD_START, PERIOD_END, "Europe/Berlin") == dict(expected)


@pytest.mark.tenant_isolation
def test_metrics_of_another_clinic_are_not_counted(app, month_of_contacts, create_tenant):
    _tenant_id, _rows = month_of_contacts
    other = create_tenant("empty-clinic")
    with app.app_context(), tenant_context(other):
        assert metrics.counts_by_queue(PERIOD_START, PERIOD_END, moment=NOW) == {}


# --- the formulas, on hand-made counts ---------------------------------------------------------------

COUNTS = Counts(
    offered=100,
    answered=80,
    answered_within=60,
    abandoned=20,
    abandoned_within=12,
    short_abandons=8,
    wait_seconds_answered=1600,
)


@pytest.mark.parametrize(
    ("convention", "expected"),
    [
        (ServiceLevelConvention.ANSWERED_OF_OFFERED, Decimal("60.00")),  # 60 / 100
        (ServiceLevelConvention.EXCLUDE_SHORT_ABANDONS, Decimal("65.22")),  # 60 / 92
        (ServiceLevelConvention.EXCLUDE_ABANDONS_WITHIN_TARGET, Decimal("68.18")),  # 60 / 88
        (ServiceLevelConvention.ABANDONS_WITHIN_TARGET_COUNT_AS_MET, Decimal("72.00")),  # 72 / 100
        (ServiceLevelConvention.ANSWERED_ONLY, Decimal("75.00")),  # 60 / 80
    ],
)
def test_service_level_conventions(convention, expected):
    assert metrics.service_level(COUNTS, convention) == expected


def test_asa_and_abandonment():
    assert metrics.average_speed_of_answer(COUNTS) == Decimal("20.0")
    assert metrics.abandonment_rate(COUNTS) == Decimal("20.00")
    assert metrics.abandonment_rate(COUNTS, exclude_short=True) == Decimal("13.04")  # 12 / 92


def test_an_interval_without_contacts_has_no_service_level():
    empty = Counts()
    assert metrics.service_level(empty, ServiceLevelConvention.ANSWERED_OF_OFFERED) is None
    assert metrics.average_speed_of_answer(empty) is None
    assert metrics.abandonment_rate(empty) is None


# --- one rule for waits, and verdicts before rounding ------------------------------------------------


def test_a_wait_is_compared_exactly_so_within_target_and_breach_never_disagree(app, create_tenant):
    """20.4 s answered against 20 s: not within target and a breach; 20.0 s: within and on time.
    Hung up after 4.5 s with a 5 s threshold: a short abandon; after 20.5 s: not within target."""
    from app.hotline import services as hotline
    from app.sla import services as sla

    tenant_id = create_tenant("exact-waits")
    offered = datetime(2026, 10, 14, 10, 0, tzinfo=UTC)
    with app.app_context(), tenant_context(tenant_id):
        phone = Queue(
            name="Phone",
            channel=Channel.PHONE,
            language="en",
            topic=Topic.APPOINTMENTS,
            priority=3,
            in_house=False,
            target_seconds=60,
        )
        db.session.add(phone)
        db.session.flush()
        sla.save_policy(
            None,
            name="80/20",
            service_level_percent=80,
            answer_within_seconds=20,
            short_abandon_seconds=5,
            queue_id=phone.id,
        )
        answered = {"late": 20.4, "on time": 20.0}
        for ref, wait in answered.items():
            contact, _ = hotline.offer_contact(queue_id=phone.id, patient_ref=ref.replace(" ", ""), offered_at=offered)
            hotline.record_first_response(contact, None, at=offered + timedelta(seconds=wait))
            assert contact.wait_seconds == Decimal(str(wait))
        for ref, wait in (("short", Decimal("4.5")), ("long", Decimal("20.5"))):
            contact, _ = hotline.offer_contact(queue_id=phone.id, patient_ref=ref, offered_at=offered)
            contact.status, contact.wait_seconds = ContactStatus.ABANDONED, wait
            contact.resolved_at = offered + timedelta(seconds=float(wait))
        db.session.commit()
        for start, end in (
            (offered, offered + timedelta(hours=1)),  # whole half hours: the rollup
            (offered + timedelta(seconds=-7), offered + timedelta(minutes=7)),
        ):  # contacts
            [counts] = metrics.counts_by_queue(start, end, moment=NOW).values()
            assert (counts.answered, counts.answered_within, counts.breaches) == (2, 1, 1)
            assert (counts.abandoned, counts.abandoned_within, counts.short_abandons) == (2, 1, 1)
            assert counts.wait_seconds_answered == Decimal("40.4")
            assert metrics.average_speed_of_answer(counts) == Decimal("20.2")


def _row(within: int, *, asa_total=0, abandoned=0, **maxima):
    from app.reports.services import QueueRow

    counts = Counts(
        offered=25_000 + abandoned,
        answered=25_000,
        answered_within=within,
        abandoned=abandoned,
        wait_seconds_answered=Decimal(asa_total),
    )
    return QueueRow(
        queue_name="Phone",
        channel="phone",
        policy_name="80/20",
        convention=ServiceLevelConvention.ANSWERED_ONLY,
        service_level_target=Decimal("80.00"),
        answer_within_seconds=20,
        counts=counts,
        **maxima,
    )


def test_79_996_percent_is_shown_as_80_00_and_misses_an_80_percent_target():
    short = _row(19_999)  # 79.996 %
    assert short.service_level == Decimal("80.00") and short.meets_target is False
    assert _row(20_000).meets_target is True


def test_an_asa_or_abandonment_just_over_its_maximum_is_over_however_it_is_rounded():
    """An ASA of 30.04 s (shown 30.0) and 5.004 % abandoned (shown 5.00) exceed 30 s and 5 %."""
    maxima = {"max_asa_seconds": 30, "max_abandon_percent": Decimal(5)}
    slow = _row(20_000, asa_total=751_000, **maxima)
    assert slow.asa == Decimal("30.0") and slow.asa_over_target
    assert not _row(20_000, asa_total=750_000, **maxima).asa_over_target
    leaving = _row(20_000, abandoned=1_317, **maxima)  # 1,317 of 26,317 offered
    assert leaving.abandonment == Decimal("5.00") and leaving.abandonment_over_target
