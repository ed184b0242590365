"""Reminders in the languages patients speak (any ISO 639): the patient's template when the clinic wrote one, replies
in their words, right-to-left templates shown right to left, and the patient's page in an interface language."""

import re

import pytest
from sqlalchemy import select

from app.campaigns import services
from app.campaigns.models import CampaignStep, MessageStatus, OutboundMessage, Reply
from app.extensions import db
from app.patients.models import Appointment, AppointmentStatus, Patient
from app.tenancy import tenant_context
from app.tenants.models import Tenant
from tests.campaigns.conftest import DUE_FIRST_STEP, run_outbound_worker
from tests.campaigns.test_outbound import _enqueue_run, _signed_post

ARABIC = "مرحبا، موعدك {date} الساعة {time}. أرسل نعم للتأكيد. {link}"
TURKISH = "Merhaba, randevunuz {date} saat {time}. Onaylamak için EVET yazın. {link}"


def _serve(app, tenant_id, *languages):
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.supported_locales = [*tenant.supported_locales, *languages]
        db.session.commit()


def _write_templates(app, tenant_id, step_id, **bodies):
    with app.app_context(), tenant_context(tenant_id):
        step = db.session.get(CampaignStep, step_id)
        for language, body in bodies.items():
            services.save_template(step, language=language, subject=None, body=body)
        db.session.commit()


@pytest.fixture
def hamburg(app, two_tenants, reminder_campaign):
    """Clinic A serves Turkish, Arabic, Ukrainian and Russian too; its first reminder step (SMS) is written in
    Arabic and Turkish besides English and German."""
    a = two_tenants.a
    _serve(app, a.id, "tr", "ar", "uk", "ru")
    steps = reminder_campaign(a.id)
    _write_templates(app, a.id, steps["first"], ar=ARABIC, tr=TURKISH)
    return a


def _sms_to(sms, phone) -> str:
    [body] = [m["body"] for m in sms.delivered.values() if m["to"] == phone]
    return body


def test_each_patient_gets_the_template_of_their_language_else_the_clinics_default(
    app, hamburg, sms, create_patient, create_appointment
):
    a = hamburg
    patients = {
        "ar": create_patient(a.id, "P-AR", phone="+4915100000001", language="ar"),
        "tr": create_patient(a.id, "P-TR", phone="+4915100000002", language="tr"),
        # Ukrainian is served but has no template yet: the clinic's default language (English) goes out.
        "uk": create_patient(a.id, "P-UK", phone="+4915100000003", language="uk"),
    }
    for patient in patients.values():
        create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP, external_id=f"A-{patient}")
    _enqueue_run(app, a.id)
    run_outbound_worker(app)

    arabic = _sms_to(sms, "+4915100000001")
    assert arabic.startswith("مرحبا، موعدك") and "/m/clinic-a/" in arabic
    turkish = _sms_to(sms, "+4915100000002")
    assert turkish.startswith("Merhaba, randevunuz") and "saat" in turkish
    assert _sms_to(sms, "+4915100000003").startswith("Hello, see you")
    with app.app_context(), tenant_context(a.id):
        languages = dict(db.session.execute(select(OutboundMessage.patient_id, OutboundMessage.language)).all())
    assert languages == {patients["ar"]: "ar", patients["tr"]: "tr", patients["uk"]: "en"}


@pytest.mark.parametrize(
    ("language", "reply", "outcome"),
    [
        ("tr", "Evet", Reply.CONFIRMED),
        ("tr", "HAYIR", Reply.CANCELLED),
        ("ar", "نعم", Reply.CONFIRMED),
        ("ar", "١", Reply.CONFIRMED),  # an Arabic-Indic digit is a digit
        ("ar", "لا", Reply.CANCELLED),
        ("uk", "Так", Reply.CONFIRMED),
        ("ru", "да!", Reply.CONFIRMED),
        ("ru", "Нет", Reply.CANCELLED),
    ],
)
def test_a_reply_in_the_patients_words_is_understood(
    app, hamburg, sms, browser, create_patient, create_appointment, create_queue, language, reply, outcome
):
    a = hamburg
    create_queue(a.id, "Callbacks", channel="callback", language="en")
    patient = create_patient(a.id, phone="+4915112345678", language=language)
    appointment = create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)

    response = _signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": reply})
    assert response.status_code == 200
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(OutboundMessage.reply)) == outcome
        expected = AppointmentStatus.CONFIRMED if outcome == Reply.CONFIRMED else AppointmentStatus.CANCELLED
        assert db.session.get(Appointment, appointment).status == expected


