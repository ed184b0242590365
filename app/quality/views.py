"""QA pages: the review queue, scoring a contact beside its conversation, scorecards, calibration, and the
agent's own reviews with their acknowledgement.

Who reads what: managers and supervisors review (and read everything); clinic admins review too where the
provider lets the clinic's own QA staff review (`clinic_admins_review_quality`), else they read the clinic's
reviews, scorecards and calibration, with agents' names only when the provider shows names to the clinic
(`agent_names_to_clinic`), and never a conversation; an agent reads only their own reviews. Managers edit
scorecards and draw samples.
"""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_login import current_user

from app import audit
from app.auth.access import has_role, permits
from app.auth.models import TenantRole
from app.errors import DomainError
from app.extensions import db
from app.forms import domain_errors, page_status
from app.hotline import conversation
from app.i18n import _
from app.models import utcnow
from app.quality import calibration, reviews, sampling, scorecards
from app.quality.forms import AcknowledgeForm, ClinicReviewersForm, ReviewForm, SampleForm, ScorecardForm
from app.quality.models import Answer
from app.tenants.routing import tenant_blueprint

# Clinic admins pass this rule, then the view asks whether the provider lets this clinic's admins review.
REVIEWERS = permits(TenantRole.MANAGER, TenantRole.SUPERVISOR, TenantRole.CLINIC_ADMIN)
READERS = permits(TenantRole.MANAGER, TenantRole.SUPERVISOR, TenantRole.CLINIC_ADMIN, writes=[])
SCORECARD_EDITORS = permits(
    TenantRole.MANAGER, TenantRole.SUPERVISOR, TenantRole.CLINIC_ADMIN, writes=[TenantRole.MANAGER]
)
SAMPLERS = permits(TenantRole.MANAGER)
AGENTS = permits(TenantRole.AGENT)

bp = tenant_blueprint("quality", __name__, "/quality", rule=READERS)


def _reviews_as_staff() -> bool:
    return has_role(TenantRole.MANAGER, TenantRole.SUPERVISOR)


def _check_reviewer() -> None:
    if not reviews.may_review(current_user, g.tenant):
        abort(403)


def _names(user_ids) -> dict[int, str]:
    """People's names for the page; for clinic admins, agents' names only if the provider shows them."""
    names = reviews.people_names(user_ids)
    if _reviews_as_staff() or g.tenant.agent_names_to_clinic:
        return names
    return {}


# --- the review queue and sampling ----------------------------------------------------------------------


@bp.get("/")
def queue():
    """Contacts waiting for review (weekly samples, complaints, low satisfaction), with how often reviewed."""
    rows = reviews.review_queue(current_user.id)
    form = SampleForm(formdata=None, week_start=sampling.last_week_start(utcnow(), g.tenant.time_zone))
    return _queue_page(rows, form)


def _queue_page(rows, form, status: int = 200):
    page = render_template(
        "quality/queue.html",
        rows=rows,
        names=_names(r.contact.assigned_to_id for r in rows),
        form=form,
        may_review=reviews.may_review(current_user, g.tenant),
        may_sample=has_role(TenantRole.MANAGER),
        reviewers_form=ClinicReviewersForm(formdata=None, allowed=g.tenant.clinic_admins_review_quality),
    )
    return page, status


@bp.post("/reviewers")
@SAMPLERS
def clinic_reviewers():
    """The manager's switch: may the clinic's own admins (its QA staff) review contacts?"""
    form = ClinicReviewersForm()
    if not form.validate_on_submit():
        abort(400)
    reviews.set_clinic_admins_review(g.tenant, bool(form.allowed.data))
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("quality.queue")), 303


@bp.post("/sample")
@SAMPLERS
def draw_sample():
    """The manager's button: draw one week's sample now (the service the weekly job and the CLI call)."""
    form = SampleForm()
    if form.validate_on_submit():
        with domain_errors(form):
            result = sampling.draw_weekly_sample(week_start=form.week_start.data, per_agent=form.per_agent.data)
            flash(
                _(
                    "%(added)s contacts added to the review queue (%(sampled)s sampled, %(complaints)s complaints).",
                    added=result.added,
                    sampled=len(result.sampled),
                    complaints=len(result.complaints),
                ),
                "success",
            )
            return redirect(url_for("quality.queue")), 303
    return _queue_page(reviews.review_queue(current_user.id), form, page_status(form))


