"""Offboarding job: build one clinic's archive."""

import logging

import sentry_sdk

from app import outbox
from app.compliance.offboarding import services as offboarding
from app.extensions import db
from app.jobs import REPORTS, register_job
from app.tenancy import tenant_context
from app.tenants.services import get_tenant

logger = logging.getLogger(__name__)


# The former path: this module's place before app/compliance/offboarding/ became a package. Jobs RQ holds under it
# run after that deploy too; drop it a release later.
@register_job(
    "compliance.build_clinic_archive",
    REPORTS,
    former_paths=("app.compliance.offboarding_jobs.build_clinic_archive",),
)
def build_clinic_archive(tenant_id: int, archive_id: int) -> str:
    """Build the archive in one REPEATABLE READ transaction, so every table is read at the same moment and
    the manifest's counts describe one consistent state. A failed attempt marks the archive failed (the
    page offers a new one) and is retried by RQ; a retry that succeeds marks it ready."""
    with tenant_context(tenant_id):
        try:
            # Must be set before the transaction's first statement (the tenancy listener's set_config).
            db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            tenant = get_tenant(tenant_id)
            sentry_sdk.set_tag("tenant", tenant.slug)
            # First, in the same transaction: the archive then holds the job outbox as it is once this commits.
            outbox.complete_current_job()
            archive = offboarding.build_archive(tenant, archive_id)
            db.session.commit()
            return archive.status
        except Exception:
            db.session.rollback()
            logger.exception("clinic archive failed", extra={"tenant_id": tenant_id, "archive_id": archive_id})
            try:
                offboarding.mark_failed(archive_id)
                db.session.commit()
            except Exception:
                db.session.rollback()
            raise
        finally:
            db.session.remove()
