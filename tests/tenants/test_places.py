"""A clinic's country, region and time zone: named in the reader's language, one code per country, the
country's regions and zones offered as it is chosen, and a region of another country refused in words."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.tenants.models import Tenant


def _options(page: str, name: str) -> str:
    start = page.index(f'name="{name}"')
    return page[start : page.index("</select>", start)]


def test_countries_are_named_in_the_readers_language_once_each(login_as, two_tenants):
    manager = login_as(two_tenants.a.manager)
    manager.post("/locale", {"locale": "de"})
    page = manager.get("/console/clinics/new").get_data(as_text=True)
    countries = _options(page, "country_code")
    assert '<option selected value="DE">Deutschland</option>' in countries
    assert 'value="DEU"' not in countries and 'value="POL"' not in countries
    assert countries.index(">Dänemark<") < countries.index(">Deutschland<") < countries.index(">Polen<")
    zones = _options(page, "time_zone")
    assert 'value="Europe/Berlin">Deutschland – Berlin (Europe/Berlin)<' in zones.replace("selected ", "")
    regions = _options(page, "subdivision")
    assert 'value="BY">Bayern (BY)<' in regions and ">Gesamtes Land<" in regions


@pytest.mark.parametrize(
    ("country", "region", "zones", "suggested"),
    [
        ("DE", ["BY", "Bayern"], ["Europe/Berlin", "Europe/Busingen"], "Europe/Berlin"),
        ("PL", None, ["Europe/Warsaw"], "Europe/Warsaw"),
        # Mainland Spain and the Canaries keep different times: nothing is guessed.
        ("ES", ["CN", "Canarias"], ["Africa/Ceuta", "Atlantic/Canary", "Europe/Madrid"], None),
    ],
)
def test_a_chosen_country_brings_its_regions_and_time_zones(login_as, two_tenants, country, region, zones, suggested):
    answer = login_as(two_tenants.a.manager).get(f"/places/countries/{country}")
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["time_zones"] == zones and data["suggested_time_zone"] == suggested
    if region:
        assert region in data["regions"]


def test_an_alias_or_unknown_country_is_not_found_and_strangers_are_sent_to_log_in(login_as, two_tenants, browser):
    manager = login_as(two_tenants.a.manager)
    assert manager.get("/places/countries/DEU").status_code == 404
    assert manager.get("/places/countries/XX").status_code == 404
    assert browser.get("/places/countries/DE").status_code == 302


def test_a_region_typed_in_small_letters_is_saved_as_its_code(app, login_as, two_tenants):
    form = {"name": "South Clinic", "slug": "south-clinic", "time_zone": "Europe/Berlin", "country_code": "de",
            "subdivision": "by", "default_locale": "de", "supported_locales": ["de"]}  # fmt: skip
    assert login_as(two_tenants.a.manager).post("/console/clinics/new", form).status_code == 302
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "south-clinic"))
        assert (tenant.country_code, tenant.subdivision) == ("DE", "BY")
