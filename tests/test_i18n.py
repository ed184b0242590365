"""Locale selection (user choice, else tenant default, else Accept-Language) and complete catalogs."""

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.extensions import db
from app.i18n import LOCALES
from tests.conftest import PASSWORD

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _read(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def test_accept_language_chooses_the_login_page_language(browser):
    body = browser.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert "Se connecter" in body or "Connexion" in body
    assert 'lang="fr"' in body


def test_unsupported_accept_language_falls_back_to_english(browser):
    body = browser.get("/login", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'lang="en"' in body and "Log in" in body


def test_tenant_default_language_applies_to_members_without_a_choice(app, login_as, create_tenant, create_user):
    from app.auth.models import TenantRole

    tenant_id = create_tenant("clinica-es", default_locale="es", supported_locales=("es", "en"))
    agent = create_user("agente@example.test", memberships=((tenant_id, TenantRole.AGENT),))
    body = login_as(agent).get("/t/clinica-es/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert 'lang="es"' in body


def test_users_own_choice_wins_over_tenant_and_browser(app, login_as, create_tenant, create_user):
    from app.auth.models import TenantRole, User

    tenant_id = create_tenant("clinica-pl", default_locale="es", supported_locales=("es", "pl"))
    agent = create_user("agentka@example.test", memberships=((tenant_id, TenantRole.AGENT),))
    browser = login_as(agent)
    response = browser.post("/locale", {"locale": "pl", "next": "/t/clinica-pl/"})
    assert response.status_code == 302 and response.location == "/t/clinica-pl/"
    with app.app_context():
        assert db.session.get(User, agent).locale == "pl"
    body = browser.get("/t/clinica-pl/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert 'lang="pl"' in body


def test_anonymous_choice_is_kept_in_the_session(browser):
    browser.post("/locale", {"locale": "de"})
    assert 'lang="de"' in browser.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_unknown_locale_is_refused(browser):
    assert browser.post("/locale", {"locale": "xx"}).status_code == 400


def test_form_validation_messages_are_translated(browser):
    body = browser.post("/login", {"email": "", "password": ""}, headers={"Accept-Language": "de"}).get_data(
        as_text=True
    )
    assert "This field is required." not in body
    assert "Dieses Feld" in body


@pytest.mark.parametrize("locale", [code for code in LOCALES if code != "en"])
def test_catalog_is_complete_and_keeps_placeholders(locale):
    template = _read(TRANSLATIONS / "messages.pot")
    catalog = _read(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po")
    missing, broken = [], []
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id)
        strings = translated.string if translated is not None else None
        strings = list(strings) if isinstance(strings, tuple) else [strings]
        if translated is None or not all(strings) or translated.fuzzy:
            missing.append(message.id)
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(ids[0]))
        if any(set(PLACEHOLDER.findall(s)) != wanted for s in strings):
            broken.append(message.id)
    assert missing == [] and broken == []


def test_template_is_up_to_date_with_the_code(tmp_path):
    """Every string in the code is in messages.pot: run `flask translate update` after adding strings."""
    import subprocess
    import sys

    fresh = tmp_path / "fresh.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-o",
            str(fresh),
            "--no-location",
            "--sort-output",
            ".",
        ],
        check=True,
        cwd=TRANSLATIONS.parent,
        capture_output=True,
    )
    ids = {m.id for m in _read(fresh) if m.id}
    committed = {m.id for m in _read(TRANSLATIONS / "messages.pot") if m.id}
    assert ids - committed == set()


def test_a_language_chosen_on_the_login_page_wins_over_the_profile_for_that_session(app, create_user, browser):
    from app.auth.models import User

    german = create_user("deutsch@example.test", locale="de")
    browser.post("/locale", {"locale": "en"})
    browser.post("/login", {"email": "deutsch@example.test", "password": PASSWORD})
    assert 'lang="en"' in browser.get("/", follow_redirects=True).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, german).locale == "de"  # the saved profile is left as it was

    # A choice made while signed in is saved and applies at once.
    browser.post("/locale", {"locale": "pl"})
    assert 'lang="pl"' in browser.get("/", follow_redirects=True).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, german).locale == "pl"

    # Logging out ends the session's choice: the next sign-in reads the profile again.
    browser.post("/logout")
    browser.post("/login", {"email": "deutsch@example.test", "password": PASSWORD})
    assert 'lang="pl"' in browser.get("/", follow_redirects=True).get_data(as_text=True)


def test_without_a_choice_this_session_the_profile_language_applies(app, create_user, browser):
    create_user("polski@example.test", locale="pl")
    browser.post("/login", {"email": "polski@example.test", "password": PASSWORD})
    assert 'lang="pl"' in browser.get("/", headers={"Accept-Language": "en"}, follow_redirects=True).get_data(
        as_text=True
    )
