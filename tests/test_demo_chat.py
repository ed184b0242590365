"""The demo's chat: the first clinic has a widget allowed on the demo clinic website, German and English chat
queues, articles its assistant finds, and a finished chat history; the website embeds the widget with one tag."""

import re
import threading
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select

from app.chat.models import ChatAuthor, ChatMessage, ChatSession, ChatWidget, EndReason
from app.demo import (
    CHAT_CLINIC,
    DEMO_SITE_PORT,
    WIDGET_SCRIPT_PATH,
    allow_demo_site,
    demo_site_key,
    demo_site_pages,
    seed_demo,
    serve_demo_site,
)
from app.extensions import db
from app.hotline.models import Channel, Contact, ContactStatus, Queue
from app.knowledge.services import suggest_articles
from app.tenancy import tenant_context
from app.tenants.models import Tenant


@pytest.fixture
def seeded(app_context):
    seed_demo()
    db.session.commit()
    return {tenant.slug: tenant.id for tenant in db.session.scalars(select(Tenant))}


def test_the_chat_clinic_has_a_widget_chat_queues_articles_and_a_finished_history(seeded):
    with tenant_context(seeded[CHAT_CLINIC]):
        [widget] = db.session.scalars(select(ChatWidget)).all()
        assert widget.enabled and f"http://127.0.0.1:{DEMO_SITE_PORT}" in widget.allowed_origins
        assert widget.privacy_notice_url == f"http://127.0.0.1:{DEMO_SITE_PORT}/privacy"
        chat_queues = db.session.scalars(select(Queue).where(Queue.channel == Channel.CHAT)).all()
        assert sorted((q.language, q.chat_limit, q.in_house) for q in chat_queues) == [
            ("de", 3, False),
            ("en", 3, False),
        ]
        # The assistant (retrieval) finds an article for a patient's question in either language.
        [first, *_rest] = suggest_articles("Kann ich meinen Termin verschieben?", "de")
        assert first.title == "Termin verschieben oder absagen"
        assert suggest_articles("When are you open on Saturday?", "en")[0].title == "Opening hours"
        sessions = db.session.scalars(select(ChatSession).order_by(ChatSession.id)).all()
        assert [(s.state.value, s.end_reason) for s in sessions] == [
            ("ended", EndReason.ANSWERED.value),
            ("ended", EndReason.AGENT_CLOSED.value),
        ]
        handed = sessions[1]
        contact = db.session.get(Contact, handed.contact_id)
        assert (contact.channel, contact.status) == (Channel.CHAT, ContactStatus.RESOLVED)
        authors = db.session.scalars(
            select(ChatMessage.author).where(ChatMessage.session_id == handed.id).order_by(ChatMessage.id)
        ).all()
        assert ChatAuthor.AGENT in authors and ChatAuthor.SYSTEM in authors
    # Only the chat clinic has chat in the demo.
    for slug, tenant_id in seeded.items():
        if slug != CHAT_CLINIC:
            with tenant_context(tenant_id):
                assert db.session.scalar(select(func.count(ChatWidget.id))) == 0

    # A demo started beside another one serves its site on another port: that origin is allowed too, once.
    key = allow_demo_site("http://127.0.0.1:18090")
    assert allow_demo_site("http://127.0.0.1:18090") == key == demo_site_key()
    with tenant_context(seeded[CHAT_CLINIC]):
        origins = db.session.scalar(select(ChatWidget.allowed_origins))
    assert origins.count("http://127.0.0.1:18090") == 1 and f"http://127.0.0.1:{DEMO_SITE_PORT}" in origins


def test_the_demo_site_serves_one_script_tag_with_the_widget_key_and_a_privacy_notice():
    key = "pk_demo_key"
    server = serve_demo_site("127.0.0.1", 0, demo_site_pages("http://127.0.0.1:5999/", key))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/", timeout=5) as response:
            page = response.read().decode()
        tags = re.findall(r"<script[^>]*>", page)
        assert tags == [f'<script src="http://127.0.0.1:5999{WIDGET_SCRIPT_PATH}" data-key="{key}" async>']
        with urllib.request.urlopen(f"{base}/privacy", timeout=5) as response:
            assert "Privacy notice" in response.read().decode()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/admin", timeout=5)
        assert missing.value.code == 404
        missing.value.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