# --- scoring a contact ------------------------------------------------------------------------------------


def _scorecard_choices():
    return [(s.id, s.name) for s in scorecards.scorecards(active_only=True)]


def _review_page(contact_id: int, form: ReviewForm, answers: dict, status: int = 200, errors: dict | None = None):
    contact = reviews.reviewable_contact(contact_id)
    chosen = form.scorecard.data if isinstance(form.scorecard.data, int) else None
    choices = _scorecard_choices()
    if chosen not in {c[0] for c in choices}:
        chosen = choices[0][0] if choices else None
    form.scorecard.choices = choices
    form.scorecard.data = chosen
    card = scorecards.describe(chosen) if chosen is not None else None
    items = conversation.conversation(contact)
    authors = {(i.note or i.message).author_id for i in items if i.kind in ("note", "message")}
    authors |= {i.event.actor_id for i in items if i.kind == "event"}
    audit.record("contact.viewed", object_type="contact", object_id=contact.id)
    page = render_template(
        "quality/review_form.html",
        contact=contact,
        conversation=items,
        authors=reviews.people_names(authors),
        agent_name=_names([contact.assigned_to_id]).get(contact.assigned_to_id),
        form=form,
        card=card,
        answers=answers,
        answer_errors=errors or {},
        answer_choices=list(Answer),
        existing=reviews.reviews_of_contact(contact.id),
    )
    return page, status


@bp.get("/contacts/<int:contact_id>/review")
@REVIEWERS
def review_form(contact_id: int):
    _check_reviewer()
    form = ReviewForm(formdata=None)
    chosen = request.args.get("scorecard", "")
    if chosen.isdigit() and int(chosen) <= scorecards.MAX_ID:
        form.scorecard.data = int(chosen)
    return _review_page(contact_id, form, {})


@bp.post("/contacts/<int:contact_id>/review")
@REVIEWERS
def submit_review(contact_id: int):
    """Score the contact with the chosen scorecard; the answers are the radio groups `answer-<key>`."""
    _check_reviewer()
    form = ReviewForm()
    form.scorecard.choices = _scorecard_choices()
    answers = {key.removeprefix("answer-"): value for key, value in request.form.items() if key.startswith("answer-")}
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            review = reviews.submit_review(
                contact_id,
                reviewer_id=current_user.id,
                scorecard_id=form.scorecard.data,
                answers=answers,
                comment=form.comment.data,
            )
        except DomainError as error:
            if error.status_code == 404:
                raise
            db.session.rollback()
            form.error_status = error.status_code
            if error.field and error.field.startswith("q"):
                errors[error.field] = str(error.message)
            elif error.field == "comment":
                form.comment.errors = [str(error.message)]
            else:
                flash(str(error.message), "error")
        else:
            flash(_("Review saved: %(score)s", score=_score_text(review.score)), "success")
            return redirect(url_for("quality.review", review_id=review.id)), 303
    return _review_page(contact_id, form, answers, page_status(form), errors)


def _score_text(score) -> str:
    return _("not applicable") if score is None else format_decimal(score, "#,##0.##") + " %"


# --- reading reviews ------------------------------------------------------------------------------------


@bp.get("/reviews")
def review_list():
    """Recent reviews of the clinic (reviewers and clinic admins)."""
    found = reviews.recent_reviews()
    return render_template(
        "quality/reviews.html",
        reviews=found,
        names=_names({r.agent_id for r in found} | {r.reviewer_id for r in found}),
        agents_named=_reviews_as_staff() or g.tenant.agent_names_to_clinic,
    )


def _review_context(review) -> dict:
    version = reviews.version_of(review)
    return {
        "review": review,
        "version": version,
        "questions": scorecards.questions_of(version),
        "scorecard": scorecards.get_scorecard(version.scorecard_id),
    }


