"""CSAT and NPS of one clinic for a period, per clinic, queue, team or agent, aggregated in SQL.

The arithmetic (answers given in [start, end), by their `answered_at`):
- CSAT (1–5): the average score, and satisfied = the share of answers of 4 or 5, in %.
- NPS (0–10): % promoters (9–10) − % detractors (0–6), from −100 to 100; passives (7–8) count in the base.
- Responses: surveys sent in the period, and of those, how many were answered (the response rate).
Percentages and averages are rounded half up to one decimal; None where there is nothing to divide by.
A survey counts for the queue, team and agent of its contact at the resolution (app/feedback/models.py).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import format_decimal
from sqlalchemy import Integer, cast, func, select

from app.auth.models import User
from app.errors import DomainError
from app.extensions import db
from app.feedback.models import ContactSurvey, ContactSurveyAnswer, SurveyScale, SurveyStatus
from app.hotline.models import Queue, Team
from app.i18n import _, _l

GROUPINGS = ("clinic", "queue", "team", "agent")
_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class FeedbackFigures:
    """One row of figures: `key` is the queue, team or agent id (None: the clinic, or no team/agent)."""

    key: int | None
    label: str | None
    sent: int
    answered: int
    csat_answers: int
    csat_average: Decimal | None
    csat_satisfied_percent: Decimal | None
    nps_answers: int
    promoters_percent: Decimal | None
    detractors_percent: Decimal | None
    nps: Decimal | None
    response_rate_percent: Decimal | None

    @classmethod
    def from_dict(cls, values: dict) -> "FeedbackFigures":
        """The clinic's row back from `as_dict` (a frozen statement's block): decimals from their strings."""
        return cls(
            key=None,
            label=None,
            **{name: Decimal(value) if isinstance(value, str) else value for name, value in values.items()},
        )

    def sentences(self) -> list[str]:
        """The figures in words of the reader's language, as the SLA dashboard, the statement page and its PDF
        show them: CSAT and NPS where answered, then surveys sent and the response rate."""
        said = []
        if self.csat_answers:
            said.append(
                _(
                    "CSAT: average %(average)s of 5, %(percent)s %% satisfied (4 or 5), %(answers)s answers.",
                    average=format_decimal(self.csat_average),
                    percent=format_decimal(self.csat_satisfied_percent),
                    answers=self.csat_answers,
                )
            )
        if self.nps_answers:
            said.append(
                _(
                    "NPS: %(nps)s (%(promoters)s %% promoters, %(detractors)s %% detractors), %(answers)s answers.",
                    nps=format_decimal(self.nps),
                    promoters=format_decimal(self.promoters_percent),
                    detractors=format_decimal(self.detractors_percent),
                    answers=self.nps_answers,
                )
            )
        rate = self.response_rate_percent
        said.append(
            _(
                "Surveys sent: %(sent)s; answered: %(rate)s.",
                sent=self.sent,
                rate=f"{format_decimal(rate)} %" if rate is not None else "—",
            )
        )
        return said

    def as_dict(self) -> dict:
        """Plain values for JSON: decimals as strings ("42.5"), None as null."""
        return {
            name: (str(value) if isinstance(value, Decimal) else value)
            for name, value in self.__dict__.items()
            if name not in ("key", "label")
        }


@dataclass(frozen=True)
class Span:
    """A period as [start, end) in UTC, for callers without one of their own (statements, tests)."""

    start: datetime
    end: datetime


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(100) * part / whole).quantize(_TENTH, ROUND_HALF_UP)


def _group_column(by: str):
    return {
        "clinic": None,
        "queue": ContactSurvey.queue_id,
        "team": ContactSurvey.team_id,
        "agent": ContactSurvey.agent_id,
    }[by]


def figures(period, by: str = "clinic", *, only: int | None = None) -> list[FeedbackFigures]:
    """The clinic's survey figures for `period` (anything with `start` and `end`, UTC datetimes), one row per
    `by` group ("clinic": one row), groups with neither a survey sent nor an answer left out; `only` one group
    (an agent's own page reads its row alone, not every agent's)."""
    if by not in GROUPINGS:
        raise DomainError(_l("Unknown grouping."), "by")
    start, end = period.start, period.end
    group = _group_column(by)
    if only is not None and group is None:
        raise DomainError(_l("Unknown grouping."), "by")
    answers = _answer_rows(start, end, group, only)
    sent = _sent_rows(start, end, group, only)
    keys = sorted(set(answers) | set(sent), key=lambda k: (k is None, k or 0))
    if by == "clinic" and not keys:
        keys = [None]
    labels = _labels(by, [k for k in keys if k is not None])
    rows = []
    for key in keys:
        csat_n, csat_sum, satisfied, nps_n, promoters, detractors = answers.get(key, (0, 0, 0, 0, 0, 0))
        sent_n, answered_n = sent.get(key, (0, 0))
        promoters_pct, detractors_pct = _percent(promoters, nps_n), _percent(detractors, nps_n)
        rows.append(
            FeedbackFigures(
                key=key,
                label=labels.get(key),
                sent=sent_n,
                answered=csat_n + nps_n,
                csat_answers=csat_n,
                csat_average=(Decimal(csat_sum) / csat_n).quantize(_TENTH, ROUND_HALF_UP) if csat_n else None,
                csat_satisfied_percent=_percent(satisfied, csat_n),
                nps_answers=nps_n,
                promoters_percent=promoters_pct,
                detractors_percent=detractors_pct,
                # From the unrounded shares, so the NPS is not off by a rounding of each.
                nps=_percent(promoters - detractors, nps_n),
                response_rate_percent=_percent(answered_n, sent_n),
            )
        )
    return rows


def _answer_rows(start: datetime, end: datetime, group, only: int | None) -> dict:
    answer, survey = ContactSurveyAnswer, ContactSurvey
    csat, nps = answer.scale == SurveyScale.CSAT, answer.scale == SurveyScale.NPS
    columns = [
        func.count().filter(csat),
        func.coalesce(func.sum(cast(answer.score, Integer)).filter(csat), 0),
        func.count().filter(csat, answer.score >= 4),
        func.count().filter(nps),
        func.count().filter(nps, answer.score >= 9),
        func.count().filter(nps, answer.score <= 6),
    ]
    query = (
        select(*([group] if group is not None else []), *columns)
        .join(survey, survey.id == answer.survey_id)
        .where(answer.answered_at >= start, answer.answered_at < end)
    )
    if only is not None:
        query = query.where(group == only)
    if group is not None:
        query = query.group_by(group)
    result = {}
    for row in db.session.execute(query):
        key, values = (row[0], row[1:]) if group is not None else (None, row)
        if values[0] or values[3]:
            result[key] = tuple(int(v) for v in values)
    return result


def _sent_rows(start: datetime, end: datetime, group, only: int | None) -> dict:
    survey, answer = ContactSurvey, ContactSurveyAnswer
    answered = func.count(answer.id)
    query = (
        select(*([group] if group is not None else []), func.count(survey.id), answered)
        .outerjoin(answer, answer.survey_id == survey.id)
        .where(survey.status == SurveyStatus.SENT, survey.sent_at >= start, survey.sent_at < end)
    )
    if only is not None:
        query = query.where(group == only)
    if group is not None:
        query = query.group_by(group)
    result = {}
    for row in db.session.execute(query):
        key, values = (row[0], row[1:]) if group is not None else (None, row)
        if values[0]:
            result[key] = (int(values[0]), int(values[1]))
    return result


def _labels(by: str, keys: list[int]) -> dict[int, str]:
    if not keys:
        return {}
    if by == "queue":
        return dict(db.session.execute(select(Queue.id, Queue.name).where(Queue.id.in_(keys))).all())
    if by == "team":
        return dict(db.session.execute(select(Team.id, Team.name).where(Team.id.in_(keys))).all())
    if by == "agent":
        # Names as the provider holds them; a page for clinic admins decides whether to show them
        # (app/reports/people.py::names_shown_to_reader).
        return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(keys))).all())
    return {}


def statement_block(start: datetime, end: datetime) -> dict | None:
    """The optional "feedback" block of an SLA statement for [start, end): the clinic's figures as plain
    values, or None when no survey was sent or answered (the statement then has no block)."""
    [clinic] = figures(Span(start, end), by="clinic")
    if not clinic.sent and not clinic.answered:
        return None
    return clinic.as_dict()
