"""Recording a contact by hand (a call taken at the desk) through HTTP: it waits in its queue to be claimed."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.hotline.models import Contact, ContactStatus
from app.tenancy import tenant_context


@pytest.fixture
def clinic(two_tenants, set_languages, create_queue):
    a, b = two_tenants.a, two_tenants.b
    set_languages(a.agent, "en", "de")
    a["queue"] = create_queue(a.id, "Appointments DE", language="de")
    b["queue"] = create_queue(b.id, "B line")
    return two_tenants


def _contacts(app, tenant_id) -> list[tuple]:
    with app.app_context(), tenant_context(tenant_id):
        return [tuple(row) for row in db.session.execute(
            select(Contact.id, Contact.queue_id, Contact.patient_ref, Contact.subject, Contact.language,
                   Contact.status, Contact.assigned_to_id)
        ).all()]  # fmt: skip


def test_agent_records_a_contact_that_waits_in_its_queue_and_can_be_claimed(app, login_as, clinic):
    a = clinic.a
    agent = login_as(a.agent)
    data = {"queue_id": str(a.queue), "patient_ref": "PAT-77", "subject": "Wants to move the MRI", "language": "de"}
    response = agent.post(f"/t/{a.slug}/contacts/new", data)
    assert response.status_code == 302
    [(contact_id, queue, reference, subject, language, status, assignee)] = _contacts(app, a.id)
    assert response.location.endswith(f"/contacts/{contact_id}")
    assert (queue, reference, subject, language, status, assignee) == (
        a.queue, "PAT-77", "Wants to move the MRI", "de", ContactStatus.WAITING, None)  # fmt: skip
    claimed = agent.post(f"/t/{a.slug}/workspace/next")
    assert claimed.status_code == 302 and claimed.location.endswith(f"/contacts/{contact_id}")
    assert _contacts(app, a.id)[0][-1] == a.agent


@pytest.mark.parametrize(("field", "value", "message"), [
    ("patient_ref", "", "This field is required."),
    ("language", "pl", "Not a valid choice"),
    ("queue_id", "999999", "Not a valid choice"),
])  # fmt: skip
def test_bad_new_contact_is_refused_and_nothing_is_written(app, login_as, clinic, field, value, message):
    a = clinic.a
    data = {"queue_id": str(a.queue), "patient_ref": "PAT-77", "subject": "", "language": "de", field: value}
    response = login_as(a.agent).post(f"/t/{a.slug}/contacts/new", data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _contacts(app, a.id) == []


@pytest.mark.tenant_isolation
def test_a_contact_cannot_be_put_in_another_clinics_queue(app, login_as, clinic):
    a, b = clinic.a, clinic.b
    data = {"queue_id": str(b.queue), "patient_ref": "PAT-77", "subject": "", "language": "en"}
    assert login_as(a.agent).post(f"/t/{a.slug}/contacts/new", data).status_code == 400
    assert login_as(a.agent).post(f"/t/{b.slug}/contacts/new", data).status_code == 404
    assert _contacts(app, a.id) == [] and _contacts(app, b.id) == []


def test_new_contact_form_offers_only_this_clinics_queues_and_languages(login_as, clinic):
    a = clinic.a
    page = login_as(a.agent).get(f"/t/{a.slug}/contacts/new")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'<option value="{a.queue}">Appointments DE</option>' in text
    assert "B line" not in text
    languages = text.split('name="language"', 1)[1].split("</select>", 1)[0]
    assert 'value="de"' in languages and 'value="pl"' not in languages  # the clinic serves en and de