@bp.get("/reviews/<int:review_id>")
def review(review_id: int):
    found = reviews.get_review(review_id)
    return render_template(
        "quality/review.html",
        names=_names([found.agent_id, found.reviewer_id]),
        staff=_reviews_as_staff(),
        **_review_context(found),
    )


@bp.get("/mine")
@AGENTS
def my_reviews():
    """The signed-in agent's reviews, newest first."""
    found = reviews.reviews_of_agent(current_user.id)
    return render_template("quality/mine.html", reviews=found, names=reviews.people_names(r.reviewer_id for r in found))


def _my_review_page(review_id: int, form: AcknowledgeForm, status: int = 200):
    found = reviews.get_review(review_id, agent_id=current_user.id)
    page = render_template(
        "quality/my_review.html",
        form=form,
        names=reviews.people_names([found.reviewer_id]),
        **_review_context(found),
    )
    return page, status


@bp.get("/mine/<int:review_id>")
@AGENTS
def my_review(review_id: int):
    return _my_review_page(review_id, AcknowledgeForm(formdata=None))


@bp.post("/mine/<int:review_id>")
@AGENTS
def acknowledge(review_id: int):
    form = AcknowledgeForm()
    if form.validate_on_submit():
        with domain_errors(form):
            reviews.acknowledge_review(review_id, agent_id=current_user.id, comment=form.comment.data)
            flash(_("Review acknowledged."), "success")
            return redirect(url_for("quality.my_review", review_id=review_id)), 303
    return _my_review_page(review_id, form, page_status(form))


# --- calibration ----------------------------------------------------------------------------------------


@bp.get("/calibration")
def calibration_page():
    """Contacts scored by several reviewers: each reviewer's score and the spread, per contact and question."""
    found = calibration.calibration()
    return render_template("quality/calibration.html", calibration=found, names=_names(found.reviewers))


# --- scorecards -----------------------------------------------------------------------------------------


@bp.get("/scorecards")
@SCORECARD_EDITORS
def scorecard_list():
    return render_template(
        "quality/scorecards.html",
        scorecards=[scorecards.describe(s.id) for s in scorecards.scorecards()],
        may_edit=has_role(TenantRole.MANAGER),
    )


def _scorecard_page(form: ScorecardForm, view=None, status: int = 200):
    page = render_template("quality/scorecard.html", form=form, view=view, may_edit=has_role(TenantRole.MANAGER))
    return page, status


@bp.route("/scorecards/new", methods=["GET", "POST"])
@SCORECARD_EDITORS
def new_scorecard():
    form = ScorecardForm()
    if form.validate_on_submit():
        with domain_errors(form):
            saved = scorecards.save_scorecard(
                None,
                name=form.name.data,
                weighted=form.weighted.data,
                auto_fail=form.auto_fail.data,
                active=form.active.data,
                author_id=current_user.id,
            )
            flash(_("Scorecard saved."), "success")
            return redirect(url_for("quality.scorecard", scorecard_id=saved.scorecard.id)), 303
    return _scorecard_page(form, status=page_status(form) if request.method == "POST" else 200)


@bp.route("/scorecards/<int:scorecard_id>", methods=["GET", "POST"])
@SCORECARD_EDITORS
def scorecard(scorecard_id: int):
    view = scorecards.describe(scorecard_id)
    if request.method == "GET":
        weighted, auto = scorecards.question_lines(view.questions)
        form = ScorecardForm(
            formdata=None, name=view.scorecard.name, weighted=weighted, auto_fail=auto, active=view.scorecard.active
        )
        return _scorecard_page(form, view)
    form = ScorecardForm()
    if form.validate_on_submit():
        with domain_errors(form):
            saved = scorecards.save_scorecard(
                scorecard_id,
                name=form.name.data,
                weighted=form.weighted.data,
                auto_fail=form.auto_fail.data,
                active=form.active.data,
                author_id=current_user.id,
            )
            flash(_("Scorecard saved as version %(number)s.", number=saved.version.number), "success")
            return redirect(url_for("quality.scorecard", scorecard_id=scorecard_id)), 303
    return _scorecard_page(form, view, page_status(form))
