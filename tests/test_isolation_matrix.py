"""Every clinic route × every clinic role × clinic B's slug and object ids: 404, never data, never a 500.

The routes come from the application's URL map, not from a list: a new `/t/<slug>/…` route is covered as
soon as it exists, and fails here until `FOREIGN_IDS` says how to fill its parameters with clinic B's ids.
"""

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import text
from werkzeug.routing import AnyConverter

from app.auth.tokens import issue_api_token
from app.billing import pricing
from app.billing.models import Invoice, InvoiceStatus
from app.campaigns.models import Campaign, CampaignKind, CampaignStep, MessageStatus, OutboundMessage
from app.complaints import services as complaints
from app.compliance.offboarding.models import OffboardingArchive
from app.extensions import db
from app.hotline.models import ContactMessage, MessageAttachment, MessageDirection, Team
from app.knowledge.models import CannedResponse, KnowledgeArticle
from app.mailroom.models import InboundAddress
from app.models import TenantScoped
from app.patients.models import MessageChannel
from app.quality.models import Review, Scorecard, ScorecardVersion
from app.reports.models import ContactExport
from app.sla import statements
from app.sla.contract_models import CreditMode, SlaContract, SlaDispute, SlaStatement
from app.sla.models import SlaPolicy
from app.tenancy import tenant_context
from app.tenants.models import Tenant
from app.waitlist.models import EntryStatus, WaitlistEntry

CLINIC_PREFIX = "/t/<tenant_slug>/"
ROLES = ["manager", "clinic_admin", "agent", "supervisor"]
# A well-formed id that names no row: what "missing" answers, which a foreign id must answer too.
MISSING_ID = 2**31 - 1

# How to fill each URL parameter: the key of clinic B's object in the `foreign` fixture.
FOREIGN_IDS = {
    "address_id": "inbound_address",
    "agent_id": "agent",
    "answer_id": "answer",
    "appointment_id": "appointment",
    "attachment_id": "attachment",
    "archive_id": "archive",
    "article_id": "article",
    "campaign_id": "campaign",
    "closure_id": "closure",
    "complaint_id": "complaint",
    "contact_id": "contact",
    "dispute_id": "dispute",
    "entry_id": "waitlist_entry",
    "export_id": "contact_export",
    "invitation_id": "invitation",
    "invoice_id": "invoice",
    "message_id": "outbound_message",
    "patient_id": "patient",
    "plan_id": "plan",
    "policy_id": "policy",
    "queue_id": "queue",
    "review_id": "review",
    "scorecard_id": "scorecard",
    "statement_id": "statement",
    "step_id": "step",
    "team_id": "team",
    "token_id": "token",
    "user_id": "agent",
}


