"""Canned answers over HTTP: a clinic's answers (every member reads, managers and clinic admins write) and the
provider's shared answers on the console (the console reads, provider admins write)."""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import CONSOLE, MEMBERS, PROVIDER_ADMINS, default_rule, permits
from app.errors import NotFound
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import LOCALE_NAMES, LOCALES, _
from app.knowledge import answers
from app.knowledge.forms import AnswerForm
from app.knowledge.views import WRITERS, can_write
from app.languages import language_choices
from app.tenants.routing import tenant_blueprint

bp = tenant_blueprint("answers", __name__, "/answers", rule=MEMBERS)
console_bp = default_rule(Blueprint("console_answers", __name__, url_prefix="/console/answers"), CONSOLE)

# The writers' forms are theirs alone: a reader would only meet a form whose saving is refused.
WRITE_RULE = permits(*WRITERS)
LABELS = {"locale_names": LOCALE_NAMES, "placeholders": answers.PLACEHOLDERS}


# --- a clinic's answers ------------------------------------------------------------------------------


@bp.get("/")
def index():
    """The answers the clinic offers, by name, with their language versions and the shared ones replaced."""
    return render_template(
        "knowledge/answers.html", groups=answers.available_answers(), can_write=can_write(), **LABELS
    )


@bp.route("/new", methods=["GET", "POST"])
@WRITE_RULE
def new():
    """A new answer; `?shared=<id>` starts from a shared answer's text to override it for this clinic, `?name=`
    and `?language=` from another language version of an answer."""
    form = AnswerForm(languages=g.tenant.supported_locales)
    overriding = None
    # Beyond PostgreSQL's integers no answer exists.
    shared_id = request.args.get("shared", "")
    if shared_id.isascii() and shared_id.isdigit() and len(shared_id) <= 9:
        try:
            overriding = answers.get_shared_answer(int(shared_id))
        except NotFound:
            overriding = None  # deleted meanwhile: an empty form is the honest answer
    if request.method == "GET":
        form.language.data = request.args.get("language") or g.tenant.default_locale
        form.name.data = (request.args.get("name") or "")[: answers.NAME_MAX]
        if overriding is not None:
            form.name.data, form.language.data = overriding.name, overriding.language
            form.body.data = overriding.body
    return _answer_form(form, None, overriding)


@bp.route("/<int:answer_id>/edit", methods=["GET", "POST"])
@WRITE_RULE
def edit(answer_id: int):
    answer = answers.get_clinic_answer(answer_id)
    return _answer_form(AnswerForm(obj=answer, languages=g.tenant.supported_locales), answer, None)


def _answer_form(form: AnswerForm, answer, overriding):
    if form.validate_on_submit():
        with domain_errors(form):
            saved = answers.save_clinic_answer(
                answer.id if answer is not None else None,
                name=form.name.data,
                language=form.language.data,
                body=form.body.data,
                author_id=current_user.id,
            )
            flash(_("Answer %(name)s saved.", name=saved.name), "success")
            return redirect(url_for("answers.index"))
    if answer is not None:
        title = _("Edit answer")
    else:
        title = _("Override a shared answer") if overriding is not None else _("New answer")
    return render_template(
        "knowledge/answer_form.html",
        title=title,
        form=form,
        answer=answer,
        overriding=overriding,
        console=False,
        **LABELS,
    ), page_status(form)


@bp.post("/<int:answer_id>/delete")
@WRITE_RULE
def delete(answer_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        answers.delete_clinic_answer(answer_id)
        flash(_("Answer deleted."), "success")
    return redirect(url_for("answers.index"))


# --- the provider's shared answers (console) ---------------------------------------------------------


@console_bp.get("/")
def console_index():
    """Every shared answer, by name, in each language the provider wrote it in."""
    return render_template(
        "knowledge/shared_answers.html",
        groups=answers.shared_answers(),
        can_write=current_user.is_provider_admin,
        **LABELS,
    )


def _shared_languages() -> list[str]:
    """A shared answer's languages: any (a provider serves Turkish patients in many clinics), the interface
    languages first as the ones most clinics serve, then the others by name in the reader's language."""
    return [*LOCALES, *(code for code, _name in language_choices() if code not in LOCALES)]


@console_bp.route("/new", methods=["GET", "POST"])
@PROVIDER_ADMINS
def console_new():
    form = AnswerForm(languages=_shared_languages())
    if request.method == "GET":
        form.language.data = request.args.get("language") or LOCALES[0]
        form.name.data = (request.args.get("name") or "")[: answers.NAME_MAX]
    return _shared_form(form, None)


@console_bp.route("/<int:answer_id>/edit", methods=["GET", "POST"])
@PROVIDER_ADMINS
def console_edit(answer_id: int):
    answer = answers.get_shared_answer(answer_id)
    return _shared_form(AnswerForm(obj=answer, languages=_shared_languages()), answer)


def _shared_form(form: AnswerForm, answer):
    if form.validate_on_submit():
        with domain_errors(form):
            saved = answers.save_shared_answer(
                answer.id if answer is not None else None,
                name=form.name.data,
                language=form.language.data,
                body=form.body.data,
            )
            flash(_("Shared answer %(name)s saved.", name=saved.name), "success")
            return redirect(url_for("console_answers.console_index"))
    return render_template(
        "knowledge/answer_form.html",
        title=_("Edit shared answer") if answer is not None else _("New shared answer"),
        form=form,
        answer=answer,
        overriding=None,
        console=True,
        **LABELS,
    ), page_status(form)


@console_bp.post("/<int:answer_id>/delete")
@PROVIDER_ADMINS
def console_delete(answer_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        answers.delete_shared_answer(answer_id)
        flash(_("Shared answer deleted."), "success")
    return redirect(url_for("console_answers.console_index"))
