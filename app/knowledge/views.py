"""The clinic's knowledge base: every member reads and searches; managers and clinic admins write."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import MEMBERS, has_role, permits
from app.auth.models import TenantRole
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import _
from app.input_rules import BadInput
from app.knowledge import services
from app.knowledge.forms import ArticleForm, ArticleSearchForm
from app.tenants.routing import tenant_blueprint

bp = tenant_blueprint("knowledge", __name__, "/knowledge", rule=MEMBERS)

WRITERS = (TenantRole.MANAGER, TenantRole.CLINIC_ADMIN)
EDIT_RULE = permits(*TenantRole, writes=WRITERS)


def can_write() -> bool:
    return has_role(*WRITERS)


@bp.get("/")
def index():
    """The latest articles, or the ones matching the search."""
    form = ArticleSearchForm(request.args, languages=g.tenant.supported_locales)
    query, language = (form.q.data or "").strip(), form.language.data or None
    if language not in (None, *g.tenant.supported_locales):
        language = None
    try:
        found = services.search_articles(query, language=language, limit=50) if query else None
    except BadInput as error:
        # Too long to be a search: said above the list, which shows the latest articles instead.
        return render_template(
            "knowledge/index.html",
            form=form,
            query=query[: services.MAX_QUERY_LENGTH],
            message=error.message,
            articles=services.articles(language=language),
            searched=False,
            can_write=can_write(),
        ), 400
    listed = found if found is not None else services.articles(language=language)
    return render_template(
        "knowledge/index.html",
        form=form,
        query=query,
        articles=listed,
        searched=found is not None,
        can_write=can_write(),
    )


@bp.get("/<int:article_id>")
def show(article_id: int):
    return render_template("knowledge/show.html", article=services.get_article(article_id), can_write=can_write())


@bp.route("/new", methods=["GET", "POST"])
@EDIT_RULE
def new():
    return _article_form(None)


@bp.route("/<int:article_id>/edit", methods=["GET", "POST"])
@EDIT_RULE
def edit(article_id: int):
    return _article_form(services.get_article(article_id))


def _article_form(article):
    form = ArticleForm(obj=article, languages=g.tenant.supported_locales)
    if request.method == "GET" and article is None:
        form.language.data = g.tenant.default_locale
    if form.validate_on_submit():
        fields = {"language": form.language.data, "title": form.title.data, "body": form.body.data}
        with domain_errors(form):
            if article is None:
                saved = services.create_article(author_id=current_user.id, **fields)
            else:
                saved = services.update_article(article.id, **fields)
            flash(_("Article %(title)s saved.", title=saved.title), "success")
            return redirect(url_for("knowledge.show", article_id=saved.id))
    return render_template("knowledge/form.html", form=form, article=article), page_status(form)


@bp.post("/<int:article_id>/delete")
@EDIT_RULE
def delete(article_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        services.delete_article(article_id)
        flash(_("Article deleted."), "success")
    return redirect(url_for("knowledge.index"))
