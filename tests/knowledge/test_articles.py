"""The knowledge base over HTTP: writing, searching in each language's dictionary, rules, isolation."""

import pytest
from sqlalchemy import text

from app.extensions import db
from app.knowledge import services
from app.tenancy import tenant_context


def _article(app, tenant_id, title, body, language="de"):
    with app.app_context(), tenant_context(tenant_id):
        article = services.create_article(language=language, title=title, body=body, author_id=None)
        db.session.commit()
        return article.id


def _titles(page: str, *titles) -> list[str]:
    return [title for title in titles if title in page]


def test_a_clinic_admin_writes_an_article_that_a_german_inflection_finds(login_as, two_tenants):
    admin = login_as(two_tenants.a.clinic_admin)
    response = admin.post(
        "/t/clinic-a/knowledge/new",
        {"language": "de", "title": "Anfahrt zur Klinik", "body": "Mit der U2 bis Haltestelle Klinikum."},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = login_as(two_tenants.a.agent).get("/t/clinic-a/knowledge/?q=Kliniken").get_data(as_text=True)
    assert "Anfahrt zur Klinik" in page


def test_english_articles_are_stemmed_in_english(app, login_as, two_tenants):
    _article(app, two_tenants.a.id, "Parking near the hospital", "The garage is on level two.", language="en")
    _article(app, two_tenants.a.id, "Insurance rules", "Bring your card.", language="en")
    page = login_as(two_tenants.a.agent).get("/t/clinic-a/knowledge/?q=parked&language=en").get_data(as_text=True)
    assert _titles(page, "Parking near the hospital", "Insurance rules") == ["Parking near the hospital"]


def test_a_fragment_no_dictionary_knows_is_found_as_a_substring(app, login_as, two_tenants):
    _article(app, two_tenants.a.id, "Darmspiegelung", "Vorbereitung: ab 18 Uhr nüchtern bleiben.")
    with app.app_context(), tenant_context(two_tenants.a.id):
        assert [a.title for a in services.search_articles("spiegel")] == ["Darmspiegelung"]
        assert services.search_articles("100%") == []  # the wildcard is escaped, not a match-all
    page = login_as(two_tenants.a.agent).get("/t/clinic-a/knowledge/?q=spiegel").get_data(as_text=True)
    assert "Darmspiegelung" in page


def test_invalid_articles_are_refused_beside_their_field(login_as, two_tenants):
    admin = login_as(two_tenants.a.clinic_admin)
    for data, message in (
        ({"language": "de", "title": "", "body": "x"}, "A title has 1 to 200 characters."),
        ({"language": "de", "title": "x" * 201, "body": "x"}, "A title has 1 to 200 characters."),
        ({"language": "de", "title": "Titel", "body": "x" * 20001}, "The text has 1 to 20000 characters."),
        ({"language": "fr", "title": "Titre", "body": "x"}, "Choose one of the clinic&#39;s languages."),
    ):
        response = admin.post("/t/clinic-a/knowledge/new", data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True)


def test_agents_read_but_only_managers_and_clinic_admins_write(app, login_as, two_tenants):
    article_id = _article(app, two_tenants.a.id, "Anfahrt", "Bus 5.")
    agent = login_as(two_tenants.a.agent)
    assert agent.get("/t/clinic-a/knowledge/").status_code == 200
    assert agent.get(f"/t/clinic-a/knowledge/{article_id}").status_code == 200
    assert agent.post("/t/clinic-a/knowledge/new", {"language": "de", "title": "T", "body": "B"}).status_code == 403
    assert agent.post(f"/t/clinic-a/knowledge/{article_id}/delete").status_code == 403
    manager = login_as(two_tenants.a.manager)
    edited = manager.post(
        f"/t/clinic-a/knowledge/{article_id}/edit", {"language": "de", "title": "Anfahrt", "body": "Straßenbahn 7."}
    )
    assert edited.status_code == 302
    assert "Straßenbahn 7." in agent.get(f"/t/clinic-a/knowledge/{article_id}").get_data(as_text=True)
    assert manager.post(f"/t/clinic-a/knowledge/{article_id}/delete").status_code == 302
    assert agent.get(f"/t/clinic-a/knowledge/{article_id}").status_code == 404


def test_an_empty_knowledge_base_says_so(login_as, two_tenants):
    page = login_as(two_tenants.a.agent).get("/t/clinic-a/knowledge/").get_data(as_text=True)
    assert "No articles yet." in page


@pytest.mark.tenant_isolation
def test_clinic_bs_articles_never_show_in_clinic_a(app, login_as, two_tenants):
    _article(app, two_tenants.a.id, "Anfahrt zur Klinik A", "Bus 5.")
    b_article = _article(app, two_tenants.b.id, "Anfahrt zur Klinik B", "Geheimnisvolle Hintertür.")
    admin = login_as(two_tenants.a.clinic_admin)
    for url in ("/t/clinic-a/knowledge/", "/t/clinic-a/knowledge/?q=Kliniken", "/t/clinic-a/knowledge/?q=Geheim"):
        page = admin.get(url).get_data(as_text=True)
        assert "Klinik B" not in page and "Hintertür" not in page, url
    assert "Anfahrt zur Klinik A" in admin.get("/t/clinic-a/knowledge/?q=Kliniken").get_data(as_text=True)
    assert admin.get(f"/t/clinic-a/knowledge/{b_article}").status_code == 404
    assert admin.get(f"/t/clinic-a/knowledge/{b_article}/edit").status_code == 404
    assert admin.post(f"/t/clinic-a/knowledge/{b_article}/delete").status_code == 404
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert services.get_article(b_article).title == "Anfahrt zur Klinik B"


@pytest.mark.tenant_isolation
@pytest.mark.database_wall  # raw SQL: only row-level security can scope it
def test_row_level_security_hides_clinic_bs_articles_from_raw_sql(app, two_tenants):
    _article(app, two_tenants.a.id, "Anfahrt A", "Bus 5.")
    _article(app, two_tenants.b.id, "Anfahrt B", "Bus 6.")
    with app.app_context(), tenant_context(two_tenants.a.id):
        rows = db.session.execute(text("SELECT tenant_id, title FROM knowledge_articles")).all()
        assert rows == [(two_tenants.a.id, "Anfahrt A")]
        db.session.rollback()
