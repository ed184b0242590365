"""The assistant: what answers a patient before a person does. Retrieval, not generated text.

Rule: it offers the clinic's own knowledge articles in the patient's language, the best one to three for what
the patient wrote (`knowledge.services.suggest_articles`), introduced by a fixed sentence in the patient's
language; when none fits it says so plainly and points to a person. It never writes an answer of its own, so
it never says anything the clinic has not written.
"""

from app.chat.messages import add_message
from app.chat.models import ChatAuthor, ChatMessage, ChatSession
from app.i18n import _, force_locale, interface_language
from app.knowledge.services import suggest_articles

ARTICLES_OFFERED = 3


def greet(session: ChatSession) -> ChatMessage:
    """The assistant's first message of a session, in the patient's language."""
    with force_locale(interface_language(session.language)):
        body = _(
            "Hello %(name)s. I am the clinic's assistant: ask your question and I will look for the answer in the "
            "clinic's articles. You can ask for a person at any time.",
            name=session.visitor_name,
        )
    return add_message(session, ChatAuthor.ASSISTANT, body)


def answer(session: ChatSession, text: str) -> ChatMessage:
    """The assistant's reply to `text`: the best articles of the clinic in the session's language, or an honest
    "nothing found"."""
    articles = suggest_articles(text, session.language, limit=ARTICLES_OFFERED)
    with force_locale(interface_language(session.language)):
        if not articles:
            body = _("I found nothing about this in the clinic's articles. You can talk to a person.")
            return add_message(session, ChatAuthor.ASSISTANT, body)
        body = _(
            "These articles of the clinic may answer your question. Did one of them help? If not, you can talk "
            "to a person."
        )
    return add_message(session, ChatAuthor.ASSISTANT, body, article_ids=[article.id for article in articles])
