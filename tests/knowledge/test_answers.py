"""A clinic's canned answers over HTTP: writing with placeholders, rules, who writes, overriding the provider's
shared answers, the conversation's language first, and isolation between clinics."""

import re

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.knowledge import answers
from app.knowledge.models import CannedResponse, SharedAnswer
from app.tenancy import tenant_context


def _shared(app, name, language, body) -> int:
    with app.app_context():
        answer = answers.save_shared_answer(None, name=name, language=language, body=body)
        db.session.commit()
        return answer.id


def _own(app, tenant_id, name, language, body) -> int:
    with app.app_context(), tenant_context(tenant_id):
        answer = answers.save_clinic_answer(None, name=name, language=language, body=body, author_id=None)
        db.session.commit()
        return answer.id


def _count(app, tenant_id) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(func.count()).select_from(CannedResponse))


def _offered(app, tenant_id, language) -> list[tuple[str, str, str, bool]]:
    with app.app_context(), tenant_context(tenant_id):
        return [(v.name, v.language, v.body, v.shared) for v in answers.answers_for(language)]


def test_a_clinic_admin_writes_an_answer_with_placeholders_that_agents_read(app, login_as, two_tenants):
    admin = login_as(two_tenants.a.clinic_admin)
    response = admin.post(
        "/t/clinic-a/answers/new",
        {
            "language": "de",
            "name": "Terminbestätigung",
            "body": "Guten Tag,\r\nIhr Termin ist am {appointment_date} um {appointment_time}.\r\n{agent}, {clinic}",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = login_as(two_tenants.a.agent).get("/t/clinic-a/answers/").get_data(as_text=True)
    assert "Terminbestätigung" in page and "Ihr Termin ist am {appointment_date}" in page
    assert "New answer" not in page  # agents read only
    with app.app_context(), tenant_context(two_tenants.a.id):
        (saved,) = answers.clinic_answers()
        assert saved.body.count("\r") == 0 and saved.author_id == two_tenants.a.clinic_admin


def test_an_empty_answer_list_says_so(login_as, two_tenants):
    page = login_as(two_tenants.a.manager).get("/t/clinic-a/answers/").get_data(as_text=True)
    assert "No answers yet." in page and "New answer" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "Gruß", "body": "Hallo {patient_name}"}, "Unknown placeholder {patient_name}."),
        ({"name": "Gruß", "body": "Hallo {clinic.name}"}, "Unknown placeholder {clinic.name}."),
        ({"name": "Gruß", "body": "Hallo {clinic!r}"}, "Unknown placeholder {clinic}."),
        ({"name": "Gruß", "body": "Hallo {clinic"}, "A brace is not closed"),
        ({"name": "", "body": "Hallo"}, "A name has 1 to 120 characters."),
        ({"name": "   ", "body": "Hallo"}, "A name has 1 to 120 characters."),
        ({"name": "x" * 121, "body": "Hallo"}, "A name has 1 to 120 characters."),
        ({"name": "Gruß", "body": ""}, "The text has 1 to 5000 characters."),
        ({"name": "Gruß", "body": "x" * 5001}, "The text has 1 to 5000 characters."),
        ({"name": "Gruß", "body": "Hallo", "language": "fr"}, "Choose one of the clinic&#39;s languages."),
        ({"name": "Gruß", "body": "Hallo", "language": "xx"}, "Choose one of the clinic&#39;s languages."),
    ],
)
def test_invalid_answers_are_refused_beside_their_field_and_nothing_is_written(
    app, login_as, two_tenants, data, message
):
    admin = login_as(two_tenants.a.clinic_admin)
    response = admin.post("/t/clinic-a/answers/new", {"language": "de", **data})
    assert response.status_code == 400, data
    assert message in response.get_data(as_text=True)
    assert _count(app, two_tenants.a.id) == 0


