"""QA figures for the agent page: one agent's average review score, reviews and auto-fails in a period."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import case, func, select

from app.extensions import db
from app.hotline.models import Contact
from app.quality.models import Review

HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True)
class AgentQuality:
    average: Decimal | None  # None: no scored review
    count: int
    auto_fails: int


def agent_quality(agent_id: int, period) -> AgentQuality:
    """The current clinic's reviews of `agent_id` on contacts resolved in `period` (anything with UTC
    `start` and `end`, end excluded, such as app/reports/services.py `Period`).

    The average is over reviews with a score (all questions not applicable gives none), auto-fails count as 0;
    a contact reviewed by several reviewers (calibration) counts each review.
    """
    row = db.session.execute(
        select(
            func.avg(Review.score),
            func.count(Review.id),
            func.coalesce(func.sum(case((Review.auto_failed, 1), else_=0)), 0),
        )
        .join(Contact, Contact.id == Review.contact_id)
        .where(
            Review.agent_id == agent_id,
            Contact.resolved_at >= period.start,
            Contact.resolved_at < period.end,
        )
    ).one()
    average = None if row[0] is None else Decimal(row[0]).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)
    return AgentQuality(average, int(row[1]), int(row[2]))
