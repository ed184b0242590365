"""GDPR requests (issue 7): find a patient, export everything held about them, erase them, log it all.

The world (tests/compliance/conftest.py): Alice and Bob in clinic A, Carol in clinic B, each with data in
every place a clinic keeps patient data.
"""

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import select, text

from app.audit.models import AuditEvent
from app.auth.models import TenantRole
from app.campaigns.models import OutboundMessage
from app.compliance.gdpr import services as gdpr
from app.compliance.gdpr.models import GdprRequest
from app.extensions import db, redis_connection
from app.jobs import get_queue
from app.patients.models import Appointment, Patient
from app.tenancy import tenant_context
from tests.compliance.conftest import ALICE, BOB, CAROL
from tests.infra.burst_worker import BurstWorker

TEXT_TYPES = ["text", "character varying", "character", "json", "jsonb"]


# --- helpers -----------------------------------------------------------------------------------------


def _privacy(slug: str) -> str:
    return f"/t/{slug}/privacy"


def _patient_url(slug: str, patient_id: int, action: str) -> str:
    return f"/t/{slug}/privacy/patients/{patient_id}/{action}"


def _dump(owner_engine) -> dict[str, dict]:
    """Every row of every table (as the owner: no row-level security), keyed by id where there is one."""
    dump = {}
    with owner_engine.connect() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version' ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
        for table in tables:
            # Table and column names come from the catalogue, not from input.
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).mappings().all()  # noqa: S608
            dump[table] = {
                row["id"] if "id" in row else json.dumps(dict(row), default=str, sort_keys=True): dict(row)
                for row in rows
            }
    return dump


def _changes(before: dict, after: dict) -> dict[str, set]:
    """Per table, the keys of rows added, removed or changed."""
    changed = {}
    for table in before.keys() | after.keys():
        old, new = before.get(table, {}), after.get(table, {})
        keys = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
        if keys:
            changed[table] = keys
    return changed


def _changed_columns(before: dict, after: dict, table: str) -> set[str]:
    columns = set()
    for key, row in before[table].items():
        if key in after[table]:
            columns |= {column for column, value in row.items() if after[table][key][column] != value}
    return columns


def _scan(owner_engine, needles: list[str]) -> set[tuple[str, str, str]]:
    """(table, column, needle) for every text or JSON column of every table holding one of `needles`."""
    found = set()
    with owner_engine.connect() as conn:
        columns = conn.execute(
            text(
                "SELECT c.table_name, c.column_name FROM information_schema.columns c "
                "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
                "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.data_type = ANY(:types)"
            ),
            {"types": TEXT_TYPES},
        ).all()
        assert len(columns) > 50  # every table's columns, not a few
        for table, column in columns:
            hits = (
                conn.execute(
                    text(
                        f"SELECT n FROM unnest(CAST(:needles AS text[])) AS n WHERE EXISTS ("  # noqa: S608
                        f'SELECT 1 FROM "{table}" WHERE strpos(lower("{column}"::text), lower(n)) > 0)'
                    ),
                    {"needles": needles},
                )
                .scalars()
                .all()
            )
            found |= {(table, column, needle) for needle in hits}
    return found


def _requests(app, tenant_id: int) -> list[GdprRequest]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(GdprRequest).order_by(GdprRequest.id)).all()
        db.session.expunge_all()
        return rows


def _gdpr_events(app, tenant_id: int) -> list[AuditEvent]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("gdpr.%")).order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return rows


def _sla_csv(browser, slug: str) -> str:
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    start, end = today - timedelta(days=7), today
    response = browser.get(f"/t/{slug}/sla.csv?period=custom&start={start}&end={end}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _usage_totals(owner_engine) -> list[tuple]:
    with owner_engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT tenant_id, kind::text, channel, sum(quantity), count(*) FROM usage_records "
                "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            )
        ).all()


def _pdf_text(response) -> str:
    reader = PdfReader(io.BytesIO(response.get_data()))
    return "\n".join(page.extract_text() for page in reader.pages)


# --- the page ----------------------------------------------------------------------------------------


def test_privacy_page_is_linked_from_the_clinic_navigation_and_starts_empty(login_as, two_tenants):
    a = two_tenants.a
    browser = login_as(a.clinic_admin)
    response = browser.get(_privacy(a.slug))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No privacy requests yet." in body and 'name="q"' in body
    assert f'href="/t/{a.slug}/privacy"' in browser.get(f"/t/{a.slug}/sla").get_data(as_text=True)


