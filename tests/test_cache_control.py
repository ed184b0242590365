"""No copy of a page with patient data stays in a browser or proxy cache (issue 13, item 5); static assets do.

A shared clinic workstation's back button or disk cache must not show the last person's patients.
"""

import pytest

from app.auth.tokens import issue_api_token
from app.extensions import db
from app.tenancy import tenant_context


def _get_rules(app, prefix: str, arguments: set[str]) -> list[str]:
    return sorted(
        {
            rule.rule
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith(prefix) and "GET" in rule.methods and set(rule.arguments) == arguments
        }
    )


def _no_store(response) -> bool:
    return response.cache_control.no_store


def test_every_clinic_page_answers_no_store(app, login_as, two_tenants):
    manager = login_as(two_tenants.a.manager)
    urls = [rule.replace("<tenant_slug>", "clinic-a") for rule in _get_rules(app, "/t/<tenant_slug>", {"tenant_slug"})]
    assert len(urls) > 30

    answers = {url: manager.get(url) for url in urls}

    assert sum(response.status_code == 200 for response in answers.values()) > 20
    assert [url for url, response in answers.items() if not _no_store(response)] == []


def test_every_console_page_answers_no_store(app, login_as, two_tenants):
    admin = login_as(two_tenants.provider_admin)
    urls = _get_rules(app, "/console", set())

    answers = {url: admin.get(url) for url in urls}

    assert sum(response.status_code == 200 for response in answers.values()) > 3
    assert [url for url, response in answers.items() if not _no_store(response)] == []


def test_api_answers_no_store(app, two_tenants):
    with app.app_context(), tenant_context(two_tenants.a.id):
        _token, secret = issue_api_token("Practice system", None)
        db.session.commit()

    response = app.test_client().get("/api/v1/queues", headers={"Authorization": f"Bearer {secret}"})

    assert response.status_code == 200
    assert _no_store(response)


@pytest.mark.parametrize("path", ["/static/app.css", "/static/js/live.js", "/static/favicon.svg"])
def test_static_assets_stay_cacheable(app, login_as, two_tenants, path):
    """Even for a logged-in browser: they hold no patient data."""
    response = login_as(two_tenants.a.agent).get(path)

    assert response.status_code == 200
    assert not _no_store(response)
    response.close()