@pytest.mark.parametrize("word", ["توقف", "СТОП", "durdur", "STOP"])
def test_stop_in_the_patients_words_ends_every_message(
    app, hamburg, sms, browser, create_patient, create_appointment, word
):
    a = hamburg
    patient = create_patient(a.id, phone="+4915112345678", language="ar")
    create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    response = _signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": word})
    # The application's own answer: Arabic is no interface language, so it reads English.
    assert "You will receive no more messages from this clinic." in response.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Patient, patient).opted_out_at is not None


def test_an_unknown_word_changes_nothing(app, hamburg, sms, browser, create_patient, create_appointment):
    a = hamburg
    patient = create_patient(a.id, phone="+4915112345678", language="tr")
    appointment = create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP)
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    _signed_post(app, browser, "/m/clinic-a/sms", {"From": "+4915112345678", "Body": "belki"})
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalar(select(OutboundMessage.reply)) is None
        assert db.session.get(Appointment, appointment).status == AppointmentStatus.SCHEDULED


def test_an_arabic_template_is_edited_and_previewed_right_to_left(app, hamburg, login_as, reminder_campaign):
    a = hamburg
    with app.app_context(), tenant_context(a.id):
        step = db.session.scalar(select(CampaignStep).order_by(CampaignStep.id))
        campaign_id, step_id = step.campaign_id, step.id
    manager = login_as(a.manager)
    url = f"/t/{a.slug}/campaigns/{campaign_id}/steps/{step_id}/template"
    page = manager.get(f"{url}?language=ar").get_data(as_text=True)
    [textarea] = re.findall(r'<textarea[^>]*name="body"[^>]*>', page)
    assert 'dir="rtl"' in textarea and 'lang="ar"' in textarea
    assert '<div class="template-preview" lang="ar" dir="rtl">' in page
    # The languages by name: Turkish written, Ukrainian not yet.
    assert ">Turkish</a> ✓</li>" in page and ">Ukrainian</a></li>" in page
    # A Latin-script language: the text decides its own direction.
    assert '<div class="template-preview" lang="tr" dir="auto">' in manager.get(f"{url}?language=tr").get_data(
        as_text=True
    )
    # A served language is saved through the form; one the clinic does not serve is refused, nothing written.
    saved = manager.post(url, {"language": "uk", "body": "Вітаємо, ваш прийом {date} о {time}. {link}"})
    assert saved.status_code == 302
    refused = manager.post(url, {"language": "fa", "body": "سلام {link}"})
    assert refused.status_code == 400
    with app.app_context(), tenant_context(a.id):
        languages = set(services.templates(db.session.get(CampaignStep, step_id)))
    assert languages == {"en", "de", "ar", "tr", "uk"}


def test_the_patients_page_speaks_an_interface_language(app, hamburg, sms, browser, create_patient, create_appointment):
    a = hamburg
    arabic = create_patient(a.id, "P-AR", phone="+4915100000001", language="ar")
    german = create_patient(a.id, "P-DE", phone="+4915100000002", language="de")
    for patient in (arabic, german):
        create_appointment(a.id, patient, starts_in=DUE_FIRST_STEP, external_id=f"A-{patient}")
    _enqueue_run(app, a.id)
    run_outbound_worker(app)
    with app.app_context(), tenant_context(a.id):
        tokens = dict(
            db.session.execute(
                select(OutboundMessage.patient_id, OutboundMessage.token).where(
                    OutboundMessage.status == MessageStatus.SENT
                )
            ).all()
        )
    # No interface in Arabic: the page's own words in English, and it says so to the browser.
    page = browser.get(f"/m/clinic-a/{tokens[arabic]}").get_data(as_text=True)
    assert page.startswith('<!doctype html>\n<html lang="en" dir="ltr">')
    page = browser.get(f"/m/clinic-a/{tokens[german]}").get_data(as_text=True)
    assert page.startswith('<!doctype html>\n<html lang="de" dir="ltr">')