def test_a_patient_is_found_by_reference_email_or_phone_and_the_look_up_is_audited(app, login_as, clinics):
    a = clinics.a
    browser = login_as(a.clinic_admin)
    for query in (ALICE["reference"], "Alice.Kowalska@EXAMPLE.org", "+48 601 234-567"):
        body = browser.post(_privacy(a.slug), {"q": query}).get_data(as_text=True)
        assert ALICE["email"] in body and ALICE["phone"] in body, query
        assert BOB["email"] not in body
        assert (
            "Appointments: 2 · Messages: 4 · Survey answers: 1 · Answers to surveys after contacts: 0 · "
            "Hotline contacts: 2 · Contact notes: 1"
        ) in body
    with app.app_context(), tenant_context(a.id):
        viewed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.viewed")).all()
        assert [(e.object_type, e.object_id, e.actor_id) for e in viewed] == [
            ("patient", str(clinics.alice.patient), a.clinic_admin)
        ] * 3


@pytest.mark.parametrize(
    "query, status, message",
    [
        ("", 400, "Enter the patient&#39;s reference, e-mail address or phone number."),
        ("x" * 255, 400, "That is too long"),
        ("PAT-NOBODY-1", 404, "No patient of this clinic has this reference"),
        (CAROL["reference"], 404, "No patient of this clinic has this reference"),
    ],
)
def test_search_answers_clear_errors(app, login_as, clinics, query, status, message):
    a = clinics.a
    response = login_as(a.clinic_admin).post(_privacy(a.slug), {"q": query})
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in body
    assert CAROL["email"] not in body
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.viewed")) is None


# --- export ------------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_json_export_holds_every_source_and_nothing_of_another_patient_or_clinic(app, login_as, clinics):
    a, alice = clinics.a, clinics.alice
    response = login_as(a.clinic_admin).post(_patient_url(a.slug, alice.patient, "export.json"))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    raw = response.get_data(as_text=True)
    document = json.loads(raw)
    assert (document["format"], document["version"]) == ("switchboard.gdpr-export", 1)
    assert list(document) == [
        "format",
        "version",
        "generated_at",
        "clinic",
        "patient",
        "appointments",
        "messages",
        "survey_answers",
        "contact_surveys",
        "contacts",
        "chats",
        "complaints",
        "audit_events",
    ]
    patient = document["patient"]
    assert (patient["reference"], patient["email"], patient["phone"]) == (
        ALICE["reference"],
        ALICE["email"],
        ALICE["phone"],
    )
    assert patient["consent_sms"] is True and patient["opted_out_at"] is None
    assert {x["external_id"] for x in document["appointments"]} == {ALICE["appointment"], f"{ALICE['appointment']}-F"}
    messages = {m["id"]: m for m in document["messages"]}
    assert set(messages) == set(alice.messages)
    sent, failed, scheduled, asked = (messages[i] for i in alice.messages)
    assert sent["status"] == "sent" and sent["recipient"] == ALICE["phone"] and "Main building" in sent["body"]
    assert f"/m/{a.slug}/" in sent["body"]  # the answer link as it was sent
    assert asked["subject"] == "How was Clinic A?" and "Dr. Weber" in asked["body"]
    assert failed["failure_reason"] == f"SMTP 550: <{ALICE['email']}> mailbox unavailable" and failed["body"] is None
    assert scheduled["status"] == "scheduled" and scheduled["body"] is None
    assert [(s["score"], s["comment"]) for s in document["survey_answers"]] == [(5, ALICE["comment"])]
    contacts = {c["id"]: c for c in document["contacts"]}
    assert set(contacts) == set(alice.contacts)
    by_reference, by_phone = contacts[alice.contacts[0]], contacts[alice.contacts[1]]
    assert by_reference["subject"] == ALICE["subject"] and by_reference["complaint_reason"] == ALICE["complaint"]
    assert [n["body"] for n in by_reference["notes"]] == [ALICE["note"]]
    assert {e["kind"] for e in by_reference["events"]} >= {"offered", "first_response", "resolved"}
    assert by_phone["patient_ref"] == ALICE["phone"] and by_phone["status"] == "abandoned"
    [chat] = document["chats"]
    assert (chat["id"], chat["visitor_name"], chat["visitor_email"], chat["patient_ref"]) == (
        alice.chat_sessions[0],
        ALICE["name"],
        ALICE["email"],
        ALICE["reference"],
    )
    assert (chat["state"], chat["end_reason"], chat["contact_id"]) == ("ended", "answered", None)
    assert chat["privacy_notice_url"] == "https://clinic.example/privacy" and chat["consent_at"] is not None
    assert [(m["author"], m["body"]) for m in chat["messages"]] == [
        ("visitor", ALICE["chat"]),
        ("assistant", "Opening hours"),
    ]
    [complaint] = document["complaints"]
    assert (complaint["summary"], complaint["patient_ref"], complaint["contact_ids"]) == (
        ALICE["complaint"],
        ALICE["reference"],
        [alice.contacts[0]],
    )
    assert ("contact.viewed", str(alice.contacts[0])) in {
        (e["action"], e["object_id"]) for e in document["audit_events"]
    }
    for other in (*BOB.values(), *CAROL.values(), "Clinic B"):
        assert other not in raw, other

    [logged] = _requests(app, a.id)
    assert (logged.kind, logged.outcome, logged.requested_by_id) == ("export_json", "completed", a.clinic_admin)
    assert logged.counts == {
        "appointments": 2,
        "messages": 4,
        "survey_answers": 1,
        "contact_survey_answers": 0,
        "contacts": 2,
        "contact_notes": 1,
        "contact_messages": 0,
        "chat_sessions": 1,
        "chat_messages": 2,
        "complaints": 1,
        "audit_events": 1,
    }
    assert logged.patient_key == patient["key"] and ALICE["reference"] not in logged.patient_key
    [event] = _gdpr_events(app, a.id)
    assert (event.action, event.object_id, event.details) == (
        "gdpr.exported",
        str(alice.patient),
        {"request_id": logged.id, "kind": "export_json", "outcome": "completed"},
    )
    assert logged.patient_key in response.headers["Content-Disposition"]
    assert ALICE["reference"] not in response.headers["Content-Disposition"]


