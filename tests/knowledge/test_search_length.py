"""The knowledge search refuses a query longer than anyone types (like the contact search), before the database."""

import pytest

from app.extensions import db
from app.input_rules import BadInput
from app.knowledge import services
from app.tenancy import tenant_context


def test_a_too_long_knowledge_search_answers_400_and_still_lists_the_articles(app, login_as, two_tenants):
    with app.app_context(), tenant_context(two_tenants.a.id):
        article_id = services.create_article(language="de", title="Anfahrt", body="Bus 5.", author_id=None).id
        db.session.commit()
    agent = login_as(two_tenants.a.agent)
    response = agent.get("/t/clinic-a/knowledge/?q=" + "Anfahrt " * 30)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Search with at most 200 characters." in page
    assert f'href="/t/clinic-a/knowledge/{article_id}"' in page  # the latest articles, below the message
    longest = agent.get("/t/clinic-a/knowledge/?q=" + "A" * 200)
    assert longest.status_code == 200 and "No article matches" in longest.get_data(as_text=True)


def test_the_service_refuses_it_too(app, two_tenants):
    with app.app_context(), tenant_context(two_tenants.a.id), pytest.raises(BadInput) as refused:
        services.search_articles("x" * 201)
    assert refused.value.field == "q"
