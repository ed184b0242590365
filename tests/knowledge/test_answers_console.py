"""The provider's shared answers on the console: provider admins write, the console reads, clinics' people
never see the pages (404, as every console page), and every clinic is offered what is written there."""

from sqlalchemy import func, select

from app.extensions import db
from app.knowledge import answers
from app.knowledge.models import SharedAnswer
from app.tenancy import tenant_context


def _shared_rows(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [
            (row.name, row.language, row.body)
            for row in db.session.scalars(select(SharedAnswer).order_by(SharedAnswer.name, SharedAnswer.language))
        ]


def test_a_provider_admin_writes_edits_and_deletes_a_shared_answer_every_clinic_offers(app, login_as, two_tenants):
    root = login_as(two_tenants.provider_admin)
    assert "No shared answers yet." in root.get("/console/answers/").get_data(as_text=True)
    assert root.get("/console/answers/new").status_code == 200
    created = root.post(
        "/console/answers/new",
        {"language": "en", "name": "Opening hours", "body": "{clinic} is open on weekdays, 8 am to 5 pm."},
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    assert _shared_rows(app) == [("Opening hours", "en", "{clinic} is open on weekdays, 8 am to 5 pm.")]
    # A language no clinic of the fixtures serves is still one of the application's.
    assert (
        root.post("/console/answers/new", {"language": "fr", "name": "Opening hours", "body": "Ouvert."}).status_code
        == 302
    )

    for tenant_id in (two_tenants.a.id, two_tenants.b.id):
        with app.app_context(), tenant_context(tenant_id):
            assert [(v.name, v.language, v.shared) for v in answers.answers_for("en")] == [
                ("Opening hours", "en", True)
            ]

    with app.app_context():
        answer_id = db.session.scalar(select(SharedAnswer.id).where(SharedAnswer.language == "en"))
    page = root.get("/console/answers/").get_data(as_text=True)
    assert "Opening hours" in page and f"/console/answers/{answer_id}/edit" in page
    edited = root.post(
        f"/console/answers/{answer_id}/edit", {"language": "en", "name": "Opening hours", "body": "Open 24/7."}
    )
    assert edited.status_code == 302
    assert root.post(f"/console/answers/{answer_id}/delete").status_code == 302
    assert _shared_rows(app) == [("Opening hours", "fr", "Ouvert.")]
    assert root.post(f"/console/answers/{answer_id}/delete").status_code == 404


def test_shared_answers_follow_the_answer_rules(app, login_as, two_tenants):
    root = login_as(two_tenants.provider_admin)
    root.post("/console/answers/new", {"language": "de", "name": "Gruß", "body": "Hallo."})
    for data, status, message in (
        ({"language": "de", "name": "Gruß", "body": "Hallo {patient_name}."}, 400, "Unknown placeholder"),
        ({"language": "de", "name": "", "body": "Hallo."}, 400, "A name has 1 to 120 characters."),
        ({"language": "de", "name": "Gruß 2", "body": "x" * 5001}, 400, "The text has 1 to 5000 characters."),
        ({"language": "xx", "name": "Gruß 2", "body": "Hallo."}, 400, "Choose a language from the list."),
        ({"language": "de", "name": "Gruß", "body": "Servus."}, 409, "A shared answer of this name exists"),
    ):
        response = root.post("/console/answers/new", data)
        assert response.status_code == status, data
        assert message in response.get_data(as_text=True)
    assert _shared_rows(app) == [("Gruß", "de", "Hallo.")]


def test_clinic_people_never_reach_the_console_and_provider_managers_only_read(app, login_as, two_tenants):
    with app.app_context():
        answer_id = answers.save_shared_answer(None, name="Gruß", language="de", body="Hallo.").id
        db.session.commit()
    fields = {"language": "de", "name": "Gruß", "body": "Gehackt."}
    for user in (two_tenants.a.agent, two_tenants.a.clinic_admin, two_tenants.b.supervisor):
        browser = login_as(user)
        assert browser.get("/console/answers/").status_code == 404
        assert browser.get("/console/answers/new").status_code == 404
        assert browser.post("/console/answers/new", fields).status_code == 404
        assert browser.post(f"/console/answers/{answer_id}/edit", fields).status_code == 404
        assert browser.post(f"/console/answers/{answer_id}/delete").status_code == 404
    manager = login_as(two_tenants.a.manager)  # the provider's manager of clinic A: console, not admin
    page = manager.get("/console/answers/").get_data(as_text=True)
    assert "Gruß" in page and "New shared answer" not in page and "/edit" not in page
    assert manager.post("/console/answers/new", fields).status_code == 404
    assert manager.post(f"/console/answers/{answer_id}/edit", fields).status_code == 404
    assert manager.post(f"/console/answers/{answer_id}/delete").status_code == 404
    assert _shared_rows(app) == [("Gruß", "de", "Hallo.")]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SharedAnswer)) == 1