def test_pdf_export_parses_and_holds_the_patients_data(app, login_as, clinics):
    a, alice = clinics.a, clinics.alice
    response = login_as(a.clinic_admin).post(
        _patient_url(a.slug, alice.patient, "export.pdf"), headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    content = _pdf_text(response)
    flat = " ".join(content.split())
    for value in (ALICE["reference"], ALICE["email"], ALICE["phone"], ALICE["appointment"], "Clinic A"):
        assert value in flat, value
    assert "insulin dose" in flat and "nurse was kind" in flat and "waited too long" in flat
    assert ALICE["chat"] in flat and ALICE["name"] in flat  # the chat's transcript and pre-chat details
    assert "Personal data held about patient" in flat and "Main building" in flat
    assert BOB["reference"] not in flat and CAROL["reference"] not in flat
    [logged] = _requests(app, a.id)
    assert (logged.kind, logged.outcome) == ("export_pdf", "completed")


def test_pdf_export_is_in_the_readers_language(app, login_as, clinics, create_user):
    a, alice = clinics.a, clinics.alice
    german = create_user("datenschutz@example.test", locale="de", memberships=((a.id, TenantRole.CLINIC_ADMIN),))
    flat = " ".join(_pdf_text(login_as(german).post(_patient_url(a.slug, alice.patient, "export.pdf"))).split())
    # Labels that already have German translations (the new ones get theirs in the translation pass).
    assert "Termine" in flat and "Gesendet" in flat and "Frage beantwortet" in flat
    assert "Sent" not in flat.split()
    assert ALICE["email"] in flat


# --- erasure -----------------------------------------------------------------------------------------


def test_erasure_leaves_no_personal_string_in_any_table_and_keeps_sla_and_billing(app, login_as, clinics, owner_engine):
    a, alice, bob = clinics.a, clinics.alice, clinics.bob
    browser = login_as(a.clinic_admin)
    needles = list(ALICE.values())
    assert {needle for _t, _c, needle in _scan(owner_engine, needles)} == set(needles)  # the scan finds them
    sla_before, usage_before = _sla_csv(browser, a.slug), _usage_totals(owner_engine)
    assert "Phone a,phone" in sla_before and ",4,2,2,2," in sla_before  # offered, answered, in target, abandoned
    before = _dump(owner_engine)

    response = browser.post(_patient_url(a.slug, alice.patient, "erase"), {"confirmation": ALICE["reference"]})
    assert response.status_code == 302
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "personal data was erased" in page

    after = _dump(owner_engine)
    assert _scan(owner_engine, needles) == set()
    assert _sla_csv(browser, a.slug) == sla_before
    assert _usage_totals(owner_engine) == usage_before

    # Only Alice's rows changed; the log and the trail grew; nothing else moved (rollups, ledger, Bob, clinic B).
    changes = _changes(before, after)
    assert changes.pop("patients") == {alice.patient}
    assert changes.pop("appointments") == set(alice.appointments)
    assert changes.pop("outbound_messages") == set(alice.messages)
    assert changes.pop("survey_answers") == set(alice.survey_answers)
    assert changes.pop("contacts") == set(alice.contacts)
    assert changes.pop("contact_notes") == set(alice.contact_notes)
    assert changes.pop("chat_sessions") == set(alice.chat_sessions)
    assert changes.pop("chat_messages") == set(alice.chat_messages)
    # The register's entry opened when Alice's contact was flagged: its text goes, its figures stay.
    [complaint_id] = changes.pop("complaints")
    assert _changed_columns(before, after, "complaints") == {"patient_ref", "summary", "updated_at"}
    assert after["complaints"][complaint_id]["category"] == before["complaints"][complaint_id]["category"]
    assert not changes.pop("gdpr_requests") & before["gdpr_requests"].keys()
    assert not changes.pop("audit_events") & before["audit_events"].keys()
    assert changes == {}
    assert after["contact_notes"].keys() == {n for n in before["contact_notes"] if n not in alice.contact_notes}
    assert after["chat_sessions"].keys() == {s for s in before["chat_sessions"] if s not in alice.chat_sessions}
    assert after["chat_messages"].keys() == {m for m in before["chat_messages"] if m not in alice.chat_messages}
    assert _changed_columns(before, after, "contacts") == {
        "patient_ref",
        "subject",
        "complaint_reason",
        "external_id",
        "updated_at",
    }
    assert _changed_columns(before, after, "outbound_messages") <= {
        "status",
        "failure_reason",
        "lease_until",
        "token",
        "updated_at",
    }
    assert _changed_columns(before, after, "appointments") == {"external_id", "updated_at"}
    assert _changed_columns(before, after, "survey_answers") == {"comment", "updated_at"}
    assert after["survey_answers"][alice.survey_answers[0]]["score"] == 5
    erased = after["patients"][alice.patient]
    assert erased["erased_at"] is not None and erased["reference"].startswith("erased-")
    assert {after["contacts"][c]["patient_ref"] for c in alice.contacts} == {erased["reference"]}
    scheduled = after["outbound_messages"][alice.messages[2]]
    assert (scheduled["status"], scheduled["failure_reason"]) == ("skipped", "patient_erased")
    assert all(after["patients"][bob.patient][k] == v for k, v in before["patients"][bob.patient].items())

    # The patient's old links are dead; the request is logged with what it touched, and in the audit trail.
    for token in alice.tokens:
        assert browser.get(f"/m/{a.slug}/{token}").status_code == 404
    [logged] = _requests(app, a.id)
    assert (logged.kind, logged.outcome, logged.refusal_reason) == ("erasure", "completed", None)
    assert logged.counts == {
        "patients": 1,
        "contact_notes": 1,
        "contact_messages": 0,
        "rejected_mails": 0,
        "chat_messages": 2,
        "chat_sessions": 1,
        "complaints": 1,
        "contacts": 2,
        "survey_answers": 1,
        "contact_survey_answers": 0,
        "contact_surveys_skipped": 0,
        "messages_skipped": 1,
        "messages": 4,
        "appointments": 2,
    }
    trail = browser.get(f"/t/{a.slug}/audit?action=gdpr.erased").get_data(as_text=True)
    assert f"patient #{alice.patient}" in trail and "outcome=completed" in trail


@pytest.mark.parametrize("typed", ["", "pat-alice-7731", "PAT-ALICE-7732", BOB["reference"]])
def test_a_wrong_confirmation_answers_400_and_changes_nothing_but_the_log(app, login_as, clinics, owner_engine, typed):
    a, alice = clinics.a, clinics.alice
    admin = login_as(a.clinic_admin)  # before the snapshot: a login writes its own session row
    before = _dump(owner_engine)
    response = admin.post(_patient_url(a.slug, alice.patient, "erase"), {"confirmation": typed})
    assert response.status_code == 400
    assert "Type the patient&#39;s reference exactly to confirm the erasure" in response.get_data(as_text=True)
    changes = _changes(before, _dump(owner_engine))
    assert set(changes) == {"gdpr_requests", "audit_events"}
    [logged] = _requests(app, a.id)
    assert (logged.kind, logged.outcome, logged.refusal_reason) == ("erasure", "refused", "confirmation_mismatch")
    [event] = _gdpr_events(app, a.id)
    assert (event.action, event.details["reason"]) == ("gdpr.refused", "confirmation_mismatch")


def test_an_erased_patient_is_not_found_again_and_a_second_erasure_or_export_is_refused_under_one_key(
    app, login_as, clinics
):
    a, alice = clinics.a, clinics.alice
    browser = login_as(a.clinic_admin)
    assert (
        browser.post(_patient_url(a.slug, alice.patient, "erase"), {"confirmation": ALICE["reference"]}).status_code
        == 302
    )
    for query in (ALICE["reference"], ALICE["email"], ALICE["phone"]):
        assert browser.post(_privacy(a.slug), {"q": query}).status_code == 404
    again = browser.post(_patient_url(a.slug, alice.patient, "erase"), {"confirmation": ALICE["reference"]})
    assert again.status_code == 409 and "already been erased" in again.get_data(as_text=True)
    export = browser.post(_patient_url(a.slug, alice.patient, "export.json"))
    assert export.status_code == 409 and "nothing left to export" in export.get_data(as_text=True)
    outcomes = [(r.kind, r.outcome, r.refusal_reason) for r in _requests(app, a.id)]
    assert outcomes == [
        ("erasure", "completed", None),
        ("erasure", "refused", "already_erased"),
        ("export_json", "refused", "already_erased"),
    ]
    assert {r.patient_key for r in _requests(app, a.id)} == {f"patient-{alice.patient}"}


def test_an_erased_patient_is_never_messaged_again(app, login_as, clinics, mailbox):
    a, alice = clinics.a, clinics.alice
    with app.app_context(), tenant_context(a.id):
        due = Appointment(
            external_id="APT-ALICE-DUE",
            patient_id=alice.patient,
            location="Annex",
            practitioner="Dr. Lange",
            starts_at=datetime.now(UTC) + timedelta(hours=48, minutes=-5),
        )
        db.session.add(due)
        db.session.commit()
        due_id = due.id
    assert (
        login_as(a.clinic_admin)
        .post(_patient_url(a.slug, alice.patient, "erase"), {"confirmation": ALICE["reference"]})
        .status_code
        == 302
    )
    # Defence in depth: a message of the erased patient that is due again anyway (as after a race).
    with app.app_context(), tenant_context(a.id):
        forced = db.session.get(OutboundMessage, alice.messages[2])
        forced.status, forced.send_at = "scheduled", datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()

    from app.campaigns.jobs import run_outbound

    with app.app_context():
        job = get_queue("outbound").enqueue(run_outbound, a.id, time_budget_seconds=5)
        BurstWorker([get_queue("outbound")], connection=redis_connection()).work(burst=True)
        job.refresh()
        assert job.return_value() == {"planned": 1, "sent": 0, "failed": 0, "retrying": 0, "skipped": 1}
    with app.app_context(), tenant_context(a.id):
        rows = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.appointment_id.in_([due_id, clinics.alice.appointments[1]]))
        ).all()
        assert {(m.status, m.failure_reason) for m in rows} == {("skipped", "patient_erased")}
        dedupe_keys = {m.dedupe_key for m in rows}
    outbox = Path(app.instance_path) / "outbox"
    assert not any(key in path.name for path in outbox.glob("*") for key in dedupe_keys)
    assert list(mailbox) == []


