"""Offboarding (issue 7): the archive of all a clinic's data, its proven deletion, and every refusal."""

import hashlib
import io
import json
import zipfile

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app import audit
from app.audit.models import AuditEvent
from app.compliance.offboarding.models import DeletionCertificate, OffboardingArchive
from app.extensions import db, redis_connection
from app.jobs import get_queue
from app.reports import contact_export
from app.tenancy import tenant_context
from app.tenants.models import Tenant, TenantStatus
from tests.compliance.clinic_data import fill_clinic
from tests.infra.burst_worker import BurstWorker

TENANT_TABLES = text("""
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' AND NOT a.attisdropped
    ORDER BY 1
""")


def row_counts(owner_engine, tenant_id: int) -> dict[str, int]:
    """Rows of the clinic in every table with a tenant_id column, and its tenants row, read as the owner."""
    with owner_engine.connect() as conn:
        tables = list(conn.scalars(TENANT_TABLES))
        counts = {
            table: conn.scalar(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": tenant_id})  # noqa: S608
            for table in tables
        }
        counts["tenants"] = conn.scalar(text("SELECT count(*) FROM tenants WHERE id = :t"), {"t": tenant_id})
        return counts


def run_reports_worker(app) -> None:
    with app.app_context():
        BurstWorker([get_queue("reports")], connection=redis_connection()).work(burst=True)


def set_status(app, tenant_id: int, status: TenantStatus) -> None:
    with app.app_context():
        db.session.get(Tenant, tenant_id).status = status
        db.session.commit()


@pytest.fixture
def clinics(app, two_tenants):
    for key in ("a", "b"):
        tenant = two_tenants[key]
        tenant["data"] = fill_clinic(app, tenant.id, tenant.agent, key.upper())
        with app.app_context(), tenant_context(tenant.id):
            audit.record("contact.viewed", object_type="contact", object_id=tenant.data.old_contact)
            db.session.commit()
    set_status(app, two_tenants.a.id, TenantStatus.OFFBOARDED)
    return two_tenants


def build_and_download(app, browser, slug: str) -> bytes:
    assert browser.post(f"/t/{slug}/offboarding/archives").status_code == 302
    run_reports_worker(app)
    return download_newest(browser, slug)


def download_newest(browser, slug: str) -> bytes:
    page = browser.get(f"/t/{slug}/offboarding/").get_data(as_text=True)
    archive_id = int(page.split("/offboarding/archives/")[1].split("/download")[0])
    response = browser.get(f"/t/{slug}/offboarding/archives/{archive_id}/download")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    payload = response.data
    response.close()  # send_file streams the file: close it as a browser would when done
    return payload


@pytest.mark.tenant_isolation
def test_archive_holds_every_table_of_the_clinic_and_nothing_of_another(app, login_as, clinics, owner_engine):
    a = clinics.a
    browser = login_as(a.manager)
    assert browser.post(f"/t/{a.slug}/offboarding/archives").status_code == 302
    run_reports_worker(app)
    expected = row_counts(owner_engine, a.id)
    payload = download_newest(browser, a.slug)

    bundle = zipfile.ZipFile(io.BytesIO(payload))
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["clinic"] == {"id": a.id, "slug": a.slug, "name": "Clinic A"}
    # Every table with a tenant_id column, plus the clinic's own row, with its count in the database.
    assert set(manifest["tables"]) == set(expected)
    assert {name: entry["rows"] for name, entry in manifest["tables"].items()} == expected
    assert expected["contacts"] == 5 and expected["usage_records"] == 6 and expected["patients"] == 1
    for name, entry in manifest["tables"].items():
        content = bundle.read(entry["file"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        rows = json.loads(content)
        assert len(rows) == entry["rows"]
        key = "id" if name == "tenants" else "tenant_id"
        assert {row[key] for row in rows} <= {a.id}

    everything = b"".join(bundle.read(name) for name in bundle.namelist()).decode()
    assert "patient-a@example.org" in everything and "Note about PAT-YOUNG-A in clinic A" in everything
    assert "Comment old A" in everything and "call:OLD-A" in everything
    for of_b in ("patient-b@example.org", "PAT-OLD-B", "CALLER-OLD-B", "Comment old B", "Clinic B", "clinic-b"):
        assert of_b not in everything

    with app.app_context(), tenant_context(a.id):
        archive = db.session.scalar(select(OffboardingArchive))
        assert archive.sha256 == hashlib.sha256(payload).hexdigest()
        assert archive.downloaded_at is not None
        actions = list(db.session.scalars(select(AuditEvent.action)))
        assert {"offboarding.archive_requested", "offboarding.archive_downloaded"} <= set(actions)


@pytest.mark.tenant_isolation
def test_deletion_leaves_no_row_of_the_clinic_in_any_tenant_table_and_the_other_clinic_intact(
    app, login_as, clinics, owner_engine
):
    a, b = clinics.a, clinics.b
    browser = login_as(a.manager)
    payload = build_and_download(app, browser, a.slug)
    with app.app_context(), tenant_context(a.id):
        archive_file = app.instance_path + "/archives/" + db.session.scalar(select(OffboardingArchive.file_name))
    # An export file of each clinic on disk (a per-contact export may carry patient references).
    with app.app_context():
        export_files = {}
        for clinic in (a, b):
            directory = contact_export.export_directory(clinic.id)
            directory.mkdir(parents=True, exist_ok=True)
            export_files[clinic.id] = directory / "export.csv"
            export_files[clinic.id].write_text("contact_id\n1\n")
    before_a, before_b = row_counts(owner_engine, a.id), row_counts(owner_engine, b.id)
    assert before_a["usage_records"] > 0 and before_a["audit_events"] > 0 and before_a["memberships"] > 0

    response = browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug})

    assert response.status_code == 302 and "/console/deletions/" in response.headers["Location"]
    after_a = row_counts(owner_engine, a.id)
    assert set(after_a.values()) == {0}, after_a
    assert row_counts(owner_engine, b.id) == before_b
    with app.app_context():
        certificate = db.session.scalar(select(DeletionCertificate))
        assert certificate.former_tenant_id == a.id and certificate.clinic_slug == a.slug
        assert certificate.checked_tables == after_a
        assert certificate.deleted_rows["contacts"] == 5 and certificate.deleted_rows["tenants"] == 1
        assert certificate.archive_sha256 == hashlib.sha256(payload).hexdigest()
        assert certificate.deleted_by_email == "manager-a@example.test"
    import os

    assert not os.path.exists(archive_file)
    assert not export_files[a.id].exists() and export_files[b.id].exists()

    page = browser.get(response.headers["Location"])
    assert page.status_code == 200
    assert "No row of this clinic exists in any table." in page.get_data(as_text=True)
    assert f"/t/{a.slug}/" not in browser.get("/console/").get_data(as_text=True)
    assert browser.get(f"/t/{a.slug}/offboarding/").status_code == 404


def test_usage_ledger_stays_append_only_for_a_clinic_that_exists(app, clinics):
    with app.app_context(), tenant_context(clinics.b.id):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM usage_records WHERE tenant_id = :t"), {"t": clinics.b.id})
        db.session.rollback()


@pytest.mark.tenant_isolation
def test_certificate_is_listed_for_provider_admins_and_hidden_from_other_managers(app, login_as, clinics):
    a, b = clinics.a, clinics.b
    browser = login_as(a.manager)
    build_and_download(app, browser, a.slug)
    location = browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug}).headers["Location"]
    admin = login_as(clinics.provider_admin)
    listing = admin.get("/console/deletions/").get_data(as_text=True)
    assert "Clinic A" in listing and "manager-a@example.test" in listing
    assert admin.get(location).status_code == 200
    other = login_as(b.manager)
    assert other.get(location).status_code == 404
    assert "Clinic A" not in other.get("/console/deletions/").get_data(as_text=True)
    assert login_as(b.clinic_admin).get("/console/deletions/").status_code == 404


