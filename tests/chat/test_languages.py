"""The chat in a language the interface does not speak: an Arabic chat queue is offered by its own name with its
direction, the widget's words fall back to English, and the desk shows the patient's Arabic right to left."""

from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Proficiency, Topic
from app.tenants.models import Tenant


def _arabic_chat(app, chat_world, create_queue):
    a = chat_world.a
    with app.app_context():
        tenant = db.session.get(Tenant, a.id)
        tenant.supported_locales = [*tenant.supported_locales, "ar"]
        db.session.commit()
    create_queue(a.id, "Chat AR", channel=Channel.CHAT, language="ar", topic=Topic.GENERAL)
    with app.app_context():
        hotline.set_agent_languages(a.agent, {"en": Proficiency.NATIVE, "ar": Proficiency.FLUENT})
        db.session.commit()
    return a


def test_an_arabic_chat_is_offered_by_its_own_name_right_to_left(app, visitor, chat_world, create_queue):
    _arabic_chat(app, chat_world, create_queue)
    languages = visitor("a").get("/config?lang=de").json["languages"]
    assert {"code": "ar", "name": "العربية", "dir": "rtl"} in languages
    assert {"code": "de", "name": "Deutsch", "dir": "ltr"} in languages


def test_the_widgets_words_for_an_arabic_patient_are_english(app):
    texts = app.test_client().get("/chat/v1/texts?lang=ar").get_json()
    assert texts["start"] == "Start the chat"


def test_the_desk_shows_an_arabic_chat_right_to_left(app, visitor, agents_present, create_queue, login_as):
    a = _arabic_chat(app, agents_present, create_queue)
    patient = visitor("a")
    assert patient.start(language="ar", topic="general").status_code == 201
    patient.say("مرحبا، أريد موعدا")
    assert patient.post("/handover").status_code == 200
    agent = login_as(a.agent)
    claimed = agent.post(f"/t/{a.slug}/workspace/next")
    assert claimed.status_code == 302 and "/contacts/" in claimed.location
    contact_id = int(claimed.location.rstrip("/").split("/")[-1])
    panel = agent.get(f"/t/{a.slug}/chats/{contact_id}/panel").get_data(as_text=True)
    assert '<div class="message-body" lang="ar" dir="rtl">مرحبا، أريد موعدا</div>' in panel
