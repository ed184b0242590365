"""The chat's transcript by e-mail, on the patient's request: the job `chat.send_transcript`.

Rules:
- Only to the session's e-mail address or one the patient gives with the request (it becomes the session's
  address): the job takes ids only, so no address travels through Redis or a job's description.
- Plain text, in the patient's language, the messages as written (nothing rendered).
- Never twice: the job first records the send (`transcript_sent_at`, only where it is still empty) and
  commits, then sends. A second request, or the job run again after a crash, finds it recorded and sends
  nothing. A send that fails with an error (the mail server refused, or was not reached) clears the record
  again and raises, so the retry sends it; only a worker killed between the server's "250 OK" and the end of
  the job could lose the transcript, and losing it is the lesser harm than sending patient data twice.
"""

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel.core import UnknownLocaleError
from babel.dates import format_datetime
from sqlalchemy import select, update

from app import mail
from app.chat.messages import messages_after
from app.chat.models import ChatSession
from app.chat.schemas import messages_data
from app.chat.sessions import clean_email
from app.errors import DomainError
from app.extensions import db
from app.i18n import _, _l, force_locale, interface_language
from app.jobs import OUTBOUND, enqueue_after_commit, tenant_job
from app.tenants.services import current_tenant

logger = logging.getLogger(__name__)


def request_transcript(session: ChatSession, *, email=None) -> ChatSession:
    """Ask for the transcript by e-mail (to `email` if given, else the session's address); sent once."""
    email = clean_email(email)
    if email is not None:
        session.visitor_email = email
    if not session.visitor_email:
        raise DomainError(_l("Give an e-mail address to receive the transcript."), "email")
    if session.transcript_sent_at is None:
        enqueue_after_commit("chat.send_transcript", session.tenant_id, session.id)
    return session


def _clinic_time(stamp: str, zone: ZoneInfo, language: str) -> str:
    """A message's time as the patient reads a clock at the clinic: its time zone, their language's format."""
    moment = datetime.fromisoformat(stamp).astimezone(zone)
    try:
        return format_datetime(moment, format="short", tzinfo=zone, locale=language)
    except (UnknownLocaleError, ValueError):
        return format_datetime(moment, format="short", tzinfo=zone, locale="en")


def transcript_text(session: ChatSession) -> tuple[str, str]:
    """(subject, body) of the transcript, in the patient's language."""
    messages = messages_data(session, messages_after(session.id, 0))
    clinic = current_tenant().name
    zone = ZoneInfo(current_tenant().time_zone)
    with force_locale(interface_language(session.language)):
        subject = _("Your chat with %(clinic)s", clinic=clinic)
        authors = {
            "visitor": session.visitor_name,
            "assistant": _("Assistant"),
            "system": clinic,
        }
        lines = [_("Your chat with %(clinic)s (times in the clinic's time zone).", clinic=clinic), ""]
        for message in messages:
            agent = message["author"] == "agent"
            author = (message["agent_name"] or _("Agent")) if agent else authors[message["author"]]
            lines.append(f"[{_clinic_time(message['created_at'], zone, session.language)}] {author}:")
            lines.append(message["body"])
            lines.extend(f"  - {article['title']}" for article in message["articles"])
            lines.append("")
    return subject, "\n".join(lines)


@tenant_job(OUTBOUND, name="chat.send_transcript")
def send_transcript(tenant_id: int, session_id: int) -> bool:
    """Send the transcript once (the module's last rule); returns whether this run sent it."""
    recorded = db.session.execute(
        update(ChatSession)
        .where(ChatSession.id == session_id, ChatSession.transcript_sent_at.is_(None))
        .values(transcript_sent_at=datetime.now(UTC))
        .returning(ChatSession.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    db.session.commit()
    if recorded is None:
        return False
    session = db.session.scalar(select(ChatSession).where(ChatSession.id == session_id))
    if not session.visitor_email:
        return False
    subject, body = transcript_text(session)
    try:
        mail.send_email(session.visitor_email, subject, body)
    except Exception:
        db.session.rollback()
        db.session.execute(
            update(ChatSession)
            .where(ChatSession.id == session_id)
            .values(transcript_sent_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        logger.warning("chat transcript not sent; the job will be retried", extra={"session_id": session_id})
        raise
    return True