def test_the_service_refuses_control_characters_whatever_the_caller(app, two_tenants):
    with app.app_context(), tenant_context(two_tenants.a.id):
        for name, body in (("Gruß\x07", "Hallo"), ("Gruß", "Hallo\x00Welt"), ("Gruß", "Hallo\x1bWelt")):
            with pytest.raises(DomainError):
                answers.save_clinic_answer(None, name=name, language="de", body=body, author_id=None)
        # Line breaks and tabs are text.
        saved = answers.save_clinic_answer(None, name="Gruß", language="de", body="Hallo\n\tWelt", author_id=None)
        assert saved.body == "Hallo\n\tWelt"


def test_a_second_answer_of_the_same_name_and_language_is_a_conflict(app, login_as, two_tenants):
    _own(app, two_tenants.a.id, "Anfahrt", "de", "Bus 5.")
    admin = login_as(two_tenants.a.clinic_admin)
    response = admin.post("/t/clinic-a/answers/new", {"language": "de", "name": "Anfahrt", "body": "Bus 6."})
    assert response.status_code == 409
    assert "The clinic has an answer of this name in this language." in response.get_data(as_text=True)
    # Another language of the same name is another version of the answer.
    other = admin.post("/t/clinic-a/answers/new", {"language": "en", "name": "Anfahrt", "body": "Bus 5, please."})
    assert other.status_code == 302
    assert _count(app, two_tenants.a.id) == 2


def test_agents_and_supervisors_read_but_only_managers_and_clinic_admins_write(app, login_as, two_tenants):
    answer_id = _own(app, two_tenants.a.id, "Anfahrt", "de", "Bus 5.")
    fields = {"language": "de", "name": "Anfahrt", "body": "Straßenbahn 7."}
    for reader in (two_tenants.a.agent, two_tenants.a.supervisor):
        browser = login_as(reader)
        assert browser.get("/t/clinic-a/answers/").status_code == 200
        assert browser.get("/t/clinic-a/answers/new").status_code == 403
        assert browser.get(f"/t/clinic-a/answers/{answer_id}/edit").status_code == 403
        assert browser.post("/t/clinic-a/answers/new", {**fields, "name": "Neu"}).status_code == 403
        assert browser.post(f"/t/clinic-a/answers/{answer_id}/edit", fields).status_code == 403
        assert browser.post(f"/t/clinic-a/answers/{answer_id}/delete").status_code == 403
    assert _offered(app, two_tenants.a.id, "de") == [("Anfahrt", "de", "Bus 5.", False)]
    manager = login_as(two_tenants.a.manager)
    assert manager.post(f"/t/clinic-a/answers/{answer_id}/edit", fields).status_code == 302
    assert _offered(app, two_tenants.a.id, "de") == [("Anfahrt", "de", "Straßenbahn 7.", False)]
    assert manager.post(f"/t/clinic-a/answers/{answer_id}/delete").status_code == 302
    assert _offered(app, two_tenants.a.id, "de") == []


def test_a_clinic_answer_overrides_the_shared_one_of_its_name_and_language_only(app, login_as, two_tenants):
    shared_de = _shared(app, "Öffnungszeiten", "de", "Wir sind werktags von 8 bis 17 Uhr da.")
    _shared(app, "Öffnungszeiten", "en", "We are open on weekdays, 8 am to 5 pm.")
    _shared(app, "Öffnungszeiten", "fr", "Nous sommes ouverts en semaine.")  # not a language of the clinic
    admin = login_as(two_tenants.a.clinic_admin)

    # The button prefills the clinic's version with the shared text.
    form = admin.get(f"/t/clinic-a/answers/new?shared={shared_de}").get_data(as_text=True)
    assert "Override a shared answer" in form and "Wir sind werktags von 8 bis 17 Uhr da." in form
    assert 'value="Öffnungszeiten"' in form and re.search(r'<option selected value="de">|value="de" selected', form)
    response = admin.post(
        f"/t/clinic-a/answers/new?shared={shared_de}",
        {"language": "de", "name": "Öffnungszeiten", "body": "Bei uns: Montag bis Donnerstag, 7 bis 19 Uhr."},
    )
    assert response.status_code == 302

    assert _offered(app, two_tenants.a.id, "de") == [
        ("Öffnungszeiten", "de", "Bei uns: Montag bis Donnerstag, 7 bis 19 Uhr.", False)
    ]
    assert _offered(app, two_tenants.a.id, "en") == [
        ("Öffnungszeiten", "en", "We are open on weekdays, 8 am to 5 pm.", True)
    ]
    page = admin.get("/t/clinic-a/answers/").get_data(as_text=True)
    assert "The clinic's own, replacing the shared answer" in page
    assert "Shared answer replaced by the clinic's own (German)" in page
    assert "Override for this clinic" in page  # still offered for the English version
    assert "Nous sommes ouverts" not in page

    # Deleting the clinic's version brings the shared one back.
    with app.app_context(), tenant_context(two_tenants.a.id):
        own_id = answers.clinic_answers()[0].id
    assert admin.post(f"/t/clinic-a/answers/{own_id}/delete").status_code == 302
    assert _offered(app, two_tenants.a.id, "de") == [
        ("Öffnungszeiten", "de", "Wir sind werktags von 8 bis 17 Uhr da.", True)
    ]