# --- who may act -------------------------------------------------------------------------------------


@pytest.mark.tenant_isolation
def test_another_clinics_admin_can_neither_find_nor_export_nor_erase(app, login_as, clinics):
    a, b, alice = clinics.a, clinics.b, clinics.alice
    browser = login_as(b.clinic_admin)
    assert browser.get(_privacy(a.slug)).status_code == 404
    for query in (ALICE["reference"], ALICE["email"], ALICE["phone"]):
        response = browser.post(_privacy(b.slug), {"q": query})
        body = response.get_data(as_text=True)
        assert response.status_code == 404 and "No patient of this clinic" in body
        # The query itself is echoed in the search box; nothing else of Alice's shows.
        others = {ALICE["reference"], ALICE["email"], ALICE["phone"]} - {query}
        assert not any(value in body for value in others)
    for action in ("export.json", "export.pdf"):
        assert browser.post(_patient_url(b.slug, alice.patient, action)).status_code == 404
        assert browser.post(_patient_url(a.slug, alice.patient, action)).status_code == 404
    for slug in (a.slug, b.slug):
        assert (
            browser.post(_patient_url(slug, alice.patient, "erase"), {"confirmation": ALICE["reference"]}).status_code
            == 404
        )
    assert _requests(app, a.id) == [] and _requests(app, b.id) == []
    assert _gdpr_events(app, a.id) == [] and _gdpr_events(app, b.id) == []
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Patient, alice.patient).email == ALICE["email"]


