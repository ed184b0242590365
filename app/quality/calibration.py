"""Calibration: how far apart reviewers are when they score the same contacts.

The rule: only reviews of the same contact against the same scorecard version are compared (the questions
must be the same). A contact counts once it has two such reviews. Its spread is max − min of the scores and
their population standard deviation (the reviewers are all there are, not a sample of them). A question's
spread on a contact compares the points earned as a share of its weight (met 100, not met 0; not applicable
left out), and a question's spread over the page is the mean of its per-contact spreads.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from statistics import fmean, pstdev

from sqlalchemy import select

from app.extensions import db
from app.quality import scorecards
from app.quality.models import Answer, Review
from app.quality.scoring import Question

HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True)
class Spread:
    range: Decimal  # max − min
    stdev: Decimal


@dataclass(frozen=True)
class QuestionSpread:
    question: Question
    answers: dict[int, str]  # reviewer → Answer value
    spread: Spread | None  # None: fewer than two reviewers answered it


@dataclass(frozen=True)
class CalibratedContact:
    contact_id: int
    version_id: int
    scores: dict[int, Decimal | None]  # reviewer → score
    spread: Spread | None
    questions: list[QuestionSpread]


@dataclass(frozen=True)
class Calibration:
    contacts: list[CalibratedContact]
    reviewers: list[int]
    question_spreads: list[tuple[str, str, Decimal]]  # (section, question text, mean range over contacts)


def _round(value: float) -> Decimal:
    return Decimal(str(value)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def spread_of(values: list[Decimal]) -> Spread | None:
    """max − min and population standard deviation of `values`; None with fewer than two values."""
    if len(values) < 2:
        return None
    floats = [float(v) for v in values]
    return Spread(_round(max(floats) - min(floats)), _round(pstdev(floats)))


def calibration(*, since: datetime | None = None, limit: int = 100) -> Calibration:
    """The contacts of the clinic scored by two or more reviewers on one version, newest first; see the rule."""
    query = select(Review).order_by(Review.contact_id.desc(), Review.id)
    if since is not None:
        query = query.where(Review.created_at >= since)
    groups: dict[tuple[int, int], list[Review]] = defaultdict(list)
    for review in db.session.scalars(query):
        groups[(review.contact_id, review.version_id)].append(review)
    contacts: list[CalibratedContact] = []
    reviewers: set[int] = set()
    per_question: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    versions: dict[int, list[Question]] = {}
    for (contact_id, version_id), reviews in groups.items():
        if len(reviews) < 2:
            continue
        if len(contacts) >= limit:
            break
        if version_id not in versions:
            versions[version_id] = scorecards.questions_of(scorecards.get_version(version_id))
        scores = {r.reviewer_id: r.score for r in reviews}
        reviewers.update(scores)
        question_rows = []
        for question in versions[version_id]:
            answers = {r.reviewer_id: r.answers.get(question.key) for r in reviews}
            points = [
                Decimal(100 if value == Answer.MET else 0)
                for value in answers.values()
                if value in (Answer.MET, Answer.NOT_MET)
            ]
            spread = spread_of(points)
            if spread is not None:
                per_question[(question.section, question.text)].append(spread.range)
            question_rows.append(QuestionSpread(question, answers, spread))
        known = [s for s in scores.values() if s is not None]
        contacts.append(CalibratedContact(contact_id, version_id, scores, spread_of(known), question_rows))
    question_spreads = [
        (section, text, _round(fmean(float(v) for v in ranges))) for (section, text), ranges in per_question.items()
    ]
    question_spreads.sort(key=lambda row: (-row[2], row[0], row[1]))
    return Calibration(contacts, sorted(r for r in reviewers if r is not None), question_spreads)