def test_the_conversations_language_comes_first_then_the_clinics_default_then_any(app, create_tenant, two_tenants):
    tenant_id = create_tenant("clinic-c", default_locale="de", supported_locales=("de", "en", "pl"))
    _shared(app, "Zzz shared in Polish only", "pl", "Dzień dobry.")
    _own(app, tenant_id, "Anfahrt", "de", "Bus 5.")
    _own(app, tenant_id, "Anfahrt", "en", "Bus 5, please.")
    _own(app, tenant_id, "Befunde", "de", "Befunde per Post.")
    _own(app, tenant_id, "Abholung", "en", "Pick-up at the desk.")
    _own(app, tenant_id, "Abholung", "pl", "Odbiór w recepcji.")
    assert _offered(app, tenant_id, "en") == [
        ("Abholung", "en", "Pick-up at the desk.", False),
        ("Anfahrt", "en", "Bus 5, please.", False),
        ("Befunde", "de", "Befunde per Post.", False),  # none in English: the clinic's default language
        ("Zzz shared in Polish only", "pl", "Dzień dobry.", True),  # none in either: what there is
    ]
    assert [(name, language) for name, language, _, _ in _offered(app, tenant_id, "pl")] == [
        ("Abholung", "pl"),
        ("Zzz shared in Polish only", "pl"),
        ("Anfahrt", "de"),
        ("Befunde", "de"),
    ]


@pytest.mark.tenant_isolation
def test_clinic_b_never_sees_or_touches_clinic_as_answers(app, login_as, two_tenants):
    shared = _shared(app, "Öffnungszeiten", "de", "Werktags 8 bis 17 Uhr.")
    a_answer = _own(app, two_tenants.a.id, "Geheimrezept A", "de", "Nur für Klinik A.")
    _own(app, two_tenants.a.id, "Öffnungszeiten", "de", "Klinik A: rund um die Uhr.")
    b_admin = login_as(two_tenants.b.clinic_admin)
    page = b_admin.get("/t/clinic-b/answers/").get_data(as_text=True)
    assert "Geheimrezept" not in page and "rund um die Uhr" not in page
    assert "Werktags 8 bis 17 Uhr." in page  # the shared answer, not A's override of it
    assert b_admin.get(f"/t/clinic-b/answers/{a_answer}/edit").status_code == 404
    fields = {"language": "de", "name": "Übernommen", "body": "B war hier."}
    assert b_admin.post(f"/t/clinic-b/answers/{a_answer}/edit", fields).status_code == 404
    assert b_admin.post(f"/t/clinic-b/answers/{a_answer}/delete").status_code == 404
    assert b_admin.get("/t/clinic-a/answers/").status_code == 404
    assert _offered(app, two_tenants.b.id, "de") == [("Öffnungszeiten", "de", "Werktags 8 bis 17 Uhr.", True)]
    assert _count(app, two_tenants.a.id) == 2
    with app.app_context(), tenant_context(two_tenants.a.id):
        assert answers.get_clinic_answer(a_answer).body == "Nur für Klinik A."
    with app.app_context():
        assert db.session.get(SharedAnswer, shared).body == "Werktags 8 bis 17 Uhr."