@pytest.fixture
def foreign(app, two_tenants, create_queue, create_contact, create_patient, create_appointment):
    """Clinic B with one object of every kind a clinic URL can name."""
    b = two_tenants.b
    queue = create_queue(b.id, "Desk of B")
    patient = create_patient(b.id, "P-B")
    ids = {
        "agent": b.agent,
        "closure": b.closure,
        "invitation": b.invitation,
        "queue": queue,
        "contact": create_contact(b.id, queue, patient_ref="P-B"),
        "patient": patient,
        "appointment": create_appointment(b.id, patient),
    }
    with app.app_context(), tenant_context(b.id):
        plan = pricing.save_plan(
            effective_from=date(2026, 1, 1), currency="EUR", base_fee=Decimal("10"), rates={}, author_id=None
        )
        campaign = Campaign(name="Campaign of B", kind=CampaignKind.REMINDER, audience={})
        db.session.add(campaign)
        db.session.flush()
        step = CampaignStep(campaign_id=campaign.id, offset_minutes=-60, channel=MessageChannel.EMAIL)
        invoice = Invoice(
            period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31),
            plan_id=plan.id,
            currency="EUR",
            total=Decimal("10.00"),
            status=InvoiceStatus.CLOSED,
        )
        team = Team(name="Team of B", languages=["en"], covers_from=time(8), covers_until=time(17))
        policy = SlaPolicy(name="Policy of B")
        archive = OffboardingArchive()
        contact_export = ContactExport(
            requested_by_id=b.manager,
            period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31),
            time_zone="Europe/Berlin",
            file_format="csv",
            total=0,
            expires_at=datetime(2099, 1, 1, tzinfo=UTC),
        )
        article = KnowledgeArticle(language="en", title="Article of B", body="Directions of B")
        inbound_address = InboundAddress(address="desk@clinic-b.example", queue_id=queue)
        answer = CannedResponse(name="Answer of B", language="en", body="Secret answer of B")
        message = ContactMessage(
            contact_id=ids["contact"],
            direction=MessageDirection.INBOUND,
            from_address="patient@b.example",
            to_address="desk@clinic-b.example",
            message_id="<of-b@b.example>",
        )
        db.session.add_all(
            [step, invoice, team, policy, archive, contact_export, article, inbound_address, answer, message]
        )
        db.session.flush()
        attachment = MessageAttachment(
            message_id=message.id, filename="b.pdf", content_type="application/pdf", size=3, content=b"%PD"
        )
        db.session.add(attachment)
        outbound_message = OutboundMessage(
            campaign_id=campaign.id,
            step_id=step.id,
            appointment_id=ids["appointment"],
            patient_id=patient,
            channel=MessageChannel.SMS,
            language="en",
            dedupe_key="of-b",
            token="t" * 43,
            status=MessageStatus.FAILED,
            send_at=datetime.now(UTC),
        )
        db.session.add(outbound_message)
        token, _secret = issue_api_token("Token of B", b.manager)
        contract = SlaContract(
            version=1,
            effective_from=date(2026, 1, 1),
            credit_mode=CreditMode.PER_METRIC,
            cap_percent=Decimal(10),
            terms={"exclude_closures": False, "metrics": []},
        )
        db.session.add(contract)
        db.session.flush()
        # Real figures: tests/browser/test_every_page.py shows this statement to clinic B's own people.
        figures = statements.compute_figures(
            db.session.get(Tenant, b.id), contract, date(2026, 1, 1), datetime(2026, 2, 2, tzinfo=UTC)
        )
        statement = SlaStatement(
            month=date(2026, 1, 1), contract_id=contract.id, figures=figures, credit_amount=Decimal(0)
        )
        db.session.add(statement)
        db.session.flush()
        dispute = SlaDispute(statement_id=statement.id, metric="asa", reason="Secret dispute of B")
        db.session.add(dispute)
        scorecard = Scorecard(name="Scorecard of B")
        db.session.add(scorecard)
        db.session.flush()
        version = ScorecardVersion(
            scorecard_id=scorecard.id,
            number=1,
            questions=[{"key": "q1", "section": "S", "text": "Secret question of B", "weight": 1, "auto_fail": False}],
        )
        db.session.add(version)
        db.session.flush()
        review = Review(
            contact_id=ids["contact"],
            version_id=version.id,
            reviewer_id=b.supervisor,
            agent_id=b.agent,
            answers={"q1": "met"},
            score=Decimal(100),
            comment="Secret review of B",
        )
        db.session.add(review)
        waitlist_entry = WaitlistEntry(
            patient_id=patient, practitioner="Secret doctor of B", windows=[], status=EntryStatus.WAITING, source="ui"
        )
        db.session.add_all([dispute, waitlist_entry])
        complaint = complaints.open_complaint(
            category="other",
            severity="high",
            summary="Secret complaint of B",
            actor_id=None,
            owner_id=b.agent,
            patient_ref="P-B",
            contact_ids=[ids["contact"]],
        )
        db.session.commit()
        ids.update(
            plan=plan.id,
            campaign=campaign.id,
            step=step.id,
            invoice=invoice.id,
            team=team.id,
            policy=policy.id,
            archive=archive.id,
            contact_export=contact_export.id,
            article=article.id,
            inbound_address=inbound_address.id,
            answer=answer.id,
            attachment=attachment.id,
            outbound_message=outbound_message.id,
            token=token.id,
            statement=statement.id,
            dispute=dispute.id,
            scorecard=scorecard.id,
            review=review.id,
            waitlist_entry=waitlist_entry.id,
            complaint=complaint.id,
        )
    return ids


