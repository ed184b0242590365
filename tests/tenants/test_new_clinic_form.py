"""The console's new-clinic form as a manager first gets it: the choices it needs to be filled in."""


def test_new_clinic_form_offers_time_zones_countries_and_languages(login_as, two_tenants):
    page = login_as(two_tenants.a.manager).get("/console/clinics/new")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for option in ('value="Europe/Berlin"', 'value="DE"', 'value="de"', 'name="slug"'):
        assert option in text, option
