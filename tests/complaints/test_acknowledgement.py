"""The patient's acknowledgement: sent when the complaint is acknowledged, in the patient's language, on a
channel they consented to, never in the clinic's quiet hours, once."""

from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from app.complaints.models import ComplaintAcknowledgement
from app.extensions import db
from app.jobs import get_queue
from app.tenancy import tenant_context
from tests.complaints.conftest import base, run_jobs

BERLIN = ZoneInfo("Europe/Berlin")


def _acknowledgement(app, tenant_id: int) -> ComplaintAcknowledgement:
    with app.app_context(), tenant_context(tenant_id):
        row = db.session.scalar(select(ComplaintAcknowledgement))
        db.session.expunge_all()
        return row


def _acknowledge(login_as, a, complaint_id: int):
    response = login_as(a.manager).post(f"{base(a.slug)}/{complaint_id}/status", {"status": "acknowledged"})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_the_patient_gets_an_sms_in_their_language_once_when_the_complaint_is_acknowledged(
    app, clinic, login_as, open_complaint, sms, mailbox
):
    a = clinic.a
    with time_machine.travel(datetime(2026, 3, 17, 10, 0, tzinfo=BERLIN), tick=True):
        complaint_id = open_complaint(a.id, contact_ids=[a.contact])
        _acknowledge(login_as, a, complaint_id)
        run_jobs(app, "outbound")
        [message] = sms.delivered.values()
        assert message["to"] == "+4915112345678"
        # German: the patient's language (P-1), not the clinic's English.
        assert "Beschwerde" in message["body"] and f"C-{complaint_id}" in message["body"]
        row = _acknowledgement(app, a.id)
        assert (row.status, row.channel, row.language) == ("sent", "sms", "de")
        # Moving the complaint on, or another watch, sends nothing more.
        login_as(a.manager).post(f"{base(a.slug)}/{complaint_id}/status", {"status": "investigating"})
        with app.app_context():
            get_queue("default").enqueue("app.complaints.jobs.watch", a.id)
        run_jobs(app)
        assert len(sms.requests) == 1 and mailbox == []


def test_without_sms_consent_the_acknowledgement_goes_by_email(
    app, clinic, login_as, open_complaint, create_patient, sms, mailbox
):
    a = clinic.a
    create_patient(a.id, "P-FR", language="fr", consent_sms=False, email="marie@example.org")
    with time_machine.travel(datetime(2026, 3, 17, 10, 0, tzinfo=BERLIN), tick=True):
        complaint_id = open_complaint(a.id, patient_ref="P-FR")
        _acknowledge(login_as, a, complaint_id)
        run_jobs(app, "outbound")
    [mail] = mailbox
    assert mail["To"] == "marie@example.org" and "plainte" in mail.get_content().lower()
    assert sms.requests == []


def test_nothing_is_sent_without_consent_and_the_page_says_why(
    app, clinic, login_as, open_complaint, create_patient, sms, mailbox
):
    a = clinic.a
    create_patient(a.id, "P-NO", consent_sms=False, consent_email=False)
    with time_machine.travel(datetime(2026, 3, 17, 10, 0, tzinfo=BERLIN), tick=True):
        complaint_id = open_complaint(a.id, patient_ref="P-NO")
        _acknowledge(login_as, a, complaint_id)
        run_jobs(app)
        page = login_as(a.manager).get(f"{base(a.slug)}/{complaint_id}").get_data(as_text=True)
    row = _acknowledgement(app, a.id)
    assert (row.status, row.failure_reason) == ("skipped", "no_consent")
    assert "No consent for SMS or e-mail" in page
    assert sms.requests == [] and mailbox == []


def test_in_quiet_hours_the_acknowledgement_waits_for_the_morning(app, clinic, login_as, open_complaint, sms):
    a = clinic.a
    with time_machine.travel(datetime(2026, 3, 17, 21, 30, tzinfo=BERLIN), tick=True):
        complaint_id = open_complaint(a.id, contact_ids=[a.contact])
        _acknowledge(login_as, a, complaint_id)
        with app.app_context():
            get_queue("default").enqueue("app.complaints.jobs.watch", a.id)
        run_jobs(app)
    assert sms.requests == []
    row = _acknowledgement(app, a.id)
    assert row.status == "scheduled" and row.send_at == datetime(2026, 3, 18, 8, 0, tzinfo=BERLIN)
    with time_machine.travel(datetime(2026, 3, 18, 8, 30, tzinfo=BERLIN), tick=True):
        with app.app_context():
            get_queue("default").enqueue("app.complaints.jobs.watch", a.id)
        run_jobs(app)
    assert len(sms.delivered) == 1 and _acknowledgement(app, a.id).status == "sent"


def test_consent_withdrawn_before_sending_means_nothing_is_sent(app, clinic, login_as, open_complaint, sms):
    a = clinic.a
    with time_machine.travel(datetime(2026, 3, 17, 21, 30, tzinfo=BERLIN), tick=True):
        complaint_id = open_complaint(a.id, contact_ids=[a.contact])
        _acknowledge(login_as, a, complaint_id)
    with app.app_context(), tenant_context(a.id):
        from app.patients.models import Patient

        patient = db.session.scalar(select(Patient).where(Patient.reference == "P-1"))
        patient.consent_sms = patient.consent_email = False
        db.session.commit()
    with time_machine.travel(datetime(2026, 3, 18, 8, 30, tzinfo=BERLIN), tick=True):
        with app.app_context():
            get_queue("default").enqueue("app.complaints.jobs.watch", a.id)
        run_jobs(app)
    assert sms.requests == []
    row = _acknowledgement(app, a.id)
    assert (row.status, row.failure_reason) == ("skipped", "no_consent")
