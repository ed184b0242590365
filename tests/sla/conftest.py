"""SLA statement fixtures: a month of contacts in a clinic with a price plan and an SLA contract."""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.billing import pricing
from app.extensions import db
from app.hotline.models import Channel, Contact, ContactStatus, Queue, Topic
from app.sla import contracts
from app.sla.models import ServiceLevelConvention, SlaPolicy
from app.sla.services import current_version
from app.tenancy import tenant_context

BERLIN = ZoneInfo("Europe/Berlin")
FEE = Decimal("1234.56")


def last_month() -> date:
    """The month before the (pinned) run's month, in Berlin: the month a close writes now."""
    return (datetime.now(BERLIN).date().replace(day=1) - timedelta(days=1)).replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=BERLIN)
    following = pricing._add_months(month, 1)
    end = datetime(following.year, following.month, 1, tzinfo=BERLIN)
    return start.astimezone(UTC), end.astimezone(UTC)


def contract_terms(phone_queue_id: int | None = None) -> dict:
    return {
        "exclude_closures": True,
        "metrics": [
            {
                "key": "service_level",
                "queue_ids": [phone_queue_id] if phone_queue_id else [],
                "convention": "exclude_short_abandons",
                "target": "80",
                "tiers": [["80", "3"], ["75", "8"]],
            },
            {"key": "asa", "queue_ids": [], "target": "30", "tiers": [["30", "2"]]},
            {"key": "abandonment", "queue_ids": [], "target": "10", "tiers": [["10", "1.5"], ["20", "4"]]},
            {"key": "first_response", "target": "90", "tiers": [["90", "4"]]},
            {"key": "resolution", "target": "90", "tiers": [["90", "5"]]},
        ],
    }


@dataclass
class MonthOfContacts:
    tenant_id: int
    month: date
    phone: int
    chat: int
    mail: int
    rows: list[dict]
    policy_id: int


def make_month(app, tenant_id: int, month: date, *, count: int = 400, seed: int = 18) -> MonthOfContacts:
    """`count` contacts over `month` in a phone, a chat and an e-mail queue, with every outcome.

    Raw rows (the facts a reference recomputes from) are returned beside the contacts written.
    """
    rng = random.Random(seed)
    start, end = month_bounds(month)
    rows = []
    with app.app_context(), tenant_context(tenant_id):
        queues = {}
        for name, channel, target in (
            ("Phone", Channel.PHONE, 30),
            ("Chat", Channel.CHAT, 60),
            ("Mail", Channel.EMAIL, 3600),
        ):
            queue = Queue(
                name=name,
                channel=channel,
                language="en",
                topic=Topic.APPOINTMENTS,
                priority=3,
                in_house=False,
                target_seconds=target,
            )
            db.session.add(queue)
            queues[channel] = queue
        db.session.flush()
        policy = SlaPolicy(
            name="Phone 80/20",
            position=1,
            queue_id=queues[Channel.PHONE].id,
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
        db.session.add_all([policy, mail_policy])
        db.session.flush()
        version = {p.id: current_version(p).id for p in (policy, mail_policy)}
        seconds = int((end - start).total_seconds())
        for i in range(count):
            queue = rng.choice(list(queues.values()))
            judged = (
                policy if queue.channel == Channel.PHONE else (mail_policy if queue.channel == Channel.EMAIL else None)
            )
            offered = start + timedelta(seconds=rng.randint(0, seconds - 1), microseconds=rng.randint(0, 999999))
            due = offered + timedelta(
                seconds=judged.first_response_seconds
                if judged is mail_policy
                else (judged.answer_within_seconds if judged else queue.target_seconds)
            )
            resolution_due = offered + timedelta(hours=24) if judged is mail_policy else None
            outcome = rng.choice(["answered", "answered", "answered", "abandoned", "resolved", "resolved"])
            wait = rng.choice([0, 3, 4, 5, 6, 12, 19, 20, 21, 29, 30, 31, 45, 90, 5000, 20000])
            row = {"status": "waiting", "first_response_at": None, "wait": None, "resolved_at": None}
            if outcome in ("answered", "resolved"):
                row.update(status="assigned", first_response_at=offered + timedelta(seconds=wait), wait=wait)
            if outcome == "resolved":
                row.update(status="resolved", resolved_at=offered + timedelta(seconds=wait + rng.randint(0, 90000)))
            if outcome == "abandoned":
                row.update(status="abandoned", wait=wait, resolved_at=offered + timedelta(seconds=wait))
            target = judged.answer_within_seconds if judged else queue.target_seconds
            short = judged.short_abandon_seconds if judged else 5
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
                sla_policy_id=judged.id if judged else None,
                sla_policy_version_id=version[judged.id] if judged else None,
                answer_target_seconds=target,
                short_abandon_seconds=short,
            )
            db.session.add(contact)
            db.session.flush()
            row.update(
                id=contact.id,
                queue_id=queue.id,
                channel=queue.channel,
                offered_at=offered,
                due_at=due,
                resolution_due_at=resolution_due,
                target=target,
                short=short,
            )
            rows.append(row)
        db.session.commit()
        return MonthOfContacts(
            tenant_id,
            month,
            queues[Channel.PHONE].id,
            queues[Channel.CHAT].id,
            queues[Channel.EMAIL].id,
            rows,
            policy.id,
        )


@pytest.fixture
def statement_clinic(app, create_tenant, create_closure):
    """A clinic with last month's contacts, a plan (base fee 1234.56 EUR) and a contract from last month."""

    def _make(
        slug: str = "statement-clinic",
        *,
        count: int = 400,
        tenant_id: int | None = None,
        fee: Decimal = FEE,
        cap: str = "15",
        mode: str = "per_metric",
    ) -> MonthOfContacts:
        tenant_id = tenant_id or create_tenant(slug)
        month = last_month()
        world = make_month(app, tenant_id, month, count=count)
        with app.app_context(), tenant_context(tenant_id):
            pricing.save_plan(effective_from=month, currency="EUR", base_fee=fee, rates={}, author_id=None)
            contracts.save_contract(
                effective_from=month,
                credit_mode=mode,
                cap_percent=cap,
                terms=contract_terms(world.phone),
                author_id=None,
            )
            db.session.commit()
        return world

    return _make
