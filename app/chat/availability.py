"""Whether a person can take a chat now, and in which queue.

Rule: a chat is handed over only when someone can answer it, never into a queue nobody serves:
- the queue is the clinic's chat queue of the session's language and topic, else that language's chat queue
  of topic "general", else any chat queue of that language (in-house queues are never offered to agents);
- "closed" when the clinic is not open now (its weekly hours, public holidays and closures: the SLA calendar);
- "nobody" when no queue fits, or when no one with a staff page of the clinic open (app/push presence) speaks
  the language.
Otherwise the widget offers to leave a message instead (app/chat/handover.py).
"""

from datetime import UTC, datetime

from sqlalchemy import select

from app import push
from app.errors import Conflict
from app.extensions import db
from app.hotline.models import Channel, Queue, Topic
from app.hotline.services import agent_languages
from app.i18n import _l
from app.tenancy import current_tenant_id
from app.tenants.calendar import is_open_at
from app.tenants.services import closures, current_tenant, weekly_hours

CLOSED = "closed"
NOBODY = "nobody"


class Unavailable(Conflict):
    """Nobody can take the chat now; `reason` says why ("closed" or "nobody")."""

    code = "unavailable"

    def __init__(self, reason: str):
        message = (
            _l("The clinic is closed now. You can leave a message.")
            if reason == CLOSED
            else _l("Nobody is available to chat right now. You can leave a message.")
        )
        super().__init__(message)
        self.reason = reason


def now() -> datetime:
    return datetime.now(UTC)


def chat_queues(language: str | None = None) -> list[Queue]:
    """The current clinic's chat queues offered to agents (of one language), oldest first."""
    query = select(Queue).where(Queue.channel == Channel.CHAT, Queue.in_house.is_(False)).order_by(Queue.id)
    if language is not None:
        query = query.where(Queue.language == language)
    return list(db.session.scalars(query))


def chat_languages() -> list[str]:
    """The languages the clinic chats in: those of its chat queues, in the order they were set up."""
    return list(dict.fromkeys(queue.language for queue in chat_queues()))


def chat_queue_for(language: str, topic: Topic) -> Queue | None:
    """The chat queue for a language and topic (the fallbacks of the module's rule); None when there is none."""
    queues = chat_queues(language)
    for wanted in (topic, Topic.GENERAL):
        for queue in queues:
            if queue.topic == wanted:
                return queue
    return queues[0] if queues else None


def is_open(moment: datetime | None = None) -> bool:
    """Whether the current clinic is open at `moment` (now by default)."""
    return is_open_at(current_tenant(), weekly_hours(), closures(), moment or now())


def someone_speaks(language: str) -> bool:
    """Whether a person with a staff page of the clinic open speaks `language`."""
    return any(language in agent_languages(user_id) for user_id in sorted(push.present_users(current_tenant_id())))


def unavailable_reason(language: str, topic: Topic = Topic.GENERAL, *, moment: datetime | None = None) -> str | None:
    """Why nobody can take a chat in `language` now ("closed", "nobody"); None when someone can."""
    if not is_open(moment):
        return CLOSED
    if chat_queue_for(language, topic) is None or not someone_speaks(language):
        return NOBODY
    return None
