"""Canned answers: a clinic's own, and the provider's shared ones, in a version per language.

A clinic sees its own answers and the shared answers in its languages; its own answer of the same name and
language as a shared one replaces that shared version for this clinic only. Bodies hold plain `{name}`
placeholders from `PLACEHOLDERS`, checked when saved (app/placeholders.py) and filled by `render_answer`
with the values the contact page gathers (app/hotline/answer_values.py): the knowledge base reads no patient.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from sqlalchemy import select

from app import placeholders
from app.control_characters import refuse_control_characters
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import LOCALES, _l
from app.knowledge.models import CannedResponse, SharedAnswer
from app.languages import formatting_locale, is_language
from app.tenants.services import current_tenant

NAME_MAX = 120
BODY_MAX = 5000
# What an answer may say about the conversation. The patient has no name in Switchboard (data
# minimisation: the clinic's systems know it), so there is no {patient_name}.
PLACEHOLDERS = (
    "clinic",
    "agent",
    "patient_reference",
    "appointment_date",
    "appointment_time",
    "appointment_location",
    "practitioner",
    "today",
)


@dataclass(frozen=True)
class AnswerVersion:
    """One language's text of an answer: the clinic's own (`shared` False) or the provider's."""

    id: int
    name: str
    language: str
    body: str
    shared: bool
    overrides: bool = False  # the clinic's own text, replacing a shared version of the same name and language


@dataclass(frozen=True)
class AnswerGroup:
    """An answer by name: the version of each language the clinic uses, and the shared ones it replaced."""

    name: str
    versions: tuple[AnswerVersion, ...]
    overridden: tuple[AnswerVersion, ...] = ()

    def version(self, language: str) -> AnswerVersion | None:
        return next((v for v in self.versions if v.language == language), None)


def _language_order(languages) -> dict[str, int]:
    return {code: position for position, code in enumerate(languages)}


def _group(versions: list[AnswerVersion], overridden: list[AnswerVersion], languages) -> list[AnswerGroup]:
    order = _language_order(languages)

    def by_language(version: AnswerVersion):
        return (order.get(version.language, len(order)), version.language)

    names = sorted({v.name for v in versions}, key=lambda name: (name.casefold(), name))
    return [
        AnswerGroup(
            name=name,
            versions=tuple(sorted((v for v in versions if v.name == name), key=by_language)),
            overridden=tuple(sorted((v for v in overridden if v.name == name), key=by_language)),
        )
        for name in names
    ]


def _clinic_languages() -> list[str]:
    tenant = current_tenant()
    return [tenant.default_locale, *(code for code in tenant.supported_locales if code != tenant.default_locale)]


def available_answers() -> list[AnswerGroup]:
    """The answers the current clinic offers its agents, by name, each with its language versions.

    The clinic's own answers, and the shared answers in the clinic's languages; where the clinic has its own
    answer of the same name and language, that one is offered and the shared one is listed as overridden.
    Names in alphabetical order; versions in the clinic's default language first, then its other languages.
    """
    languages = _clinic_languages()
    own = [
        AnswerVersion(id=row.id, name=row.name, language=row.language, body=row.body, shared=False)
        for row in db.session.scalars(select(CannedResponse))
    ]
    shared = [
        AnswerVersion(id=row.id, name=row.name, language=row.language, body=row.body, shared=True)
        for row in db.session.scalars(select(SharedAnswer).where(SharedAnswer.language.in_(languages)))
    ]
    own_keys = {(v.name, v.language) for v in own}
    shared_keys = {(v.name, v.language) for v in shared}
    offered = [replace(v, overrides=(v.name, v.language) in shared_keys) for v in own]
    offered += [v for v in shared if (v.name, v.language) not in own_keys]
    overridden = [v for v in shared if (v.name, v.language) in own_keys]
    return _group(offered, overridden, languages)


def answers_for(language: str) -> list[AnswerVersion]:
    """One version of each answer the clinic offers, for a conversation in `language`.

    Each answer offers its version in `language`, else the one in the clinic's default language, else its
    first in the clinic's order of languages. Answers that have a version in `language` come first; within
    each part, alphabetical by name.
    """
    default = current_tenant().default_locale
    in_language, others = [], []
    for group in available_answers():
        exact = group.version(language)
        if exact is not None:
            in_language.append(exact)
        else:
            others.append(group.version(default) or group.versions[0])
    return in_language + others


# --- rendering ---------------------------------------------------------------------------------------


def _as_text(name: str, value, zone: ZoneInfo, language: str) -> str:
    if value is None:
        return ""
    language = formatting_locale(language)
    if isinstance(value, datetime):
        local = value.astimezone(zone)
        if name.endswith("_time"):
            return format_time(local.time(), format="short", locale=language)
        return format_date(local.date(), format="full", locale=language)
    if isinstance(value, date):
        return format_date(value, format="full", locale=language)
    return str(value)


