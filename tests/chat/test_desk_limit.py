"""Several chats at once: claim-next gives an agent another chat of a queue while they hold fewer open chats
of it than the queue's chat limit, and no more; the other channels are claimed as before."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.hotline.models import Channel, Queue
from app.tenancy import tenant_context


@pytest.fixture
def chat_queue(two_tenants, set_languages, create_queue, app):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue_id = create_queue(a.id, "Chat EN", channel=Channel.CHAT)
    with app.app_context(), tenant_context(a.id):
        db.session.get(Queue, queue_id).chat_limit = 2
        db.session.commit()
    return queue_id


def _claim(browser, slug):
    response = browser.post(f"/t/{slug}/workspace/next")
    assert response.status_code == 302
    location = response.headers["Location"]
    return int(location.rsplit("/", 1)[1]) if "/contacts/" in location else None


def test_an_agent_takes_chats_up_to_the_queues_limit_and_no_more(
    app, two_tenants, login_as, chat_queue, create_chat_session
):
    a = two_tenants.a
    contacts = [create_chat_session(a.id, chat_queue, patient_ref=f"P-{n}")[2] for n in range(3)]
    agent = login_as(a.agent)
    assert _claim(agent, a.slug) == contacts[0]
    assert _claim(agent, a.slug) == contacts[1]
    assert _claim(agent, a.slug) is None  # two open chats: the limit
    # Once one chat is resolved, the agent may take the next.
    resolved = agent.post(
        f"/t/{a.slug}/contacts/{contacts[0]}/resolve", {"disposition": "answered", "topic": "appointments"}
    )
    assert resolved.status_code == 302
    assert _claim(agent, a.slug) == contacts[2]


def test_a_phone_contact_is_still_claimable_while_the_chats_are_at_their_limit(
    app, two_tenants, login_as, chat_queue, create_chat_session, create_queue, create_contact
):
    a = two_tenants.a
    for n in range(3):
        create_chat_session(a.id, chat_queue, patient_ref=f"P-{n}")
    phone = create_queue(a.id, "Phone EN", target_seconds=3600)
    phone_contact = create_contact(a.id, phone)
    agent = login_as(a.agent)
    claimed = [_claim(agent, a.slug) for _ in range(4)]
    assert phone_contact in claimed
    assert claimed[-1] is None
    assert len([c for c in claimed if c is not None]) == 3  # two chats and the call


def test_the_limit_counts_per_queue(app, two_tenants, login_as, chat_queue, create_chat_session, create_queue):
    a = two_tenants.a
    other = create_queue(a.id, "Chat results", channel=Channel.CHAT)
    with app.app_context(), tenant_context(a.id):
        db.session.get(Queue, other).chat_limit = 1
        db.session.commit()
    for n in range(2):
        create_chat_session(a.id, chat_queue, patient_ref=f"P-{n}")
    create_chat_session(a.id, other, patient_ref="P-other")
    agent = login_as(a.agent)
    claimed = [_claim(agent, a.slug) for _ in range(4)]
    assert len([c for c in claimed if c is not None]) == 3


def test_a_limit_of_one_keeps_an_agent_to_one_chat(
    app, two_tenants, login_as, create_queue, create_chat_session, set_languages
):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Chat EN", channel=Channel.CHAT)
    with app.app_context(), tenant_context(a.id):
        db.session.get(Queue, queue).chat_limit = 1
        db.session.commit()
    for n in range(2):
        create_chat_session(a.id, queue, patient_ref=f"P-{n}")
    agent = login_as(a.agent)
    assert _claim(agent, a.slug) is not None
    assert _claim(agent, a.slug) is None


# --- the queue form -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "status"), [("0", 400), ("21", 400), ("x", 400), ("1", 302), ("20", 302)])
def test_the_queue_form_takes_a_chat_limit_from_1_to_20(app, two_tenants, login_as, value, status):
    a = two_tenants.a
    manager = login_as(a.manager)
    response = manager.post(
        f"/t/{a.slug}/settings/queues",
        {
            "name": "Chat DE",
            "channel": "chat",
            "language": "en",
            "topic": "appointments",
            "priority": "3",
            "target_seconds": "60",
            "team_id": "",
            "chat_limit": value,
        },
    )
    assert response.status_code == status, response.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        saved = db.session.scalar(select(Queue.chat_limit).where(Queue.name == "Chat DE"))
    assert saved == (int(value) if status == 302 else None)


def test_the_queue_page_explains_the_chat_limit(app, two_tenants, login_as):
    a = two_tenants.a
    page = login_as(a.manager).get(f"/t/{a.slug}/settings/queues", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert 'name="chat_limit"' in text and "Only for chat queues" in text
