"""The answers above the reply box: filled in for the conversation (the patient's next appointment in the
conversation's language and the clinic's time zone), the conversation's language first, articles suggested
from its subject and latest message, inserted by a script file (no inline script under the CSP)."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.extensions import db
from app.hotline.models import Channel, Contact, ContactMessage, MessageDirection
from app.knowledge import answers, services
from app.patients.models import Appointment, AppointmentStatus
from app.tenancy import tenant_context

_PANEL = re.compile(r'<section class="answers-panel".*?</section>', re.S)
# Thursday 2 May 2030, 16:30 in Berlin (summer time): far beyond the pinned clock, whatever date it pins.
NEXT = datetime(2030, 5, 2, 14, 30, tzinfo=UTC)
GERMAN_BODY = (
    "Guten Tag, Ihr Termin ist am {appointment_date} um {appointment_time} bei {practitioner} "
    "({appointment_location}). Referenz {patient_reference}. Ihr {agent}, {clinic}"
)


def _appointment(app, tenant_id, patient_id, starts_at, practitioner, status=AppointmentStatus.SCHEDULED):
    with app.app_context(), tenant_context(tenant_id):
        db.session.add(
            Appointment(
                external_id=f"A-{practitioner}",
                patient_id=patient_id,
                starts_at=starts_at,
                location=f"Haus von {practitioner}",
                practitioner=practitioner,
                status=status,
            )
        )
        db.session.commit()


def _own(app, tenant_id, name, language, body):
    with app.app_context(), tenant_context(tenant_id):
        answers.save_clinic_answer(None, name=name, language=language, body=body, author_id=None)
        db.session.commit()


def _article(app, tenant_id, title, body, language="de") -> int:
    with app.app_context(), tenant_context(tenant_id):
        article = services.create_article(language=language, title=title, body=body, author_id=None)
        db.session.commit()
        return article.id


def _inbound(app, tenant_id, contact_id, text, *, subject=None, message_id="<1@patient.example>"):
    with app.app_context(), tenant_context(tenant_id):
        if subject is not None:
            db.session.get(Contact, contact_id).subject = subject
        db.session.add(
            ContactMessage(
                contact_id=contact_id,
                channel=Channel.EMAIL,
                direction=MessageDirection.INBOUND,
                from_address="patient@example.org",
                to_address="hotline@clinic-a.example",
                subject=subject or "",
                body_text=text,
                message_id=message_id,
            )
        )
        db.session.commit()


@pytest.fixture
def desk(two_tenants, set_languages, create_queue, create_contact):
    """Clinic A with a German queue and a contact from PAT-1; clinic B with the same reference."""
    a, b = two_tenants.a, two_tenants.b
    set_languages(a.agent, "de", "en")
    a["queue"] = create_queue(a.id, "Termine DE", language="de")
    a["contact"] = create_contact(a.id, a.queue, patient_ref="PAT-1", age_seconds=30)
    b["queue"] = create_queue(b.id, "Termine B", language="de")
    return two_tenants


def _panel(browser, contact_id) -> str:
    page = browser.get(f"/t/clinic-a/contacts/{contact_id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    match = _PANEL.search(page.get_data(as_text=True))
    assert match, "the contact page has no answers panel"
    return match.group(0)


def test_render_answer_writes_dates_in_the_language_and_the_clinics_time_zone(app, two_tenants):
    values = {"appointment_date": NEXT, "appointment_time": NEXT, "clinic": "Klinik A", "practitioner": None}
    with app.app_context(), tenant_context(two_tenants.a.id):
        german = answers.render_answer("{clinic}: {appointment_date}, {appointment_time}.{practitioner}", values, "de")
        english = answers.render_answer("{appointment_date}", values, "en")
        new_york = answers.render_answer("{appointment_time}", values, "de", time_zone="America/New_York")
        missing = answers.render_answer("[{appointment_location}] [{agent}]", {}, "de")
        old_rule = answers.render_answer("Hallo {patient_name}", values, "de")
    assert german == "Klinik A: Donnerstag, 2. Mai 2030, 16:30."
    assert english == "Thursday, May 2, 2030"
    assert new_york == "10:30"
    assert missing == "[] []"
    assert old_rule == "Hallo {patient_name}"  # saved before the rule: shown as written, never an error


def test_the_panel_fills_in_the_patients_next_appointment_in_german_and_puts_german_first(
    app, login_as, desk, create_patient
):
    a = desk.a
    patient = create_patient(a.id, "PAT-1", language="de")
    _appointment(app, a.id, patient, NEXT - timedelta(days=3), "Dr. Abgesagt", AppointmentStatus.CANCELLED)
    _appointment(app, a.id, patient, datetime(2020, 1, 1, 9, tzinfo=UTC), "Dr. Vergangen", AppointmentStatus.ATTENDED)
    _appointment(app, a.id, patient, NEXT, "Dr. Nächster", AppointmentStatus.CONFIRMED)
    _appointment(app, a.id, patient, NEXT + timedelta(days=30), "Dr. Später")
    with app.app_context():
        answers.save_shared_answer(None, name="Aaa reminder", language="en", body="See you on {appointment_date}.")
        db.session.commit()
    _own(app, a.id, "Terminauskunft", "de", GERMAN_BODY)

    panel = _panel(login_as(a.agent), a.contact)

    assert (
        "Guten Tag, Ihr Termin ist am Donnerstag, 2. Mai 2030 um 16:30 bei Dr. Nächster (Haus von Dr. Nächster). "
        "Referenz PAT-1. Ihr agent-a, Clinic A"
    ) in panel
    # No German version of the shared answer: offered after the German ones, in English, with English dates.
    assert panel.index("Terminauskunft") < panel.index("Aaa reminder")
    assert "See you on Thursday, May 2, 2030." in panel
    assert "not in the conversation&#39;s language" in panel or "not in the conversation's language" in panel
    # Without JavaScript the text is read and copied from its <details>; the script shows the insert buttons.
    assert panel.count("<details>") == 2 and panel.count('class="secondary insert-answer"') == 2
    assert re.search(
        r'<button type="button" class="secondary insert-answer" data-answer-for="answer-text-1" hidden>', panel
    )
    assert 'id="answer-text-1"' in panel
    assert '<script src="/static/js/answers.js" defer></script>' in panel


@pytest.mark.tenant_isolation
def test_without_an_upcoming_appointment_in_this_clinic_the_appointment_placeholders_are_empty(
    app, login_as, desk, create_patient
):
    a, b = desk.a, desk.b
    patient = create_patient(a.id, "PAT-1", language="de")
    _appointment(app, a.id, patient, datetime(2020, 1, 1, 9, tzinfo=UTC), "Dr. Vergangen", AppointmentStatus.ATTENDED)
    _appointment(app, a.id, patient, NEXT, "Dr. Abgesagt", AppointmentStatus.CANCELLED)
    # Clinic B's patient of the same reference has an appointment: never A's business.
    foreign = create_patient(b.id, "PAT-1", language="de")
    _appointment(app, b.id, foreign, NEXT, "Dr. Geheim Von B")
    _own(app, a.id, "Terminauskunft", "de", GERMAN_BODY)

    panel = _panel(login_as(a.agent), a.contact)

    assert "Guten Tag, Ihr Termin ist am  um  bei  (). Referenz PAT-1. Ihr agent-a, Clinic A" in panel
    assert "Geheim" not in panel and "2030" not in panel


def test_a_clinic_without_answers_says_so_above_the_reply_box(login_as, desk):
    panel = _panel(login_as(desk.a.agent), desk.a.contact)
    assert "The clinic has no answers yet." in panel and "Suggested articles" not in panel


@pytest.mark.tenant_isolation
def test_the_panel_suggests_the_clinics_articles_the_conversation_is_about(app, login_as, desk):
    a, b = desk.a, desk.b
    best = _article(app, a.id, "Darmspiegelung: Vorbereitung", "Am Vortag ab 18 Uhr nüchtern bleiben. Abführmittel.")
    _article(app, a.id, "Anfahrt zur Klinik", "Mit der U2 bis Haltestelle Klinikum.")
    _article(app, a.id, "Colonoscopy preparation", "Fast from 6 pm the day before.", language="en")
    _article(app, b.id, "Darmspiegelung in Klinik B", "Geheime Vorbereitung von B.")
    _inbound(
        app,
        a.id,
        a.contact,
        "Guten Tag, muss ich vor der Darmspiegelung nüchtern bleiben? Und wie ist die Vorbereitung?",
        subject="Frage zur Darmspiegelung",
    )

    panel = _panel(login_as(a.agent), a.contact)

    links = re.findall(r'<a href="/t/clinic-a/knowledge/(\d+)" target="_blank" rel="noopener">([^<]+)</a>', panel)
    assert links == [(str(best), "Darmspiegelung: Vorbereitung")]
    assert "Am Vortag ab 18 Uhr nüchtern bleiben." in panel  # the excerpt
    assert "Klinik B" not in panel and "Colonoscopy" not in panel


def test_suggestions_are_ranked_by_the_words_they_share_in_the_languages_dictionary(app, two_tenants):
    a = two_tenants.a
    both = _article(app, a.id, "Parkplätze und Anfahrt", "Parken im Parkhaus; Anfahrt mit dem Bus.")
    one = _article(app, a.id, "Anfahrt", "Mit dem Bus 5 bis zur Klinik.")
    _article(app, a.id, "Befunde", "Befunde kommen per Post.")
    frag = _article(app, a.id, "Magenspiegelung", "Ablauf der Untersuchung.")
    with app.app_context(), tenant_context(a.id):
        found = [x.id for x in services.suggest_articles("Wo kann ich parken? Wie ist die Anfahrt?", "de")]
        assert found == [both, one]
        assert services.suggest_articles("Wo kann ich parken?", "en") == []  # German articles only in German
        # No word the dictionary matches: fragments of the longest words find the article.
        assert [x.id for x in services.suggest_articles("Frage zur spiegelung", "de")] == [frag]
        assert services.suggest_articles("", "de") == [] and services.suggest_articles("?! ok", "de") == []
        assert len(services.suggest_articles("Anfahrt Befunde Parken Magenspiegelung", "de", limit=2)) == 2


def test_the_insert_script_is_a_static_file_that_writes_into_the_reply_box(app, browser):
    script = Path(app.static_folder, "js", "answers.js").read_text()
    assert 'getElementById("reply-body")' in script and "setRangeText" in script and "insert-answer" in script
    response = browser.get("/static/js/answers.js")
    assert response.status_code == 200 and "reply-body" in response.get_data(as_text=True)
    response.close()
