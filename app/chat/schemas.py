"""What the widget's API answers: a session and its messages as JSON (the contract of app/chat/public_views.py).

Texts are returned as stored, never as markup: the widget shows them as text (textContent). System messages
are stored as codes and read here in words of the patient's language. Agents are named by first name only.
"""

from datetime import UTC

from sqlalchemy import select

from app.auth.models import User
from app.chat.handover import is_unanswered
from app.chat.messages import AGENT_CLOSED, AGENT_JOINED, HANDED_OVER, PATIENT_LEFT
from app.chat.models import ChatAuthor, ChatMessage, ChatSession
from app.errors import NotFound
from app.extensions import db
from app.hotline.services import get_contact
from app.i18n import _, force_locale, interface_language
from app.knowledge.services import get_article

SYSTEM_TEXTS = {
    HANDED_OVER: lambda: _("You asked for a person. Please wait, an agent will join shortly."),
    AGENT_JOINED: lambda: _("An agent has joined the chat."),
    PATIENT_LEFT: lambda: _("You left the chat."),
    AGENT_CLOSED: lambda: _("The agent has closed the chat."),
}


def first_name(user_id: int | None) -> str | None:
    """An agent as the patient sees them: the first word of their name, never their e-mail address."""
    if user_id is None:
        return None
    name = db.session.scalar(select(User.name).where(User.id == user_id))
    return (name or "").split()[0] if (name or "").split() else None


def session_data(session: ChatSession, wait_limit_seconds: int) -> dict:
    agent_id = get_contact(session.contact_id).assigned_to_id if session.contact_id is not None else None
    return {
        "id": session.id,
        "state": session.state.value,
        "language": session.language,
        "topic": session.topic.value,
        "agent_name": first_name(agent_id),
        "unanswered": is_unanswered(session, wait_limit_seconds),
        "ended_reason": session.end_reason,
    }


def messages_data(session: ChatSession, messages: list[ChatMessage]) -> list[dict]:
    """The messages as JSON, in the patient's language, with the assistant's articles and the agents' names."""
    article_ids = {article_id for message in messages for article_id in (message.article_ids or ())}
    articles = {}
    for article_id in sorted(article_ids):
        try:
            articles[article_id] = get_article(article_id)
        except NotFound:
            continue  # deleted since it was offered: the message keeps its text
    names = {user_id: first_name(user_id) for user_id in {m.author_id for m in messages if m.author_id}}
    with force_locale(interface_language(session.language)):
        return [_message(message, articles, names) for message in messages]


def _message(message: ChatMessage, articles: dict, names: dict) -> dict:
    system = message.author == ChatAuthor.SYSTEM
    text = SYSTEM_TEXTS.get(message.body)
    return {
        "id": message.id,
        "author": message.author.value,
        "body": text() if system and text else message.body,
        "code": message.body if system else None,
        "created_at": message.created_at.astimezone(UTC).isoformat(),
        "articles": [
            {"id": articles[i].id, "title": articles[i].title, "body": articles[i].body}
            for i in (message.article_ids or ())
            if i in articles
        ]
        if message.author == ChatAuthor.ASSISTANT
        else [],
        "agent_name": names.get(message.author_id) if message.author == ChatAuthor.AGENT else None,
    }
