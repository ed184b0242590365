"""Reviews: a reviewer scores a resolved contact against a scorecard; the agent reads, acknowledges, comments.

Rules:
- Only a resolved contact with an agent is reviewed; the agent is the one the contact was assigned to, and
  nobody reviews their own contact.
- A review uses the scorecard's current version; its score is computed once (app/quality/scoring.py) and
  stored with it. Each reviewer reviews a contact once; several reviewers of one contact are calibration.
- An agent reads only their own reviews; the reviewers of the clinic read all of them (the views' rules).
- The agent acknowledges a review once, with an optional comment; both are in the audit trail.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import audit
from app.auth.models import TenantRole, User
from app.control_characters import has_control_characters
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.hotline.models import Contact, ContactStatus
from app.i18n import _l
from app.models import utcnow
from app.quality import scorecards
from app.quality.models import Answer, Review, ReviewQueueEntry, ScorecardVersion
from app.quality.scoring import MissingAnswer, score
from app.tenants.services import set_provider_switch

MAX_COMMENT = 2000


@dataclass(frozen=True)
class QueueRow:
    entry: ReviewQueueEntry
    contact: Contact
    reviews: int
    reviewed_by_me: bool


def review_queue(reviewer_id: int, *, limit: int = 200) -> list[QueueRow]:
    """The clinic's review queue, newest week first; each row says how many reviews the contact has."""
    entries = list(
        db.session.execute(
            select(ReviewQueueEntry, Contact)
            .join(Contact, Contact.id == ReviewQueueEntry.contact_id)
            .order_by(ReviewQueueEntry.week_start.desc(), ReviewQueueEntry.contact_id)
            .limit(limit)
        )
    )
    contact_ids = [contact.id for _entry, contact in entries]
    counts: dict[int, int] = {}
    mine: set[int] = set()
    if contact_ids:
        for contact_id, reviewer in db.session.execute(
            select(Review.contact_id, Review.reviewer_id).where(Review.contact_id.in_(contact_ids))
        ):
            counts[contact_id] = counts.get(contact_id, 0) + 1
            if reviewer == reviewer_id:
                mine.add(contact_id)
    return [QueueRow(e, c, counts.get(c.id, 0), c.id in mine) for e, c in entries]


def reviewable_contact(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(_l("This contact does not exist."))
    return contact


def _comment(text: str | None, field: str) -> str | None:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT:
        raise DomainError(_l("Write at most %(max)s characters.", max=MAX_COMMENT), field)
    if has_control_characters(text, multiline=True):
        raise DomainError(_l("Remove the control characters from this text."), field)
    return text or None


def submit_review(
    contact_id: int, *, reviewer_id: int, scorecard_id: int, answers: dict[str, str], comment: str | None = None
) -> Review:
    """Score a contact against the scorecard's current version and store the review; see the module's rules."""
    contact = reviewable_contact(contact_id)
    if contact.status != ContactStatus.RESOLVED or contact.assigned_to_id is None:
        raise DomainError(_l("Only a resolved contact handled by an agent can be reviewed."))
    if contact.assigned_to_id == reviewer_id:
        raise DomainError(_l("You cannot review a contact you handled yourself."))
    scorecard = scorecards.get_scorecard(scorecard_id)
    if not scorecard.active:
        raise DomainError(_l("This scorecard is retired."), "scorecard")
    version = scorecards.current_version(scorecard.id)
    questions = scorecards.questions_of(version)
    cleaned: dict[str, str] = {}
    for question in questions:
        value = answers.get(question.key)
        if value not in Answer._value2member_map_:
            raise DomainError(_l("Answer every question."), question.key)
        cleaned[question.key] = value
    try:
        result = score(questions, cleaned)
    except MissingAnswer as missing:  # unreachable after the check above; kept as the rule's guard
        raise DomainError(_l("Answer every question."), missing.key) from missing
    if db.session.scalar(select(Review.id).where(Review.contact_id == contact.id, Review.reviewer_id == reviewer_id)):
        raise Conflict(_l("You have already reviewed this contact."))
    review = Review(
        contact_id=contact.id,
        version_id=version.id,
        reviewer_id=reviewer_id,
        agent_id=contact.assigned_to_id,
        answers=cleaned,
        score=result.percent,
        auto_failed=result.auto_failed,
        comment=_comment(comment, "comment"),
    )
    db.session.add(review)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as error:  # a second submission racing the first
        raise Conflict(_l("You have already reviewed this contact.")) from error
    audit.record(
        "quality_review.submitted",
        object_type="review",
        object_id=review.id,
        details={"contact_id": contact.id, "version_id": version.id, "auto_failed": result.auto_failed},
    )
    return review


def get_review(review_id: int, *, agent_id: int | None = None) -> Review:
    """A review of the clinic; with `agent_id`, only if it is that agent's (another's is not found)."""
    review = db.session.get(Review, review_id)
    if review is None or (agent_id is not None and review.agent_id != agent_id):
        raise NotFound(_l("This review does not exist."))
    return review


def version_of(review: Review) -> ScorecardVersion:
    return scorecards.get_version(review.version_id)


def reviews_of_agent(agent_id: int, *, limit: int = 200) -> list[Review]:
    return list(
        db.session.scalars(
            select(Review).where(Review.agent_id == agent_id).order_by(Review.created_at.desc()).limit(limit)
        )
    )


def reviews_of_contact(contact_id: int) -> list[Review]:
    return list(db.session.scalars(select(Review).where(Review.contact_id == contact_id).order_by(Review.id)))


def recent_reviews(*, limit: int = 200) -> list[Review]:
    return list(db.session.scalars(select(Review).order_by(Review.created_at.desc(), Review.id.desc()).limit(limit)))


def acknowledge_review(review_id: int, *, agent_id: int, comment: str | None = None) -> Review:
    """The agent acknowledges their review, with an optional comment; once (a second time is a conflict)."""
    review = get_review(review_id, agent_id=agent_id)
    if review.acknowledged_at is not None:
        raise Conflict(_l("You have already acknowledged this review."))
    review.agent_comment = _comment(comment, "comment")
    review.acknowledged_at = utcnow()
    audit.record(
        "quality_review.acknowledged",
        object_type="review",
        object_id=review.id,
        details={"commented": review.agent_comment is not None},
    )
    return review


def people_names(user_ids) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def may_review(user, tenant) -> bool:
    """Managers and supervisors review; the clinic's admins too where the provider lets the clinic's own QA staff
    review (`tenants.clinic_admins_review_quality`)."""
    if user.is_provider_admin:
        return True
    roles = user.roles_in(tenant.id)
    if roles & {TenantRole.MANAGER, TenantRole.SUPERVISOR}:
        return True
    return TenantRole.CLINIC_ADMIN in roles and tenant.clinic_admins_review_quality


def set_clinic_admins_review(tenant, allowed: bool) -> None:
    """The provider's choice for one clinic, audited; the caller commits."""
    set_provider_switch(tenant, "clinic_admins_review_quality", allowed)
