"""Message templates: placeholders checked when saved (the rule is app/placeholders.py), filled when sent.

Only plain `{name}` placeholders from a fixed list are allowed: no attribute access,
indexing or format specs, so a template can never reach into Python objects.
"""

import functools
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from app import placeholders
from app.control_characters import has_control_characters
from app.errors import DomainError
from app.i18n import _l
from app.languages import formatting_locale

PLACEHOLDERS = ("clinic", "date", "time", "location", "practitioner", "link", "optout_link")
SMS_MAX_LENGTH = 640  # four concatenated SMS segments


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


def placeholders_in(text: str) -> list[str]:
    """The placeholder names used in `text`; raises DomainError for anything but plain known names."""
    return placeholders.placeholders_in(text, PLACEHOLDERS, "body")


def check_template(body: str, subject: str | None, *, sms: bool) -> None:
    if not body.strip():
        raise DomainError(_l("The message text is empty."), "body")
    placeholders_in(body)
    if subject:
        placeholders_in(subject)
    if sms and len(body) > SMS_MAX_LENGTH:
        raise DomainError(_l("An SMS can be at most %(n)s characters long.", n=SMS_MAX_LENGTH), "body")
    if not sms and not (subject or "").strip():
        raise DomainError(_l("An e-mail needs a subject."), "subject")


@functools.lru_cache(maxsize=4096)
def _date_and_time(starts_at: datetime, time_zone: str, language: str) -> tuple[str, str]:
    # Appointments share slots: formatting each (slot, zone, language) once saves most of Babel's work
    # when a batch of reminders is rendered.
    local = starts_at.astimezone(ZoneInfo(time_zone))
    return (
        format_date(local.date(), format="full", locale=formatting_locale(language)),
        format_time(local.time(), format="short", locale=formatting_locale(language)),
    )


def context_for(
    *,
    clinic: str,
    starts_at: datetime,
    time_zone: str,
    language: str,
    location: str,
    practitioner: str,
    link: str,
    optout_link: str,
) -> dict[str, str]:
    date, time = _date_and_time(starts_at, time_zone, language)
    return {
        "clinic": clinic,
        "date": date,
        "time": time,
        "location": location,
        "practitioner": practitioner,
        "link": link,
        "optout_link": optout_link,
    }


def render(subject: str | None, body: str, context: dict[str, str]) -> Rendered:
    return Rendered(subject=subject.format_map(context) if subject else None, body=body.format_map(context))


def has_forbidden_characters(rendered: Rendered) -> bool:
    """Whether the filled-in message holds a control character: in the subject any, in the body any but line
    breaks and tabs.

    Checked again when the message is built, whatever was checked when the template was saved: a template saved
    before the rule existed, or a placeholder's value (the clinic's name, an appointment's location) can bring
    one in.
    """
    return has_control_characters(rendered.subject) or has_control_characters(rendered.body, multiline=True)