# --- refusals: each changes nothing ---------------------------------------------------------------------


def test_an_active_clinic_can_be_neither_archived_nor_deleted(app, login_as, clinics, owner_engine):
    b = clinics.b
    before = row_counts(owner_engine, b.id)
    browser = login_as(b.manager)
    archive = browser.post(f"/t/{b.slug}/offboarding/archives")
    assert archive.status_code == 409 and "offboarded" in archive.get_data(as_text=True)
    delete = browser.post(f"/t/{b.slug}/offboarding/delete", {"confirm_slug": b.slug})
    assert delete.status_code == 409
    run_reports_worker(app)
    assert row_counts(owner_engine, b.id) == before


def test_deletion_is_refused_without_an_archive(app, login_as, clinics, owner_engine):
    a = clinics.a
    before = row_counts(owner_engine, a.id)
    response = login_as(a.manager).post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug})
    assert response.status_code == 409
    assert "Build the clinic&#39;s archive" in response.get_data(as_text=True)
    assert row_counts(owner_engine, a.id) == before


def test_deletion_is_refused_until_the_archive_was_downloaded(app, login_as, clinics, owner_engine):
    a = clinics.a
    browser = login_as(a.manager)
    assert browser.post(f"/t/{a.slug}/offboarding/archives").status_code == 302
    run_reports_worker(app)
    before = row_counts(owner_engine, a.id)
    response = browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug})
    assert response.status_code == 409 and "Download the clinic" in response.get_data(as_text=True)
    assert row_counts(owner_engine, a.id) == before


def test_deletion_is_refused_when_the_data_changed_after_the_archive(app, login_as, clinics, owner_engine):
    a = clinics.a
    browser = login_as(a.manager)
    build_and_download(app, browser, a.slug)
    with app.app_context(), tenant_context(a.id):
        db.session.execute(
            text("INSERT INTO closures (tenant_id, day, reason) VALUES (:t, '2031-01-02', 'late')"), {"t": a.id}
        )
        db.session.commit()
    before = row_counts(owner_engine, a.id)
    response = browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug})
    assert response.status_code == 409 and "closures" in response.get_data(as_text=True)
    assert row_counts(owner_engine, a.id) == before


