"""Claim-next in the embedded mode (SQLite, no row locks): the portable path a newcomer's demo uses."""

from flask_migrate import upgrade
from sqlalchemy import select

from app import create_app
from app.auth.models import User
from app.demo import seed_demo
from app.extensions import db
from app.hotline import services
from app.hotline.models import Contact, ContactEvent, ContactStatus, EventKind
from app.tenancy import tenant_context
from app.tenants.models import Tenant


def test_agent_claims_distinct_contacts_on_sqlite(tmp_path, redis_url):
    database = f"sqlite:///{tmp_path / 'embedded.db'}"
    app = create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": database,
            "MIGRATION_DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
        }
    )
    with app.app_context():
        upgrade()
        seed_demo()
        tenant_id = db.session.scalar(select(Tenant.id).execution_options(all_tenants=True).order_by(Tenant.id))
        agent_id = db.session.scalar(select(User.id).where(User.email == "agent.de@provider.example"))
        assert db.engine.dialect.name == "sqlite"
        claimed = []
        with tenant_context(tenant_id):
            for _ in range(3):
                claimed.append(services.claim_next_contact(agent_id))
                db.session.commit()
            contacts = db.session.scalars(select(Contact).where(Contact.id.in_(claimed))).all()
            events = db.session.scalars(
                select(ContactEvent).where(
                    ContactEvent.contact_id.in_(claimed), ContactEvent.kind == EventKind.ASSIGNED
                )
            ).all()
    assert len(set(claimed)) == 3
    assert {contact.status for contact in contacts} == {ContactStatus.ASSIGNED}
    assert {contact.assigned_to_id for contact in contacts} == {agent_id}
    assert sorted(event.contact_id for event in events) == sorted(claimed)
