"""The hotline in the languages patients speak: agents' skills in any ISO 639 language, queues in any language
the clinic serves, contacts routed by them, and patients' words shown in their own direction. Through HTTP."""

import re

import pytest
from sqlalchemy import select

from app.auth.models import TenantRole
from app.extensions import db
from app.hotline import services
from app.hotline.models import AgentLanguage, Channel, Proficiency, Queue
from app.languages import is_language
from app.tenancy import tenant_context
from app.tenants.models import Tenant


def _serve(app, tenant_id, *languages):
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.supported_locales = [*tenant.supported_locales, *languages]
        db.session.commit()


def _skills(app, user_id) -> dict:
    with app.app_context():
        return services.agent_languages(user_id)


@pytest.fixture
def hamburg(app, two_tenants):
    """Clinic A serves Turkish and Arabic besides English and German."""
    _serve(app, two_tenants.a.id, "tr", "ar")
    return two_tenants.a


def test_a_manager_sets_a_turkish_queue_and_a_language_not_served_is_refused(app, hamburg, login_as):
    a = hamburg
    manager = login_as(a.manager)
    form = {"name": "Türkçe hat", "channel": "phone", "topic": "appointments", "priority": "3",
            "target_seconds": "60", "team_id": "", "chat_limit": "3"}  # fmt: skip
    assert manager.post(f"/t/{a.slug}/settings/queues", {**form, "language": "tr"}).status_code == 302
    refused = manager.post(f"/t/{a.slug}/settings/queues", {**form, "name": "Farsi", "language": "fa"})
    assert refused.status_code == 400
    with app.app_context(), tenant_context(a.id):
        assert db.session.execute(select(Queue.name, Queue.language)).all() == [("Türkçe hat", "tr")]
    # The queue's language by name, in the reader's language.
    assert ">Turkish</td>" in manager.get(f"/t/{a.slug}/settings/queues").get_data(as_text=True)


def test_an_agent_who_speaks_turkish_is_offered_the_turkish_contact_and_one_who_does_not_is_not(
    app, hamburg, login_as, create_user, set_languages, create_queue, create_contact
):
    a = hamburg
    turkish_speaker = a.agent
    other = create_user("agent-2@example.test", memberships=((a.id, TenantRole.AGENT),))
    set_languages(turkish_speaker, "de", "tr")
    set_languages(other, "de", "en", "ar")
    queue = create_queue(a.id, "Türkçe hat", language="tr", channel=Channel.EMAIL)
    contact = create_contact(a.id, queue, age_seconds=60)

    refused = login_as(other).post(f"/t/{a.slug}/workspace/next")
    assert refused.status_code == 302 and refused.location.endswith("/workspace")
    claimed = login_as(turkish_speaker).post(f"/t/{a.slug}/workspace/next")
    assert claimed.status_code == 302 and claimed.location.endswith(f"/contacts/{contact}")


def test_a_manager_adds_any_language_to_an_agents_skills_by_name(app, hamburg, login_as):
    a = hamburg
    manager = login_as(a.manager)
    url = f"/t/{a.slug}/settings/agents/{a.agent}/languages"
    page = manager.get(url).get_data(as_text=True)
    # The clinic's languages as rows, any other from a list of every language.
    assert '<label for="lang_tr">Turkish</label>' in page and '<option value="Ukrainian" data-code="uk">' in page
    saved = manager.post(url, {"lang_tr": "native", "lang_de": "fluent", "add_language": "Ukrainian",
                               "add_level": "working"})  # fmt: skip
    assert saved.status_code == 302
    assert _skills(app, a.agent) == {"de": Proficiency.FLUENT, "tr": Proficiency.NATIVE, "uk": Proficiency.WORKING}
    # Skills belong to the person: shown by name on the agents' page.
    agents = manager.get(f"/t/{a.slug}/settings/agents").get_data(as_text=True)
    assert "Ukrainian (" in agents and "Turkish (" in agents


def test_a_skill_under_a_code_since_dropped_from_the_list_is_kept_when_the_page_is_saved_again(
    app, hamburg, login_as, create_user, set_languages
):
    a = hamburg
    # "mo" (Moldavian) was withdrawn from ISO 639; a skill stored under it before the list dropped it stays.
    assert not is_language("mo")
    with app.app_context():
        db.session.add(AgentLanguage(user_id=a.agent, language="mo", proficiency=Proficiency.NATIVE))
        db.session.commit()
    manager = login_as(a.manager)
    url = f"/t/{a.slug}/settings/agents/{a.agent}/languages"
    assert 'id="lang_mo"' in manager.get(url).get_data(as_text=True)
    saved = manager.post(url, {"lang_mo": "native", "lang_de": "fluent"})
    assert saved.status_code == 302
    assert _skills(app, a.agent) == {"mo": Proficiency.NATIVE, "de": Proficiency.FLUENT}
    # Only for the person who holds it: another agent cannot be given it.
    other = create_user("other-agent@a.test", memberships=((a.id, TenantRole.AGENT),))
    set_languages(other, "de")
    refused = manager.post(f"/t/{a.slug}/settings/agents/{other}/languages", {"lang_mo": "native"})
    assert refused.status_code == 400
    assert "This language is not available." in refused.get_data(as_text=True)
    assert _skills(app, other) == {"de": Proficiency.FLUENT}


