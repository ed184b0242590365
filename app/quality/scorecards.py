"""Scorecard templates and their versions.

The rule: a version that no review uses yet is edited in place; once a review uses it, saving the
scorecard writes the next version instead, and new reviews use that one. Old reviews keep their version's
questions, and the score stored with them is never recomputed.

The questions are typed as lines, one question a line: "Section | Question | Weight" for weighted
questions, "Section | Question" for auto-fail items (optionally with a weight as a third column).
"""

from dataclasses import dataclass

from sqlalchemy import exists, func, select

from app.control_characters import has_control_characters
from app.errors import DomainError, NotFound
from app.extensions import db
from app.i18n import _l
from app.quality.models import Review, Scorecard, ScorecardVersion
from app.quality.scoring import Question

MAX_QUESTIONS = 60
MAX_WEIGHT = 100
MAX_TEXT = 300
MAX_SECTION = 120
# Ids are PostgreSQL integers: a larger number names no row (asked for, it would be a database error).
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class ScorecardView:
    scorecard: Scorecard
    version: ScorecardVersion
    questions: list[Question]
    used: bool


def scorecards(*, active_only: bool = False) -> list[Scorecard]:
    query = select(Scorecard).order_by(Scorecard.name)
    if active_only:
        query = query.where(Scorecard.active.is_(True))
    return list(db.session.scalars(query))


def get_scorecard(scorecard_id: int) -> Scorecard:
    found = db.session.get(Scorecard, scorecard_id) if 0 < scorecard_id <= MAX_ID else None
    if found is None:
        raise NotFound(_l("This scorecard does not exist."))
    return found


def current_version(scorecard_id: int) -> ScorecardVersion:
    get_scorecard(scorecard_id)
    version = db.session.scalar(
        select(ScorecardVersion)
        .where(ScorecardVersion.scorecard_id == scorecard_id)
        .order_by(ScorecardVersion.number.desc())
        .limit(1)
    )
    if version is None:
        raise NotFound(_l("This scorecard does not exist."))
    return version


def get_version(version_id: int) -> ScorecardVersion:
    found = db.session.get(ScorecardVersion, version_id) if 0 < version_id <= MAX_ID else None
    if found is None:
        raise NotFound(_l("This scorecard does not exist."))
    return found


def questions_of(version: ScorecardVersion) -> list[Question]:
    return [Question.from_stored(stored) for stored in version.questions]


def version_used(version_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(Review.version_id == version_id))))


def describe(scorecard_id: int) -> ScorecardView:
    version = current_version(scorecard_id)
    return ScorecardView(get_scorecard(scorecard_id), version, questions_of(version), version_used(version.id))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("|")]


def _weight(text: str, field: str, number: int) -> int:
    if not text.isdigit() or int(text) > MAX_WEIGHT:
        raise DomainError(
            _l("Line %(line)s: the weight must be a whole number from 0 to %(max)s.", line=number, max=MAX_WEIGHT),
            field,
        )
    return int(text)


def parse_questions(weighted: str | None, auto_fail: str | None) -> list[Question]:
    """The questions typed as lines (see the module's docstring), keyed q1, q2, … in the order typed.

    Refused: a line without section or question, a weight that is not a whole number 0–100, more than
    MAX_QUESTIONS questions, none at all, or no weight at all (nothing could be scored).
    """
    questions: list[Question] = []
    for field, text, auto in (("weighted", weighted, False), ("auto_fail", auto_fail, True)):
        if has_control_characters(text, multiline=True):
            raise DomainError(_l("Remove the control characters from this text."), field)
        for number, line in enumerate((text or "").splitlines(), start=1):
            if not line.strip():
                continue
            cells = _cells(line)
            expected = (2, 3) if auto else (3,)
            if len(cells) not in expected or not cells[0] or not cells[1]:
                message = (
                    _l("Line %(line)s: write “Section | Auto-fail item”.", line=number)
                    if auto
                    else _l("Line %(line)s: write “Section | Question | Weight”.", line=number)
                )
                raise DomainError(message, field)
            if len(cells[0]) > MAX_SECTION or len(cells[1]) > MAX_TEXT:
                raise DomainError(_l("Line %(line)s is too long.", line=number), field)
            weight = _weight(cells[2], field, number) if len(cells) == 3 else 0
            questions.append(Question(f"q{len(questions) + 1}", cells[0], cells[1], weight, auto))
    if not questions:
        raise DomainError(_l("Write at least one question."), "weighted")
    if len(questions) > MAX_QUESTIONS:
        raise DomainError(_l("A scorecard has at most %(max)s questions.", max=MAX_QUESTIONS), "weighted")
    if not any(q.weight for q in questions):
        raise DomainError(_l("At least one question needs a weight above 0."), "weighted")
    return questions


def question_lines(questions: list[Question]) -> tuple[str, str]:
    """The two texts a scorecard's form shows for `questions` (what `parse_questions` reads back)."""
    weighted = "\n".join(f"{q.section} | {q.text} | {q.weight}" for q in questions if not q.auto_fail)
    auto = "\n".join(
        f"{q.section} | {q.text}" + (f" | {q.weight}" if q.weight else "") for q in questions if q.auto_fail
    )
    return weighted, auto


def _validated_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120 or has_control_characters(name):
        raise DomainError(_l("Give the scorecard a name of 1 to 120 characters."), "name")
    return name


def save_scorecard(
    scorecard_id: int | None,
    *,
    name: str | None,
    weighted: str | None,
    auto_fail: str | None,
    active: bool = True,
    author_id: int | None = None,
) -> ScorecardView:
    """Create a scorecard, or save one: its current version in place while no review uses it, else a new version.

    A version used by a review is never changed (module docstring): its reviews keep their questions and score.
    """
    name = _validated_name(name)
    questions = parse_questions(weighted, auto_fail)
    clash = db.session.scalar(select(Scorecard.id).where(func.lower(Scorecard.name) == name.lower()))
    if clash is not None and clash != scorecard_id:
        raise DomainError(_l("Another scorecard already has this name."), "name")
    stored = [q.stored() for q in questions]
    if scorecard_id is None:
        scorecard = Scorecard(name=name, active=active)
        db.session.add(scorecard)
        db.session.flush()
        version = ScorecardVersion(scorecard_id=scorecard.id, number=1, questions=stored, created_by_id=author_id)
        db.session.add(version)
    else:
        scorecard = get_scorecard(scorecard_id)
        scorecard.name = name
        scorecard.active = active
        version = current_version(scorecard.id)
        if version.questions != stored:
            if version_used(version.id):
                version = ScorecardVersion(
                    scorecard_id=scorecard.id, number=version.number + 1, questions=stored, created_by_id=author_id
                )
                db.session.add(version)
            else:
                version.questions = stored
    db.session.flush()
    return ScorecardView(scorecard, version, questions, version_used(version.id))
