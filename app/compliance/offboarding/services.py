"""Offboarding a clinic: an archive of all its data, then the proven deletion of that data.

Which tables hold a clinic's data is read from the database catalog, not from a list in the code:
every base table of the public schema with a `tenant_id` column (plus the clinic's own row in
`tenants`). A table added by a later migration is therefore archived, deleted and checked without
anyone remembering to add it here.

The clinic's `tenants` row is deleted too, not kept as a tombstone. Its id is what every one of its
rows points to, and deleting it is the only act the append-only triggers of `audit_events` (0010)
and `usage_records` (0012) accept as a reason to remove their rows: the ON DELETE CASCADE from
`tenants`. A tombstone would have meant a second, looser exception in both triggers. What must
outlive the clinic (its name, address, who deleted it, when, the archive's SHA-256 and the check's
result) is copied into a platform-level `deletion_certificates` row, and ids are never reused by
PostgreSQL's sequence, so `former_tenant_id` stays unambiguous.
"""

import hashlib
import json
import logging
import os
import uuid
import zipfile
from base64 import b64encode
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import Path

from flask import current_app
from sqlalchemy import MetaData, delete, func, select, text

from app import audit
from app.auth.models import User
from app.compliance.offboarding.models import ArchiveStatus, DeletionCertificate, OffboardingArchive
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline.models import Contact
from app.i18n import _l
from app.jobs import enqueue_after_commit
from app.models import utcnow
from app.reports import contact_export
from app.tenancy import tenant_context
from app.tenants.models import Tenant, TenantStatus
from app.tenants.services import can_manage

logger = logging.getLogger(__name__)

ARCHIVE_FORMAT = "switchboard-clinic-archive/1"
TENANT_TABLE = "tenants"
# Tables whose row counts may change after the archive without making it stale: the offboarding's own records
# (requesting and downloading an archive are audited; a newer archive may be requested), the nightly
# retention runs, and the job outbox (a job's row goes when it is done). Any other table whose count changed
# makes the archive stale.
GROWS_DURING_OFFBOARDING = frozenset({"audit_events", "retention_runs", "offboarding_archives", "job_outbox"})

_TENANT_TABLES = text("""
    SELECT c.relname
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND a.attname = 'tenant_id' AND NOT a.attisdropped
    ORDER BY c.relname
""")


class DeletionIncomplete(RuntimeError):
    """Rows of the clinic were still found after the deletion: the transaction is rolled back."""


# --- which tables hold a clinic's data ------------------------------------------------------------------


def tenant_tables() -> list[str]:
    """Every base table of the public schema with a `tenant_id` column, from the catalog (pg_catalog shows
    tables whatever the current role's privileges, unlike information_schema, so none can hide)."""
    return list(db.session.scalars(_TENANT_TABLES))


def _quoted(table: str) -> str:
    return db.session.get_bind().dialect.identifier_preparer.quote(table)


def count_rows(tenant_id: int) -> dict[str, int]:
    """table → rows of this clinic, for every tenant table and for the clinic's row in `tenants`.

    Run inside the clinic's tenant context: row-level security then shows exactly its rows, and the
    explicit WHERE covers platform tables without RLS (memberships, stripe_events).
    """
    counts = {}
    for table in tenant_tables():
        # The table name comes from the catalog and is quoted; the tenant id is a bound parameter.
        counts[table] = db.session.scalar(
            text(f"SELECT count(*) FROM {_quoted(table)} WHERE tenant_id = :tenant"),  # noqa: S608
            {"tenant": tenant_id},
        )
    counts[TENANT_TABLE] = db.session.scalar(select(func.count(Tenant.id)).where(Tenant.id == tenant_id))
    return counts


# --- the archive ------------------------------------------------------------------------------------------


