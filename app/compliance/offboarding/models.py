"""Offboarding: archives of a clinic's data, and the certificates of its deletion (issue 7).

`offboarding_archives` is tenant-owned (it goes with the clinic's data). `deletion_certificates`
is a platform table that must outlive the clinic: it has no foreign key to `tenants` and names the
former clinic in `former_tenant_id`, deliberately not `tenant_id`, because the deletion check
counts the rows of every table with a `tenant_id` column and must find none.
"""

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models import TenantScoped, TimestampMixin, utcnow


class ArchiveStatus(enum.StrEnum):
    QUEUED = "queued"
    READY = "ready"
    FAILED = "failed"


class OffboardingArchive(TenantScoped, TimestampMixin, db.Model):
    """A zip of every row the clinic owns: one JSON file per table and a manifest (counts, SHA-256)."""

    __tablename__ = "offboarding_archives"
    __table_args__ = (CheckConstraint("status IN ('queued', 'ready', 'failed')", name="status_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ArchiveStatus.QUEUED.value)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    file_name: Mapped[str | None] = mapped_column(String(120))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # table → row count, as in the manifest inside the zip.
    row_counts: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    downloaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeletionCertificate(db.Model):
    """Proof that a clinic's data was deleted: every tenant table checked and found without its rows."""

    __tablename__ = "deletion_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    former_tenant_id: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    clinic_slug: Mapped[str] = mapped_column(String(40), nullable=False)
    clinic_name: Mapped[str] = mapped_column(String(120), nullable=False)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Kept as text too: the certificate must still say who deleted if that account is removed later.
    deleted_by_email: Mapped[str] = mapped_column(String(254), nullable=False)
    archive_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # table → rows of the clinic found after the deletion (all 0), and table → rows deleted.
    checked_tables: Mapped[dict] = mapped_column(JSON, nullable=False)
    deleted_rows: Mapped[dict] = mapped_column(JSON, nullable=False)