def clinic_routes(app) -> list[tuple[str, object]]:
    """(method, rule) of every clinic route, from the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(CLINIC_PREFIX):
            routes.extend((method, rule) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return sorted(routes, key=lambda route: (route[1].rule, route[0]))


def _names_objects(rule) -> bool:
    return any(not isinstance(rule._converters[name], AnyConverter) for name in rule.arguments - {"tenant_slug"})


def _fill(rule, slug: str, ids: dict[str, int] | None) -> str:
    values = {"tenant_slug": slug}
    for name in rule.arguments - {"tenant_slug"}:
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif ids is None:
            values[name] = MISSING_ID
        else:
            assert name in FOREIGN_IDS, f"{rule.rule}: add how to fill <{name}> with clinic B's id to FOREIGN_IDS"
            values[name] = ids[FOREIGN_IDS[name]]
    return rule.build(values, append_unknown=False)[1]


def _snapshot_of(owner_engine, tenant_id: int) -> dict[str, str]:
    """A digest of every tenant-owned row of one clinic, read as the owner (no wall in the way)."""
    tables = sorted(m.local_table.name for m in db.Model.registry.mappers if issubclass(m.class_, TenantScoped))
    with owner_engine.connect() as conn:
        return {
            table: conn.execute(
                text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') "  # noqa: S608
                    f"FROM {table} t WHERE tenant_id = :tenant"
                ),
                {"tenant": tenant_id},
            ).scalar_one()
            for table in tables
        }


def _ask(browser, method: str, url: str):
    try:
        return browser.get(url) if method == "GET" else browser.post(url, {})
    except Exception as error:  # noqa: BLE001 - a crash is a finding of this matrix, reported with the others
        return error


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.tenant_isolation
def test_no_clinic_route_answers_clinic_a_with_clinic_b(app, owner_engine, login_as, two_tenants, foreign, role):
    routes = clinic_routes(app)
    assert len(routes) >= 74, "the URL map lost clinic routes: is the prefix still /t/<tenant_slug>/?"
    secrets = [
        "Clinic B",
        "Desk of B",
        "Campaign of B",
        "Team of B",
        "Policy of B",
        "Token of B",
        "Answer of B",
        "P-B",
        "Secret closure of clinic B",
        "invitee-b@example.test",
        "Secret complaint of B",
    ]
    before = _snapshot_of(owner_engine, two_tenants.b.id)
    browser = login_as(two_tenants.a[role])
    findings = []
    for method, rule in routes:
        # B's slug, with B's ids: no member of A may even learn that the clinic exists.
        asked = [(_fill(rule, two_tenants.b.slug, foreign), {404})]
        if _names_objects(rule):
            # A's own URL with B's ids answers what a missing id answers: 404, or 403 for a role the route is
            # not for at all (the same whichever id is asked, so it tells nothing about B's objects).
            missing = _ask(browser, method, _fill(rule, two_tenants.a.slug, None))
            role_refused = not isinstance(missing, Exception) and missing.status_code == 403
            asked.append((_fill(rule, two_tenants.a.slug, foreign), {403} if role_refused else {404}))
        for url, expected in asked:
            response = _ask(browser, method, url)
            if isinstance(response, Exception):
                findings.append(f"{method} {url}: raised {type(response).__name__}: {response}")
                continue
            body = response.get_data().decode("utf-8", "replace")
            leaked = [secret for secret in secrets if secret in body]
            if response.status_code not in expected or leaked:
                findings.append(f"{method} {url}: {response.status_code} (expected {sorted(expected)}) {leaked}")
    assert findings == []
    assert _snapshot_of(owner_engine, two_tenants.b.id) == before
