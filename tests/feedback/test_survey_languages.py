"""A survey to a patient whose language the interface does not speak: the application's words in English (not the
clinic's default language), the survey kept in the patient's language for the reports, its page saying lang="en"."""

from app.extensions import db
from app.tenants.models import Tenant
from tests.feedback.conftest import link_path, surveys
from tests.feedback.test_surveys import _sent_survey


def test_a_turkish_patients_survey_reads_english_and_is_kept_as_turkish(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    with app.app_context():
        tenant = db.session.get(Tenant, a.id)
        tenant.default_locale, tenant.supported_locales = "de", ["de", "en", "tr"]
        db.session.commit()
    message = _sent_survey(app, a, sms, create_patient, survey_queue, resolved_contact, language="tr")
    assert "how satisfied were you with our help" in message["body"]
    [survey] = surveys(app, a.id)
    assert survey.language == "tr"
    page = browser.get(link_path(message["body"])).get_data(as_text=True)
    assert page.startswith('<!doctype html>\n<html lang="en" dir="ltr">')