@pytest.mark.parametrize("role", ["manager", "clinic_admin", "agent", "supervisor"])
@pytest.mark.tenant_isolation
def test_every_member_of_clinic_a_gets_404_from_clinic_bs_privacy_page(login_as, two_tenants, role):
    a, b = two_tenants.a, two_tenants.b
    browser = login_as(a[role])
    assert browser.get(_privacy(b.slug)).status_code == 404
    assert browser.post(_privacy(b.slug), {"q": "anything"}).status_code == 404


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_raw_sql_in_clinic_a_sees_no_request_of_clinic_b(app, login_as, clinics):
    a, b = clinics.a, clinics.b
    assert login_as(b.clinic_admin).post(_patient_url(b.slug, clinics.carol.patient, "export.json")).status_code == 200
    with app.app_context(), tenant_context(a.id):
        assert db.session.execute(text("SELECT count(*) FROM gdpr_requests")).scalar() == 0
    with app.app_context(), tenant_context(b.id):
        assert db.session.execute(text("SELECT count(*) FROM gdpr_requests")).scalar() == 1


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_are_refused(app, login_as, clinics, role):
    a, alice = clinics.a, clinics.alice
    browser = login_as(a[role])
    assert browser.get(_privacy(a.slug)).status_code == 403
    assert browser.post(_privacy(a.slug), {"q": ALICE["reference"]}).status_code == 403
    assert browser.post(_patient_url(a.slug, alice.patient, "export.json")).status_code == 403
    assert (
        browser.post(_patient_url(a.slug, alice.patient, "erase"), {"confirmation": ALICE["reference"]}).status_code
        == 403
    )
    assert 'href="/t/clinic-a/privacy"' not in browser.get(f"/t/{a.slug}/").get_data(as_text=True)
    assert _requests(app, a.id) == []
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Patient, alice.patient).erased_at is None