@pytest.mark.parametrize("typed", ["", "Clinic A"])
def test_deletion_is_refused_with_a_wrong_confirmation(app, login_as, clinics, owner_engine, typed):
    a = clinics.a
    browser = login_as(a.manager)
    build_and_download(app, browser, a.slug)
    before = row_counts(owner_engine, a.id)
    response = browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": typed})
    assert response.status_code == 400
    assert "Type clinic-a to confirm the deletion." in response.get_data(as_text=True)
    assert row_counts(owner_engine, a.id) == before


@pytest.mark.parametrize("role", ["clinic_admin", "agent"])
def test_clinic_members_who_do_not_manage_it_cannot_archive_download_or_delete(
    app, login_as, clinics, owner_engine, role
):
    a = clinics.a
    manager = login_as(a.manager)
    build_and_download(app, manager, a.slug)
    before = row_counts(owner_engine, a.id)
    browser = login_as(a[role])
    assert browser.get(f"/t/{a.slug}/offboarding/").status_code == 403
    assert browser.post(f"/t/{a.slug}/offboarding/archives").status_code == 403
    assert browser.get(f"/t/{a.slug}/offboarding/archives/1/download").status_code == 403
    assert browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug}).status_code == 403
    # Also while the clinic is still served (no "clinic not served" answer in front of the rule).
    set_status(app, a.id, TenantStatus.SUSPENDED)
    assert browser.get(f"/t/{a.slug}/offboarding/").status_code == 403
    set_status(app, a.id, TenantStatus.ACTIVE)
    assert browser.get(f"/t/{a.slug}/offboarding/").status_code == 403
    assert browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug}).status_code == 403
    assert row_counts(owner_engine, a.id) == before


@pytest.mark.tenant_isolation
def test_manager_of_another_clinic_gets_404_on_everything_of_the_clinic(app, login_as, clinics, owner_engine):
    a, b = clinics.a, clinics.b
    build_and_download(app, login_as(a.manager), a.slug)
    before = row_counts(owner_engine, a.id)
    browser = login_as(b.manager)
    assert browser.get(f"/t/{a.slug}/offboarding/").status_code == 404
    assert browser.post(f"/t/{a.slug}/offboarding/archives").status_code == 404
    assert browser.get(f"/t/{a.slug}/offboarding/archives/1/download").status_code == 404
    assert browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug}).status_code == 404
    # B's own offboarding page does not offer A's archive (ids are per clinic).
    assert browser.get(f"/t/{b.slug}/offboarding/archives/1/download").status_code == 404
    assert row_counts(owner_engine, a.id) == before


def test_a_table_added_later_is_archived_deleted_and_checked_without_code_changes(app, login_as, clinics, owner_engine):
    """A new tenant table (here without a foreign key to tenants, so no cascade reaches it) is found in the
    catalog: it is in the archive, its rows are deleted, and the certificate lists it."""
    a, b = clinics.a, clinics.b
    with owner_engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE later_things (id serial PRIMARY KEY, tenant_id integer NOT NULL, label text NOT NULL)")
        )
        conn.execute(text("GRANT SELECT, INSERT, UPDATE, DELETE ON later_things TO switchboard_app"))
        conn.execute(
            text("INSERT INTO later_things (tenant_id, label) VALUES (:a, 'thing of A'), (:b, 'thing of B')"),
            {"a": a.id, "b": b.id},
        )
    try:
        browser = login_as(clinics.provider_admin)  # a provider admin may offboard any clinic
        bundle = zipfile.ZipFile(io.BytesIO(build_and_download(app, browser, a.slug)))
        assert json.loads(bundle.read("tables/later_things.json"))[0]["label"] == "thing of A"
        assert browser.post(f"/t/{a.slug}/offboarding/delete", {"confirm_slug": a.slug}).status_code == 302
        with owner_engine.connect() as conn:
            assert conn.scalar(text("SELECT array_agg(label) FROM later_things")) == ["thing of B"]
        with app.app_context():
            certificate = db.session.scalar(select(DeletionCertificate))
            assert (certificate.deleted_rows["later_things"], certificate.checked_tables["later_things"]) == (1, 0)
            assert certificate.deleted_by_email == "root@provider.test"
    finally:
        with owner_engine.begin() as conn:
            conn.execute(text("DROP TABLE later_things"))


def test_running_the_archive_job_again_keeps_the_archive_it_built(app, login_as, clinics):
    from app.compliance.offboarding.jobs import build_clinic_archive

    a = clinics.a
    browser = login_as(a.manager)
    assert browser.post(f"/t/{a.slug}/offboarding/archives").status_code == 302
    run_reports_worker(app)
    with app.app_context(), tenant_context(a.id):
        archive = db.session.scalar(select(OffboardingArchive))
        first = (archive.id, archive.status, archive.sha256, archive.finished_at)
    with app.app_context():
        assert build_clinic_archive(a.id, first[0]) == "ready"
    with app.app_context(), tenant_context(a.id):
        archive = db.session.scalar(select(OffboardingArchive))
        assert (archive.id, archive.status, archive.sha256, archive.finished_at) == first
    assert hashlib.sha256(download_newest(browser, a.slug)).hexdigest() == first[2]