def render_answer(body: str, values: dict, language: str, *, time_zone: str | None = None) -> str:
    """The answer's text with its placeholders filled in, for a conversation in `language`.

    `values` maps placeholder names to text, or to a datetime (`appointment_date`, `appointment_time`,
    `today`), shown in the clinic's time zone (`time_zone`, default the current clinic's) as a date in
    `language`'s words, or as a time for a name ending in `_time`. A placeholder without a value (no
    upcoming appointment) becomes empty text. A body that does not follow the placeholder rule (written
    before the rule) is returned as written.
    """
    zone = ZoneInfo(time_zone or current_tenant().time_zone)
    texts = {name: _as_text(name, value, zone, language) for name, value in values.items() if name in PLACEHOLDERS}
    try:
        placeholders.placeholders_in(body, PLACEHOLDERS)
    except DomainError:
        return body
    return placeholders.fill(body, texts)


# --- writing -----------------------------------------------------------------------------------------


def _checked(name: str, language: str, body: str, *, shared: bool) -> tuple[str, str, str]:
    """The answer's fields, trimmed (line breaks as \\n), or a DomainError naming the field at fault."""
    name = (name or "").strip()
    body = (body or "").replace("\r\n", "\n").strip()
    if shared and not is_language(language):
        raise DomainError(_l("Choose a language from the list."), field="language")
    if not shared and language not in current_tenant().supported_locales:
        raise DomainError(_l("Choose one of the clinic's languages."), field="language")
    if not 1 <= len(name) <= NAME_MAX:
        raise DomainError(_l("A name has 1 to %(max)s characters.", max=NAME_MAX), field="name")
    refuse_control_characters(name, "name", _l("Name"))
    if not 1 <= len(body) <= BODY_MAX:
        raise DomainError(_l("The text has 1 to %(max)s characters.", max=BODY_MAX), field="body")
    refuse_control_characters(body, "body", _l("Text"), multiline=True)
    placeholders.placeholders_in(body, PLACEHOLDERS, "body")
    return name, language, body


def clinic_answers() -> list[CannedResponse]:
    return list(db.session.scalars(select(CannedResponse).order_by(CannedResponse.name, CannedResponse.language)))


def get_clinic_answer(answer_id: int) -> CannedResponse:
    answer = db.session.scalar(select(CannedResponse).where(CannedResponse.id == answer_id))
    if answer is None:
        raise NotFound(_l("This answer does not exist."))
    return answer


def save_clinic_answer(
    answer_id: int | None, *, name: str, language: str, body: str, author_id: int | None
) -> CannedResponse:
    """Write a new answer of the current clinic (`answer_id` None) or change one.

    Name 1 to 120 characters on one line, text 1 to 5,000 characters with only known placeholders, a language
    of the clinic's; one answer per name and language. An answer named like a shared one, in its language,
    replaces it for this clinic.
    """
    name, language, body = _checked(name, language, body, shared=False)
    return _write(
        CannedResponse,
        get_clinic_answer(answer_id) if answer_id is not None else None,
        lambda: CannedResponse(author_id=author_id),
        name=name,
        language=language,
        body=body,
        taken=_l("The clinic has an answer of this name in this language."),
    )


def delete_clinic_answer(answer_id: int) -> None:
    """Delete one of the clinic's answers; a shared answer it replaced is offered again."""
    db.session.delete(get_clinic_answer(answer_id))
    db.session.flush()


def shared_answers() -> list[AnswerGroup]:
    """Every shared answer, by name, with its versions in the application's languages."""
    versions = [
        AnswerVersion(id=row.id, name=row.name, language=row.language, body=row.body, shared=True)
        for row in db.session.scalars(select(SharedAnswer))
    ]
    return _group(versions, [], LOCALES)


def get_shared_answer(answer_id: int) -> SharedAnswer:
    answer = db.session.get(SharedAnswer, answer_id)
    if answer is None:
        raise NotFound(_l("This answer does not exist."))
    return answer


def save_shared_answer(answer_id: int | None, *, name: str, language: str, body: str) -> SharedAnswer:
    """Write a new shared answer (`answer_id` None) or change one: offered to every clinic in that language.

    The rules of a clinic's answer, with the application's languages; one shared answer per name and language.
    """
    name, language, body = _checked(name, language, body, shared=True)
    return _write(
        SharedAnswer,
        get_shared_answer(answer_id) if answer_id is not None else None,
        SharedAnswer,
        name=name,
        language=language,
        body=body,
        taken=_l("A shared answer of this name exists in this language."),
    )


def _write(model, answer, new, *, name: str, language: str, body: str, taken):
    """Write a checked answer (`answer` None: one made by `new()`) of `model`, one per name and language;
    Conflict with the message `taken` when another answer has both."""
    same = select(model.id).where(model.name == name, model.language == language)
    if answer is not None:
        same = same.where(model.id != answer.id)
    if db.session.scalar(same.limit(1)) is not None:
        raise Conflict(taken, field="name")
    if answer is None:
        answer = new()
        db.session.add(answer)
    answer.name, answer.language, answer.body = name, language, body
    db.session.flush()
    return answer


def delete_shared_answer(answer_id: int) -> None:
    """Delete a shared answer; clinics' own answers of the same name stay theirs."""
    db.session.delete(get_shared_answer(answer_id))
    db.session.flush()