def test_the_clinics_manager_and_provider_admins_may_act_and_are_named_in_the_log(app, login_as, clinics):
    a, alice = clinics.a, clinics.alice
    for user in (a.manager, clinics.provider_admin):
        assert login_as(user).post(_patient_url(a.slug, alice.patient, "export.json")).status_code == 200
    assert [r.requested_by_id for r in _requests(app, a.id)] == [a.manager, clinics.provider_admin]


# --- the request log ---------------------------------------------------------------------------------


def test_request_log_pages_by_twenty_with_outcomes_and_the_trail_shows_exports(app, login_as, clinics):
    a, alice = clinics.a, clinics.alice
    with app.app_context(), tenant_context(a.id):
        for _ in range(gdpr.PER_PAGE):
            gdpr.export_patient(alice.patient, gdpr.GdprRequestKind.EXPORT_PDF, actor_id=a.clinic_admin)
        db.session.commit()
    browser = login_as(a.clinic_admin)
    assert browser.post(_patient_url(a.slug, alice.patient, "erase"), {"confirmation": "nope"}).status_code == 400
    first = browser.get(_privacy(a.slug)).get_data(as_text=True)
    second = browser.get(_privacy(a.slug), query_string={"page": 2}).get_data(as_text=True)
    assert "21 requests, page 1 of 2" in first and "21 requests, page 2 of 2" in second
    assert first.count("<td>Export (PDF)</td>") == 19 and "The typed reference did not match" in first
    assert second.count("<td>Export (PDF)</td>") == 1 and "Appointments: 2 · Messages: 4" in second
    assert ALICE["reference"] not in first + second and ALICE["email"] not in first + second
    assert browser.get(_privacy(a.slug), query_string={"page": "x"}).status_code == 400
    trail = browser.get(f"/t/{a.slug}/audit?action=gdpr.exported").get_data(as_text=True)
    assert trail.count("gdpr.exported") >= gdpr.PER_PAGE and f"patient #{alice.patient}" in trail
    assert "gdpr.refused" in browser.get(f"/t/{a.slug}/audit?action=gdpr.refused").get_data(as_text=True)
