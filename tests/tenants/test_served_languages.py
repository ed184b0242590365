"""The languages a clinic serves are any ISO 639 language, named in the reader's language; its default stays an
interface language. Through HTTP: the clinic's details page and the console's onboarding form."""

import pytest

from app.auth.models import PlatformRole, TenantRole
from app.extensions import db
from app.tenants.models import Tenant

PROFILE = {"name": "Clinic A", "time_zone": "Europe/Berlin", "country_code": "DE", "subdivision": "HH",
           "default_locale": "de"}  # fmt: skip


def _languages(app, tenant_id) -> tuple[str, list[str]]:
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        return tenant.default_locale, list(tenant.supported_locales)


def test_a_hamburg_hotline_serves_turkish_arabic_ukrainian_and_russian(app, login_as, two_tenants):
    a = two_tenants.a
    response = login_as(a.manager).post(
        f"/t/{a.slug}/settings/profile", {**PROFILE, "supported_locales": ["de", "tr", "ar", "uk", "ru"]}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _languages(app, a.id) == ("de", ["de", "tr", "ar", "uk", "ru"])
    # The other clinic is untouched.
    assert _languages(app, two_tenants.b.id) == ("en", ["en", "de"])


def test_languages_typed_by_name_in_the_readers_language_are_added(app, login_as, two_tenants, create_user):
    a = two_tenants.a
    german = create_user("leiterin@example.test", locale="de", memberships=((a.id, TenantRole.MANAGER),))
    response = login_as(german).post(
        f"/t/{a.slug}/settings/profile",
        {**PROFILE, "supported_locales": ["de"], "supported_locales-add": "Türkisch, arabisch , Ukrainian, ru"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _languages(app, a.id) == ("de", ["de", "tr", "ar", "uk", "ru"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"supported_locales": ["de", "xx"]}, "&#39;xx&#39; is not a valid choice for this field."),
        ({"supported_locales": ["de", "klingon"]}, "&#39;klingon&#39; is not a valid choice for this field."),
        ({"supported_locales": ["de"], "supported_locales-add": "Turkish, Klingon"}, "Not a language we know: Klingon"),
        # A language served is not an interface language: the clinic's own pages cannot be in Turkish.
        ({"supported_locales": ["de", "tr"], "default_locale": "tr"}, "Not a valid choice."),
        ({"supported_locales": ["tr"], "default_locale": "de"}, "The default language must be one of the supported"),
    ],
    ids=["unknown-code", "unknown-word", "unknown-name-typed", "default-not-interface-language", "default-not-served"],
)
def test_a_bogus_language_is_refused_and_nothing_is_written(app, login_as, two_tenants, change, message):
    a = two_tenants.a
    before = _languages(app, a.id)
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/profile", {**PROFILE, **change})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _languages(app, a.id) == before


def test_the_refusal_of_an_unknown_language_is_in_the_readers_language(app, login_as, two_tenants, create_user):
    a = two_tenants.a
    german = create_user("leiter@example.test", locale="de", memberships=((a.id, TenantRole.MANAGER),))
    data = {**PROFILE, "supported_locales": ["de"], "supported_locales-add": "Klingonisch"}
    response = login_as(german).post(f"/t/{a.slug}/settings/profile", data)
    assert response.status_code == 400
    assert "Keine uns bekannte Sprache: Klingonisch." in response.get_data(as_text=True)
    assert _languages(app, a.id) == ("en", ["en", "de"])


def test_a_new_clinic_can_serve_any_language_from_the_start(app, browser, create_user):
    create_user("olivia@provider.test", platform_role=PlatformRole.MANAGER)
    browser.login("olivia@provider.test")
    response = browser.post(
        "/console/clinics/new",
        {
            **PROFILE,
            "name": "Hotline Hamburg",
            "slug": "hotline-hamburg",
            "supported_locales": ["de", "en"],
            "supported_locales-add": "Turkish, Arabic",
        },  # fmt: skip
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        tenant = db.session.scalar(db.select(Tenant).where(Tenant.slug == "hotline-hamburg"))
        assert (tenant.default_locale, tenant.supported_locales) == ("de", ["en", "de", "tr", "ar"])


def test_a_german_reader_sees_the_languages_served_named_in_german(app, login_as, two_tenants, create_user):
    a = two_tenants.a
    login_as(a.manager).post(f"/t/{a.slug}/settings/profile", {**PROFILE, "supported_locales": ["de", "tr", "ar"]})
    german = create_user("arzt@example.test", locale="de", memberships=((a.id, TenantRole.CLINIC_ADMIN),))
    overview = login_as(german).get(f"/t/{a.slug}/").get_data(as_text=True)
    assert "Deutsch, Türkisch, Arabisch" in overview
    # The form (in the clinic's default language, German) offers every language by its German name, in a list
    # a keyboard or a phone can search.
    form = login_as(a.manager).get(f"/t/{a.slug}/settings/profile").get_data(as_text=True)
    assert '<option value="Türkisch" data-code="tr">' in form and 'list="supported_locales-list"' in form
    assert 'value="tr" checked' in form and 'value="ar" checked' in form
