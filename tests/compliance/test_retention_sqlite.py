"""Retention, archive and deletion in the embedded mode (SQLite: no RLS, no triggers, no cascades)."""

import json
import zipfile
from datetime import UTC, datetime, time, timedelta

from flask_migrate import upgrade
from sqlalchemy import select

from app import create_app
from app.auth.models import PlatformRole, User
from app.compliance.offboarding import services as offboarding
from app.compliance.offboarding.models import OffboardingArchive
from app.compliance.retention import services as retention
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, ContactNote, ContactStatus, Topic
from app.tenancy import tenant_context
from app.tenants.models import BusinessHours, Tenant, TenantStatus


def _clinic(slug: str) -> int:
    tenant = Tenant(
        slug=slug,
        name=slug.title(),
        time_zone="Europe/Berlin",
        country_code="DE",
        default_locale="en",
        supported_locales=["en"],
        status=TenantStatus.ACTIVE,
    )
    db.session.add(tenant)
    db.session.flush()
    with tenant_context(tenant.id):
        db.session.add(BusinessHours(weekday=0, opens_at=time(8), closes_at=time(17)))
        queue = hotline.save_queue(
            None,
            name="Phone",
            channel=Channel.PHONE,
            language="en",
            topic=Topic.GENERAL,
            priority=3,
            in_house=False,
            target_seconds=60,
            team_id=None,
        )
        db.session.flush()
        offered = datetime.now(UTC) - timedelta(days=400)
        contact, _ = hotline.offer_contact(
            queue_id=queue.id, patient_ref=f"PAT-{slug}", subject="Old subject", offered_at=offered
        )
        contact.status, contact.resolved_at = ContactStatus.RESOLVED, offered + timedelta(minutes=3)
        hotline.add_note(contact, None, f"Note of {slug}")
        db.session.commit()
    return tenant.id


def test_purge_archive_and_deletion_work_on_sqlite(tmp_path, redis_url):
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
        assert db.engine.dialect.name == "sqlite"
        tenant_id, other_id = _clinic("praxis-eins"), _clinic("praxis-zwei")
        admin = User(email="admin@provider.example", name="Admin", platform_role=PlatformRole.PROVIDER_ADMIN)
        db.session.add(admin)
        db.session.commit()
        with tenant_context(tenant_id):
            run = retention.purge_expired(trigger="manual")
            db.session.commit()
            assert (run.purged["contact_notes"], run.purged["contact_details"]) == (1, 1)
            assert db.session.scalar(select(Contact.subject)) is None
            assert retention.purge_expired().total == 0

            tenant = db.session.get(Tenant, tenant_id)
            tenant.status = TenantStatus.OFFBOARDED
            archive = OffboardingArchive(status="queued", row_counts={})
            db.session.add(archive)
            db.session.commit()
            offboarding.build_archive(tenant, archive.id)
            archive.downloaded_at = datetime.now(UTC)
            db.session.commit()
            with zipfile.ZipFile(offboarding.archive_path(archive)) as bundle:
                assert json.loads(bundle.read("manifest.json"))["tables"]["contacts"]["rows"] == 1
            with tenant_context(other_id):
                before_other = offboarding.count_rows(other_id)
            deletion = offboarding.delete_clinic_data(tenant_id, confirmation="praxis-eins", actor=admin)
            db.session.commit()
            assert set(deletion.certificate.checked_tables.values()) == {0}
            assert set(offboarding.count_rows(tenant_id).values()) == {0}
        with tenant_context(other_id):
            assert offboarding.count_rows(other_id) == before_other
            assert db.session.scalar(select(ContactNote.body)) == "Note of praxis-zwei"
