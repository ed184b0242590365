"""The month close: statement figures against a plain-Python reference over the raw rows, credits to the cent,
one credit however often (and however concurrently) the close runs, and statements that never move."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.billing.models import UsageKind, UsageRecord
from app.extensions import db, redis_connection
from app.hotline.models import Channel
from app.jobs import DEFAULT, get_queue
from app.sla import contracts, statements
from app.sla.contract_models import SlaStatement
from app.sla.jobs import close_statements, schedule_statement_close
from app.sla.models import SlaPolicy
from app.tenancy import tenant_context
from app.tenants.services import get_tenant
from tests.infra.burst_worker import BurstWorker
from tests.sla.conftest import BERLIN, FEE, contract_terms, month_bounds
from tests.sla.test_metrics import reference_counts


def _close(app, tenant_id, now=None):
    with app.app_context(), tenant_context(tenant_id):
        written = statements.close_due_statements(tenant_id, now)
        db.session.commit()
        return written


def _statement(app, tenant_id) -> SlaStatement:
    with app.app_context(), tenant_context(tenant_id):
        [statement] = statements.statements()
        db.session.expunge_all()
        return statement


def _credits(app, tenant_id) -> list[UsageRecord]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(
            select(UsageRecord).where(UsageRecord.kind == UsageKind.SLA_CREDIT).order_by(UsageRecord.id)
        ).all()
        db.session.expunge_all()
        return rows


def _share_percent(numerator, denominator) -> Fraction | None:
    return None if denominator <= 0 else Fraction(numerator) * 100 / Fraction(denominator)


def _shown(value: Fraction | None) -> str | None:
    if value is None:
        return None
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def _expected(world, excluded_ids: set[int], moment: datetime) -> dict:
    """The statement recomputed by hand from the raw rows: docs/sla.md's definitions, the contract's tiers."""
    kept = [row for row in world.rows if row["id"] not in excluded_ids]
    phone = reference_counts([r for r in kept if r["queue_id"] == world.phone], moment)
    voice = reference_counts([r for r in kept if r["channel"] in (Channel.PHONE, Channel.CHAT)], moment)
    every = reference_counts(kept, moment)
    # Short abandons (under 5 s) leave the service level's denominator: the contract's convention.
    sl = _share_percent(phone.answered_within, phone.answered + phone.abandoned - phone.short_abandons)
    asa = None if voice.answered == 0 else Fraction(voice.wait_seconds_answered) / voice.answered
    abandonment = _share_percent(voice.abandoned, voice.offered)
    first_response = _share_percent(every.first_response_met, every.first_response_due)
    resolution = _share_percent(every.resolution_met, every.resolution_due)
    credit = {
        "service_level": Decimal(8) if sl < 75 else Decimal(3) if sl < 80 else Decimal(0),
        "asa": Decimal(2) if asa > 30 else Decimal(0),
        "abandonment": Decimal(4) if abandonment > 20 else Decimal("1.5") if abandonment > 10 else Decimal(0),
        "first_response": Decimal(4) if first_response < 90 else Decimal(0),
        "resolution": Decimal(5) if resolution < 90 else Decimal(0),
    }
    results = {"service_level": sl, "asa": asa, "abandonment": abandonment, "first_response": first_response,
               "resolution": resolution}  # fmt: skip
    total = sum(credit.values())
    capped = min(total, Decimal(15))
    return {
        "results": {key: _shown(value) for key, value in results.items()},
        "credits": {key: str(value) for key, value in credit.items()},
        "total": total,
        "credit": (FEE * capped / 100).quantize(Decimal("0.01"), ROUND_HALF_UP),
        "excluded": len(world.rows) - len(kept),
    }


def test_statement_figures_equal_a_reference_over_the_raw_rows_with_exclusions(app, statement_clinic, create_closure):
    world = statement_clinic()
    start, end = month_bounds(world.month)
    # Exclusions: a declared incident of six hours, one contact, and a closure day (the contract excludes closures).
    incident_start = start + timedelta(days=3, hours=8)
    closure_day = (start + timedelta(days=10)).astimezone(BERLIN).date()
    single = next(r for r in world.rows if r["queue_id"] == world.phone and r["status"] == "assigned")
    create_closure(world.tenant_id, closure_day, "Staff training")
    with app.app_context(), tenant_context(world.tenant_id):
        contracts.declare_incident(
            starts_at=incident_start, ends_at=incident_start + timedelta(hours=6), reason="Carrier outage",
            author_id=None,
        )  # fmt: skip
        contracts.exclude_contact(contact_id=single["id"], reason="Test call", author_id=None)
        db.session.commit()
    excluded = {
        r["id"]
        for r in world.rows
        if incident_start <= r["offered_at"] < incident_start + timedelta(hours=6)
        or r["id"] == single["id"]
        or r["offered_at"].astimezone(BERLIN).date() == closure_day
    }
    assert len(excluded) > 5
    moment = end + timedelta(minutes=30)
    assert len(_close(app, world.tenant_id, moment)) == 1

    statement = _statement(app, world.tenant_id)
    expected = _expected(world, excluded, moment)
    figures = statement.figures
    assert {m["key"]: m["result"] for m in figures["metrics"]} == expected["results"]
    assert {m["key"]: m["credit_percent"] for m in figures["metrics"]} == expected["credits"]
    assert Decimal(figures["total_percent"]) == expected["total"]
    assert figures["credit"] == str(expected["credit"]) and statement.credit_amount == expected["credit"]
    assert figures["excluded_contacts"] == expected["excluded"]
    assert [e["kind"] for e in figures["exclusions"]] == ["incident", "contact", "closure"]
    assert {e["reason"] for e in figures["exclusions"]} == {"Carrier outage", "Test call", "Staff training"}
    # The credit is in the ledger once, negative, on the month's last instant.
    [credit] = _credits(app, world.tenant_id)
    assert credit.quantity == -expected["credit"] and credit.occurred_at < end
    with app.app_context(), tenant_context(world.tenant_id):
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions.count("sla_exclusion.added") == 2 and "sla_statement.closed" in actions


@pytest.mark.parametrize(
    ("fee", "cap", "mode", "credit"),
    [
        # Every metric misses (total 20.5 %): capped at 7.5 % of 1234.57 = 92.59275 → 92.59 (rounded once, half up).
        (Decimal("1234.57"), "7.5", "per_metric", "92.59"),
        # Overall: the largest tier only (8 % of 33.33 = 2.6664 → 2.67).
        (Decimal("33.33"), "15", "overall", "2.67"),
        # A cent's fraction: 8 % of 0.10 = 0.008 → 0.01.
        (Decimal("0.10"), "100", "overall", "0.01"),
    ],
)
def test_credit_is_exact_to_the_cent_capped_and_per_mode(app, statement_clinic, fee, cap, mode, credit):
    world = statement_clinic(count=150, fee=fee, cap=cap, mode=mode)
    _close(app, world.tenant_id)
    statement = _statement(app, world.tenant_id)
    assert [m["credit_percent"] for m in statement.figures["metrics"]] == ["8", "2", "1.5", "4", "5"]
    assert statement.figures["credit"] == credit and str(statement.credit_amount) == credit
    assert statement.figures["capped"] is (mode == "per_metric")
    assert [c.quantity for c in _credits(app, world.tenant_id)] == [-Decimal(credit)]


def test_closing_twice_or_concurrently_writes_one_statement_and_one_credit(app, statement_clinic):
    world = statement_clinic(count=120)
    barrier = threading.Barrier(3)
    errors = []

    def run():
        try:
            barrier.wait(10)
            _close(app, world.tenant_id)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    # Then the job, twice, through a real worker, and the hourly fan-out on top.
    with app.app_context():
        get_queue(DEFAULT).enqueue(close_statements, world.tenant_id, job_id="close-1")
        get_queue(DEFAULT).enqueue(close_statements, world.tenant_id, job_id="close-2")
        assert schedule_statement_close() == 1
        BurstWorker([get_queue(DEFAULT)], connection=redis_connection()).work(burst=True)
    statement = _statement(app, world.tenant_id)
    assert statement.credit_amount > 0
    assert [c.quantity for c in _credits(app, world.tenant_id)] == [-statement.credit_amount]


def test_a_statement_never_moves_after_policy_and_contract_edits(app, statement_clinic, create_contact):
    world = statement_clinic(count=150)
    _close(app, world.tenant_id)
    before = _statement(app, world.tenant_id)
    with app.app_context(), tenant_context(world.tenant_id):
        csv_before = statements.statement_csv(statements.get_statement(before.id)).encode()
        policy = db.session.get(SlaPolicy, world.policy_id)
        policy.service_level_percent, policy.answer_within_seconds = 95, 5
        terms = contract_terms(world.phone)
        terms["metrics"][0]["target"] = "99"
        contracts.save_contract(
            effective_from=datetime.now(BERLIN).date().replace(day=1), credit_mode="overall", cap_percent="50",
            terms=terms, author_id=None,
        )  # fmt: skip
        db.session.commit()
    create_contact(world.tenant_id, world.phone)  # a contact offered after the close, this month
    _close(app, world.tenant_id)
    with app.app_context(), tenant_context(world.tenant_id):
        after = statements.get_statement(before.id)
        assert statements.statement_csv(after).encode() == csv_before
        assert after.figures == before.figures
        # Rebuilt from the contract version it was closed under, at the moment it counted: the same figures.
        contract = contracts.get_contract(after.contract_id)
        counted_at = datetime.fromisoformat(after.figures["counted_at"])
        rebuilt = statements.compute_figures(get_tenant(world.tenant_id), contract, after.month, counted_at)
        assert rebuilt == after.figures
    assert len(_credits(app, world.tenant_id)) == 1


def test_no_statement_without_a_contract_or_before_the_month_ends(app, create_tenant):
    tenant_id = create_tenant("no-contract")
    assert _close(app, tenant_id) == []
    with app.app_context(), tenant_context(tenant_id):
        contracts.save_contract(
            effective_from=datetime.now(BERLIN).date().replace(day=1), credit_mode="per_metric", cap_percent="10",
            terms={"metrics": [{"key": "asa", "target": "30", "tiers": [["30", "2"]]}]}, author_id=None,
        )  # fmt: skip
        db.session.commit()
    assert _close(app, tenant_id) == []  # this month has not ended
    assert _close(app, tenant_id, datetime.now(UTC) + timedelta(days=40)) != []


def test_credit_at_stake_is_the_month_so_far_judged_by_the_contract(app, statement_clinic):
    world = statement_clinic(count=200)
    start, end = month_bounds(world.month)
    moment = start + (end - start) * 2 / 3  # two thirds into the month: later contacts are not offered yet
    so_far = [row for row in world.rows if row["offered_at"] < moment]
    with app.app_context(), tenant_context(world.tenant_id):
        forecast = statements.credit_at_stake(moment)
        assert statements.statements() == []  # a forecast writes nothing
    world.rows = so_far
    expected = _expected(world, set(), moment)
    assert {m["key"]: m["result"] for m in forecast["metrics"]} == expected["results"]
    assert forecast["credit"] == str(expected["credit"]) and forecast["currency"] == "EUR"
    with app.app_context(), tenant_context(world.tenant_id):
        assert statements.credit_at_stake(start - timedelta(days=40)) is None  # no contract then


def test_results_are_rounded_once_from_the_exact_share():
    # 53 / 111 = 47.7477… %: one rounding gives 47.7; rounding 47.75 again would give 47.8.
    assert statements._percent_text(Fraction(53, 111)) == "47.7"
    assert statements._percent_text(Fraction(784, 1000)) == "78.4"
    assert statements._seconds_text(Fraction(299, 2)) == "149.5" and statements._percent_text(None) is None


def test_the_cli_closes_the_month_once_like_the_job(app, statement_clinic):
    world = statement_clinic("cli-clinic", count=60)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["sla", "close-statements", "--tenant", "cli-clinic"])
    assert first.exit_code == 0 and "cli-clinic: 1 statement(s) written" in first.output
    again = runner.invoke(args=["sla", "close-statements"])
    assert again.exit_code == 0 and "cli-clinic: 0 statement(s) written" in again.output
    assert len(_credits(app, world.tenant_id)) == 1
    unknown = runner.invoke(args=["sla", "close-statements", "--tenant", "nowhere"])
    assert unknown.exit_code != 0 and "No clinic" in unknown.output
