"""What a canned answer says about one conversation, and the answers panel above the reply box.

The knowledge base holds the answers and fills their placeholders (app/knowledge/answers.py) but reads no
patient: the hotline, above it, gathers the values from the contact, the agent, the clinic and the patient's
next appointment (app/patients), and hands them down.
"""

from dataclasses import dataclass

from app.hotline.conversation import latest_inbound
from app.hotline.models import Contact
from app.knowledge import answers
from app.knowledge.models import KnowledgeArticle
from app.knowledge.services import suggest_articles
from app.models import utcnow
from app.patients.services import next_appointment
from app.tenants.services import current_tenant

SUGGESTED_ARTICLES = 3


@dataclass(frozen=True)
class PanelAnswer:
    """An answer ready to insert: its name, the language of the version chosen, the text filled in."""

    name: str
    language: str
    text: str
    shared: bool


def answer_values(contact: Contact, agent) -> dict:
    """The placeholder values of the canned answers for `contact`, answered by `agent` (a User).

    The clinic's name, the agent's name, the patient's reference, and the patient's next appointment in this
    clinic that is still on (its start as `appointment_date` and `appointment_time`, location, practitioner;
    None each when there is none), and now as `today`. Dates stay datetimes: `render_answer` writes them in the
    conversation's language and the clinic's time zone. The patient has no name here (data minimisation).
    """
    appointment = next_appointment(contact.patient_ref)
    return {
        "clinic": current_tenant().name,
        "agent": getattr(agent, "name", None) or "",
        "patient_reference": contact.patient_ref,
        "appointment_date": appointment.starts_at if appointment else None,
        "appointment_time": appointment.starts_at if appointment else None,
        "appointment_location": appointment.location if appointment else None,
        "practitioner": appointment.practitioner if appointment else None,
        "today": utcnow(),
    }


def latest_patient_text(contact: Contact) -> str:
    """The text of the patient's latest message in this conversation ('' when none came in writing)."""
    message = latest_inbound(contact)
    return message.body_text if message is not None else ""


def suggested_articles(contact: Contact, limit: int = SUGGESTED_ARTICLES) -> list[KnowledgeArticle]:
    """The clinic's articles in the conversation's language that its subject and latest message are about."""
    return suggest_articles(f"{contact.subject or ''}\n{latest_patient_text(contact)}", contact.language, limit)


def answers_panel(contact: Contact, agent) -> dict:
    """The context of app/templates/hotline/_answers.html for `contact`, answered by `agent`.

    `answers`: every answer the clinic offers, filled in for this conversation, those with a version in the
    conversation's language first (`answers_for`); `answers_language`: that language; `suggested_articles`:
    up to three articles the conversation is about.
    """
    values = answer_values(contact, agent)
    time_zone = current_tenant().time_zone
    return {
        "answers": [
            PanelAnswer(
                name=version.name,
                language=version.language,
                text=answers.render_answer(version.body, values, version.language, time_zone=time_zone),
                shared=version.shared,
            )
            for version in answers.answers_for(contact.language)
        ],
        "answers_language": contact.language,
        "suggested_articles": suggested_articles(contact),
    }
