"""A clinic that can go live: what the activation readiness rules ask for, built through the services."""

from datetime import UTC, datetime, time, timedelta

import pytest

from app.auth.models import Membership, TenantRole, User
from app.billing import pricing
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Proficiency, Topic
from app.onboarding.services import apply_sla_template
from app.tenancy import tenant_context
from app.tenants.models import Invitation, Tenant


@pytest.fixture
def make_clinic_ready(app):
    """Give a clinic everything activation needs: an agent speaking every language it serves in a team round
    the clock, a phone queue per language, the 80/20 SLA template, a price plan and (unless told not to) a
    clinic admin's invitation. Returns the agent's id."""

    def _ready(tenant_id: int, *, invite_admin: bool = True, agent_email: str | None = None) -> int:
        with app.app_context(), tenant_context(tenant_id):
            tenant = db.session.get(Tenant, tenant_id)
            agent = User(
                email=agent_email or f"ready-agent-{tenant_id}@provider.test",
                name=f"Ready Agent {tenant_id}",
            )
            agent.memberships = [Membership(tenant_id=tenant_id, role=TenantRole.AGENT)]
            db.session.add(agent)
            db.session.flush()
            hotline.set_agent_languages(agent.id, dict.fromkeys(tenant.supported_locales, Proficiency.FLUENT))
            team = hotline.save_team(
                None,
                name="Ready team",
                languages=list(tenant.supported_locales),
                covers_from=time(0),
                covers_until=time(0),
                member_ids=[agent.id],
            )
            for language in tenant.supported_locales:
                hotline.save_queue(
                    None,
                    name=f"Phone {language}",
                    channel=Channel.PHONE,
                    language=language,
                    topic=Topic.GENERAL,
                    priority=3,
                    in_house=False,
                    target_seconds=60,
                    team_id=team.id,
                )
            apply_sla_template("calls_80_20_email_24h")
            pricing.save_plan(
                effective_from=pricing.current_period(tenant).first_day,
                currency="EUR",
                base_fee=0,
                rates={},
                author_id=None,
            )
            if invite_admin:
                db.session.add(
                    Invitation(
                        email=f"admin-{tenant_id}@clinic.example",
                        role=TenantRole.CLINIC_ADMIN.value,
                        nonce="r" * 32,
                        expires_at=datetime.now(UTC) + timedelta(days=14),
                    )
                )
            db.session.commit()
            return agent.id

    return _ready