def archive_directory() -> Path:
    configured = current_app.config.get("ARCHIVE_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "archives"


def archive_path(archive: OffboardingArchive) -> Path:
    return archive_directory() / archive.file_name


def _require_offboarded(tenant: Tenant) -> None:
    if tenant.status != TenantStatus.OFFBOARDED:
        raise Conflict(
            _l("Only an offboarded clinic can be archived or deleted. Set its status to offboarded first."), "status"
        )


def archives() -> list[OffboardingArchive]:
    return list(db.session.scalars(select(OffboardingArchive).order_by(OffboardingArchive.id.desc())))


def get_archive(archive_id: int) -> OffboardingArchive:
    archive = db.session.scalar(select(OffboardingArchive).where(OffboardingArchive.id == archive_id))
    if archive is None:
        raise NotFound(_l("This archive does not exist."))
    return archive


def request_archive(tenant: Tenant, *, actor_id: int | None) -> OffboardingArchive:
    """Queue the building of an archive of all the clinic's data (offboarded clinics only)."""
    _require_offboarded(tenant)
    archive = OffboardingArchive(status=ArchiveStatus.QUEUED.value, requested_by_id=actor_id, row_counts={})
    db.session.add(archive)
    db.session.flush()
    audit.record("offboarding.archive_requested", object_type="offboarding_archive", object_id=archive.id)
    enqueue_after_commit("compliance.build_clinic_archive", tenant.id, archive.id)
    return archive


def _json_value(value):
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact: a float would round money and quantities
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot archive a {type(value).__name__}")


class _HashingWriter:
    """Writes to a zip member while counting the SHA-256 of what was written."""

    def __init__(self, stream):
        self.stream, self.digest = stream, hashlib.sha256()

    def write(self, data: str) -> None:
        encoded = data.encode()
        self.digest.update(encoded)
        self.stream.write(encoded)


def _write_table(bundle: zipfile.ZipFile, name: str, table, condition) -> tuple[int, str]:
    """One JSON array of the rows as objects (column → value), streamed; returns (rows, SHA-256)."""
    order = list(table.primary_key.columns) or list(table.columns)
    statement = select(table).where(condition).order_by(*order)
    rows = 0
    with bundle.open(name, "w", force_zip64=True) as stream:
        writer = _HashingWriter(stream)
        writer.write("[")
        for row in db.session.execute(statement, execution_options={"yield_per": 1000}):
            writer.write(
                ("\n" if rows == 0 else ",\n") + json.dumps(dict(row._mapping), default=_json_value, ensure_ascii=False)
            )
            rows += 1
        writer.write("\n]\n" if rows else "]\n")
    return rows, writer.digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_archive(tenant: Tenant, archive_id: int) -> OffboardingArchive:
    """Write the zip: `tables/<table>.json` per tenant table plus `tenants.json`, and `manifest.json` with
    each file's row count and SHA-256. Runs inside the clinic's tenant context, in one snapshot.

    Idempotent: a retried job writes the same archive again under the same name and replaces the file
    atomically, so a download never sees half a zip.
    """
    # Locked: two deliveries of the same job must not each write a file and record the other's checksum.
    archive = db.session.scalar(select(OffboardingArchive).where(OffboardingArchive.id == archive_id).with_for_update())
    if archive is None:
        raise NotFound(_l("This archive does not exist."))
    if archive.status == ArchiveStatus.READY.value and archive.file_name and archive_path(archive).exists():
        return archive
    names = tenant_tables()
    metadata = MetaData()
    metadata.reflect(bind=db.session.connection(), only=[*names, TENANT_TABLE])
    directory = archive_directory()
    directory.mkdir(parents=True, exist_ok=True)
    file_name = f"clinic-{tenant.id}-archive-{archive.id}.zip"
    partial = directory / f".{file_name}.{os.getpid()}.partial"
    manifest_tables = {}
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for name in names:
                table = metadata.tables[name]
                member = f"tables/{name}.json"
                rows, sha256 = _write_table(bundle, member, table, table.c.tenant_id == tenant.id)
                manifest_tables[name] = {"file": member, "rows": rows, "sha256": sha256}
            tenants = metadata.tables[TENANT_TABLE]
            member = f"tables/{TENANT_TABLE}.json"
            rows, sha256 = _write_table(bundle, member, tenants, tenants.c.id == tenant.id)
            manifest_tables[TENANT_TABLE] = {"file": member, "rows": rows, "sha256": sha256}
            manifest = {
                "format": ARCHIVE_FORMAT,
                "clinic": {"id": tenant.id, "slug": tenant.slug, "name": tenant.name},
                "created_at": utcnow().isoformat(),
                "tables": manifest_tables,
            }
            bundle.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        os.replace(partial, directory / file_name)
    finally:
        partial.unlink(missing_ok=True)
    archive.file_name = file_name
    archive.size_bytes = (directory / file_name).stat().st_size
    archive.sha256 = _file_sha256(directory / file_name)
    archive.row_counts = {name: entry["rows"] for name, entry in manifest_tables.items()}
    archive.status = ArchiveStatus.READY.value
    archive.finished_at = utcnow()
    logger.info(
        "clinic archive built", extra={"tenant_id": tenant.id, "archive_id": archive.id, "tables": len(manifest_tables)}
    )
    return archive


def mark_failed(archive_id: int) -> None:
    archive = get_archive(archive_id)
    if archive.status != ArchiveStatus.READY.value:
        archive.status = ArchiveStatus.FAILED.value


def open_for_download(tenant: Tenant, archive_id: int) -> tuple[OffboardingArchive, Path]:
    """A ready archive of the clinic and its file; the download is recorded (it carries all patient data)."""
    archive = get_archive(archive_id)
    path = archive_path(archive) if archive.file_name else None
    if archive.status != ArchiveStatus.READY.value or path is None or not path.exists():
        raise NotFound(_l("This archive is not ready or its file is missing. Build a new one."))
    archive.downloaded_at = utcnow()
    audit.record(
        "offboarding.archive_downloaded",
        object_type="offboarding_archive",
        object_id=archive.id,
        details={"sha256": archive.sha256},
    )
    return archive, path


# --- deletion ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deletion:
    certificate: DeletionCertificate
    # Files to remove once the deletion has committed: the archives hold the same patient data.
    archive_files: list[Path]


def _usable_archive(tenant_id: int) -> OffboardingArchive:
    """The newest ready archive; it must have been downloaded and still match the clinic's data."""
    archive = db.session.scalar(
        select(OffboardingArchive)
        .where(OffboardingArchive.status == ArchiveStatus.READY.value)
        .order_by(OffboardingArchive.id.desc())
        .limit(1)
    )
    if archive is None:
        raise Conflict(_l("Build the clinic's archive before deleting its data."), "archive")
    if archive.downloaded_at is None:
        raise Conflict(
            _l("Download the clinic's archive before deleting its data: the archive is deleted with it."), "archive"
        )
    current = count_rows(tenant_id)
    changed = sorted(
        name
        for name, rows in current.items()
        if name not in GROWS_DURING_OFFBOARDING and rows != archive.row_counts.get(name, 0)
    )
    if changed:
        raise Conflict(
            _l(
                "The clinic's data changed since the archive was built (%(tables)s). Build and download a new archive.",
                tables=", ".join(changed),
            ),
            "archive",
        )
    return archive


def delete_clinic_data(tenant_id: int, *, confirmation: str, actor: User) -> Deletion:
    """Delete every row of an offboarded, archived clinic and prove it: certificate in the same transaction.

    Refused, with nothing changed, unless the actor manages the clinic, the clinic is offboarded, the
    confirmation is its address, and its newest archive was downloaded and is not stale. The check after
    the deletion counts the clinic's rows in every tenant table of the catalog; any row left aborts the
    whole transaction. The caller commits.
    """
    tenant = db.session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        raise NotFound(_l("This clinic does not exist."))
    if not can_manage(actor, tenant):
        raise DomainError(_l("Only a provider admin or the clinic's manager can delete its data."))
    _require_offboarded(tenant)
    if (confirmation or "").strip() != tenant.slug:
        raise DomainError(_l("Type %(slug)s to confirm the deletion.", slug=tenant.slug), "confirm_slug")
    archive = _usable_archive(tenant_id)
    # The archives and any per-contact export files: removed once the deletion committed.
    files = [archive_path(a) for a in archives() if a.file_name] + contact_export.export_files(tenant_id)
    before = count_rows(tenant_id)
    slug, name, archive_sha256 = tenant.slug, tenant.name, archive.sha256

    actor_id, actor_email = actor.id, actor.email
    # Contacts first, on their own: their delete trigger subtracts them from sla_rollups while the queues and
    # policies it joins still exist. Then the clinic's row: ON DELETE CASCADE takes every table with a foreign
    # key to it along, and the append-only triggers let audit_events and usage_records go once it is gone.
    db.session.execute(delete(Contact).execution_options(synchronize_session=False))
    db.session.execute(text("DELETE FROM tenants WHERE id = :tenant"), {"tenant": tenant_id})
    # Then whatever the cascade did not reach: a table without that foreign key.
    for table, rows in count_rows(tenant_id).items():
        if rows and table != TENANT_TABLE:
            db.session.execute(
                text(f"DELETE FROM {_quoted(table)} WHERE tenant_id = :tenant"),  # noqa: S608
                {"tenant": tenant_id},
            )

    after = count_rows(tenant_id)
    left = {table: rows for table, rows in after.items() if rows}
    if left:
        logger.error("clinic deletion incomplete", extra={"tenant_id": tenant_id, "tables": sorted(left)})
        raise DeletionIncomplete(f"rows of tenant {tenant_id} left in {sorted(left)}")
    certificate = DeletionCertificate(
        former_tenant_id=tenant_id,
        clinic_slug=slug,
        clinic_name=name,
        deleted_at=utcnow(),
        deleted_by_id=actor_id,
        deleted_by_email=actor_email,
        archive_sha256=archive_sha256,
        checked_tables=after,
        deleted_rows=before,
    )
    db.session.add(certificate)
    db.session.flush()
    logger.info(
        "clinic data deleted", extra={"tenant_id": tenant_id, "certificate_id": certificate.id, "tables": len(after)}
    )
    return Deletion(certificate=certificate, archive_files=files)


def discard_archive_files(paths: list[Path]) -> None:
    """Remove a deleted clinic's archive and export files (after the deletion committed)."""
    for path in paths:
        path.unlink(missing_ok=True)


# --- certificates -----------------------------------------------------------------------------------------


def certificates_visible_to(user: User) -> list[DeletionCertificate]:
    """Provider admins see every certificate; a manager, those of the deletions they made."""
    query = select(DeletionCertificate).order_by(DeletionCertificate.deleted_at.desc())
    if not user.is_provider_admin:
        query = query.where(DeletionCertificate.deleted_by_id == user.id)
    return list(db.session.scalars(query))


def get_certificate(certificate_id: int, user: User) -> DeletionCertificate:
    certificate = db.session.get(DeletionCertificate, certificate_id)
    if certificate is None or not (user.is_provider_admin or certificate.deleted_by_id == user.id):
        raise NotFound(_l("This deletion certificate does not exist."))
    return certificate


def check_again(certificate: DeletionCertificate) -> dict[str, int]:
    """Count the former clinic's rows now, in every tenant table the catalog lists today (new ones too)."""
    with tenant_context(certificate.former_tenant_id):
        return count_rows(certificate.former_tenant_id)