@pytest.mark.parametrize(
    "data",
    [
        {"lang_tr": "native", "add_language": "Klingon", "add_level": "working"},
        {"lang_xx": "native"},
        {"lang_tr": "perfect"},
    ],
    ids=["unknown-name", "unknown-code", "unknown-level"],
)
def test_a_bogus_skill_is_refused_and_nothing_changes(app, hamburg, login_as, set_languages, data):
    a = hamburg
    set_languages(a.agent, "de")
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/agents/{a.agent}/languages", data)
    assert response.status_code == 400
    assert _skills(app, a.agent) == {"de": Proficiency.FLUENT}
    if "add_language" in data:
        assert "Not a language we know: Klingon." in response.get_data(as_text=True)


def test_a_refused_page_keeps_the_managers_other_choices(app, hamburg, login_as, set_languages):
    a = hamburg
    set_languages(a.agent, "de")
    # A bad row between two good ones: both good ones are shown again as chosen, the bad one is not.
    sent = {"lang_tr": "native", "lang_xx": "native", "lang_de": "working"}
    response = login_as(a.manager).post(f"/t/{a.slug}/settings/agents/{a.agent}/languages", sent)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    selects = re.findall(r'<select name="lang_(\w+)"(.*?)</select>', page, re.S)
    chosen = {(code, level) for code, options in selects for level in re.findall(r'value="(\w+)" selected', options)}
    assert chosen == {("tr", "native"), ("de", "working")}
    assert _skills(app, a.agent) == {"de": Proficiency.FLUENT}


def test_an_arabic_conversation_reads_right_to_left_and_a_german_one_as_its_text_says(
    app, hamburg, login_as, set_languages, create_queue, create_contact, create_inbound_message
):
    a = hamburg
    set_languages(a.agent, "ar", "de")
    arabic = create_contact(a.id, create_queue(a.id, "Arabic e-mail", language="ar", channel="email"))
    german = create_contact(a.id, create_queue(a.id, "Deutsch E-Mail", language="de", channel="email"))
    create_inbound_message(a.id, arabic, to_address="help@a.example", subject="موعد", body_text="أريد تغيير موعدي")
    create_inbound_message(a.id, german, to_address="help@a.example", subject="Termin", body_text="Neuer Termin?")
    supervisor = login_as(a.supervisor)

    page = supervisor.get(f"/t/{a.slug}/contacts/{arabic}").get_data(as_text=True)
    assert '<div class="message-body" lang="ar" dir="rtl">أريد تغيير موعدي</div>' in page
    assert '<p class="message-subject" lang="ar" dir="rtl"><strong>موعد</strong></p>' in page
    [reply_box] = re.findall(r"<textarea[^>]*>", page.split('id="reply-form"')[1])
    assert 'dir="rtl"' in reply_box
    page = supervisor.get(f"/t/{a.slug}/contacts/{german}").get_data(as_text=True)
    assert '<div class="message-body" lang="de" dir="auto">Neuer Termin?</div>' in page


def test_a_german_reader_sees_turkish_named_in_german(
    app, hamburg, login_as, create_user, set_languages, create_queue, create_contact
):
    a = hamburg
    leiterin = create_user("leiterin@example.test", locale="de", memberships=((a.id, TenantRole.SUPERVISOR),))
    contact = create_contact(a.id, create_queue(a.id, "Türkçe hat", language="tr"))
    page = login_as(leiterin).get(f"/t/{a.slug}/contacts/{contact}").get_data(as_text=True)
    assert "Türkisch" in page and "Turkish" not in page


def test_skills_saved_are_the_persons_in_every_clinic_and_a_clinic_b_manager_cannot_change_them(
    app, hamburg, two_tenants, login_as, set_languages
):
    a, b = hamburg, two_tenants.b
    set_languages(a.agent, "tr")
    response = login_as(b.manager).post(f"/t/{b.slug}/settings/agents/{a.agent}/languages", {"lang_ar": "native"})
    assert response.status_code == 404
    with app.app_context():
        rows = db.session.execute(select(AgentLanguage.language).where(AgentLanguage.user_id == a.agent)).all()
    assert [tuple(row) for row in rows] == [("tr",)]
