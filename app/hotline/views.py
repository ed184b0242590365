"""Hotline pages: queue and team set-up, the agent workspace, contacts, and the supervisor's view."""

from functools import wraps

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.models import TenantRole, User
from app.errors import DomainError
from app.extensions import db
from app.forms import ConfirmForm, attach_domain_error
from app.hotline import services, signals
from app.hotline.forms import (
    CHANNEL_LABELS,
    DISPOSITION_LABELS,
    EVENT_LABELS,
    PROFICIENCY_LABELS,
    STATUS_LABELS,
    TOPIC_LABELS,
    CallbackForm,
    ComplaintForm,
    ContactForm,
    NoteForm,
    QueueForm,
    ReassignForm,
    ResolveForm,
    TeamForm,
    TransferForm,
)
from app.hotline.models import Channel, Proficiency, Topic
from app.i18n import LOCALE_NAMES, LOCALES, _
from app.input_rules import parse_page
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_manage

bp = tenant_blueprint("hotline", __name__)

LABELS = {
    "channel_labels": CHANNEL_LABELS,
    "topic_labels": TOPIC_LABELS,
    "status_labels": STATUS_LABELS,
    "event_labels": EVENT_LABELS,
    "disposition_labels": DISPOSITION_LABELS,
    "proficiency_labels": PROFICIENCY_LABELS,
    "locale_names": LOCALE_NAMES,
}


def _roles() -> set[TenantRole]:
    return current_user.roles_in(g.tenant.id)


def is_supervisor() -> bool:
    return can_manage(current_user, g.tenant) or TenantRole.SUPERVISOR in _roles()


def require(check):
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not check():
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorate


def _is_manager() -> bool:
    return can_manage(current_user, g.tenant)


def _works_contacts() -> bool:
    return is_supervisor() or TenantRole.AGENT in _roles()


def _render(template: str, status: int = 200, **context):
    return render_template(template, **LABELS, **context), status


def _fail(form, error: DomainError) -> None:
    db.session.rollback()
    if form is None or not attach_domain_error(form, error):
        flash(str(error.message), "error")


# --- set-up (managers) ------------------------------------------------------------------------------


@bp.route("/settings/queues", methods=["GET", "POST"])
@require(_is_manager)
def queues():
    form = QueueForm(languages=g.tenant.supported_locales, teams=services.teams())
    if form.validate_on_submit():
        try:
            services.save_queue(None, **_queue_values(form))
            db.session.commit()
            flash(_("Queue %(name)s created.", name=form.name.data), "success")
            return redirect(url_for("hotline.queues"))
        except DomainError as error:
            _fail(form, error)
    return _render(
        "hotline/queues.html",
        400 if form.errors else 200,
        form=form,
        queues=services.queues(),
        teams={t.id: t for t in services.teams()},
    )


def _queue_values(form: QueueForm) -> dict:
    return {
        "name": form.name.data,
        "channel": Channel(form.channel.data),
        "language": form.language.data,
        "topic": Topic(form.topic.data),
        "priority": form.priority.data,
        "in_house": form.in_house.data,
        "target_seconds": form.target_seconds.data,
        "team_id": form.team_id.data,
    }


@bp.route("/settings/queues/<int:queue_id>", methods=["GET", "POST"])
@require(_is_manager)
def edit_queue(queue_id: int):
    queue = services.get_queue(queue_id)
    form = QueueForm(obj=queue, languages=g.tenant.supported_locales, teams=services.teams())
    if request.method == "GET":
        form.channel.data, form.topic.data = queue.channel.value, queue.topic.value
    if form.validate_on_submit():
        try:
            services.save_queue(queue, **_queue_values(form))
            db.session.commit()
            flash(_("Queue %(name)s saved.", name=queue.name), "success")
            return redirect(url_for("hotline.queues"))
        except DomainError as error:
            _fail(form, error)
    return _render("hotline/queue_edit.html", 400 if form.errors else 200, form=form, queue=queue)


@bp.post("/settings/queues/<int:queue_id>/delete")
@require(_is_manager)
def delete_queue(queue_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.delete_queue(queue_id)
        db.session.commit()
        flash(_("Queue deleted."), "success")
    except DomainError as error:
        _fail(None, error)
        if error.status_code == 404:
            raise
    return redirect(url_for("hotline.queues"))


@bp.route("/settings/teams", methods=["GET", "POST"])
@require(_is_manager)
def teams():
    return _team_form(None)


@bp.route("/settings/teams/<int:team_id>", methods=["GET", "POST"])
@require(_is_manager)
def edit_team(team_id: int):
    return _team_form(services.get_team(team_id))


def _team_form(team):
    agents = services.tenant_agents(g.tenant.id)
    form = TeamForm(obj=team, languages=g.tenant.supported_locales, agents=agents)
    if request.method == "GET" and team is not None:
        form.members.data = [m.user_id for m in team.members]
    if form.validate_on_submit():
        try:
            saved = services.save_team(
                team,
                name=form.name.data,
                languages=form.languages.data or [],
                covers_from=form.covers_from.data,
                covers_until=form.covers_until.data,
                member_ids=form.members.data or [],
            )
            db.session.commit()
            flash(_("Team %(name)s saved.", name=saved.name), "success")
            return redirect(url_for("hotline.teams"))
        except DomainError as error:
            _fail(form, error)
    names = {agent.id: agent.name for agent in agents}
    return _render(
        "hotline/teams.html",
        400 if form.errors else 200,
        form=form,
        team=team,
        teams=services.teams(),
        agent_names=names,
    )


@bp.post("/settings/teams/<int:team_id>/delete")
@require(_is_manager)
def delete_team(team_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.delete_team(team_id)
    db.session.commit()
    flash(_("Team deleted."), "success")
    return redirect(url_for("hotline.teams"))


@bp.route("/settings/agents/<int:user_id>/languages", methods=["GET", "POST"])
@require(_is_manager)
def agent_languages(user_id: int):
    agent = next((a for a in services.tenant_agents(g.tenant.id) if a.id == user_id), None)
    if agent is None:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        skills = {}
        for code in LOCALES:
            level = request.form.get(f"lang_{code}", "")
            if level and level not in {p.value for p in Proficiency}:
                abort(400)
            if level:
                skills[code] = Proficiency(level)
        services.set_agent_languages(agent.id, skills)
        db.session.commit()
        flash(_("Languages of %(name)s saved.", name=agent.name), "success")
        return redirect(url_for("hotline.agents"))
    return _render(
        "hotline/agent_languages.html",
        form=form,
        agent=agent,
        current=services.agent_languages(agent.id),
        locales=LOCALES,
        proficiencies=list(Proficiency),
    )


@bp.get("/settings/agents")
@require(_is_manager)
def agents():
    rows = [(agent, services.agent_languages(agent.id)) for agent in services.tenant_agents(g.tenant.id)]
    return _render("hotline/agents.html", agents=rows)


# --- agent workspace ------------------------------------------------------------------------------


def _my_languages() -> set[str]:
    return set(services.agent_languages(current_user.id))


@bp.get("/workspace")
@require(_works_contacts)
def workspace():
    languages = _my_languages()
    return _render(
        "hotline/workspace.html",
        loads=services.queue_loads(languages, include_in_house=False),
        my_contacts=services.contacts_of_agent(current_user.id),
        languages=sorted(languages),
        claim_form=ConfirmForm(),
    )


@bp.get("/workspace/live.json")
@require(_works_contacts)
def workspace_live():
    """Queue counts for the workspace's polling script."""
    loads = services.queue_loads(
        None if is_supervisor() and request.args.get("all") else _my_languages(),
        include_in_house=bool(request.args.get("all")),
    )
    return jsonify(
        queues=[
            {
                "id": load.queue.id,
                "waiting": load.waiting,
                "assigned": load.assigned,
                "oldest_wait_seconds": load.oldest_wait_seconds,
                "seconds_to_first_breach": load.seconds_to_first_breach,
                "breached": load.breached,
                "urgency": load.urgency,
            }
            for load in loads
        ]
    )


@bp.post("/workspace/next")
@require(_works_contacts)
def claim_next():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        contact_id = services.claim_next_contact(current_user.id)
        db.session.commit()
    except services.QueueEmpty as error:
        db.session.rollback()
        flash(str(error.message), "info")
        return redirect(url_for("hotline.workspace"))
    return redirect(url_for("hotline.contact", contact_id=contact_id))


@bp.route("/contacts/new", methods=["GET", "POST"])
@require(_works_contacts)
def new_contact():
    form = ContactForm(queues=services.queues(), languages=g.tenant.supported_locales)
    if form.validate_on_submit():
        try:
            contact, _created = services.offer_contact(
                queue_id=form.queue_id.data,
                patient_ref=form.patient_ref.data,
                subject=form.subject.data,
                language=form.language.data,
                actor_id=current_user.id,
            )
            db.session.commit()
            flash(_("Contact added to the queue."), "success")
            return redirect(url_for("hotline.contact", contact_id=contact.id))
        except DomainError as error:
            _fail(form, error)
    return _render("hotline/contact_new.html", 400 if form.errors else 200, form=form)


@bp.get("/contacts/<int:contact_id>")
@require(_works_contacts)
def contact(contact_id: int):
    item = services.get_contact(contact_id)
    audit.record("contact.viewed", object_type="contact", object_id=item.id)
    db.session.commit()
    return _contact_page(item)


def _contact_page(item, status: int = 200, **forms):
    queues = services.queues()
    supported = g.tenant.supported_locales
    context = {
        "note_form": NoteForm(),
        "resolve_form": ResolveForm(topic=item.topic.value),
        "transfer_form": TransferForm(
            queues=[q for q in queues if q.id != item.queue_id] or queues, languages=supported
        ),
        "callback_form": CallbackForm(queues=[q for q in queues if q.channel == Channel.CALLBACK]),
        "complaint_form": ComplaintForm(),
        "action_form": ConfirmForm(),
    }
    context.update(forms)
    assignee = db.session.get(User, item.assigned_to_id) if item.assigned_to_id else None
    return _render(
        "hotline/contact.html",
        status,
        contact=item,
        events=services.timeline(item),
        notes=services.notes(item),
        assignee=assignee,
        is_handler=item.assigned_to_id == current_user.id,
        supervisor=is_supervisor(),
        authors={u.id: u.name for u in _authors(item)},
        **context,
    )


def _authors(item) -> list[User]:
    ids = {n.author_id for n in services.notes(item)} | {e.actor_id for e in services.timeline(item)}
    ids.discard(None)
    return [db.session.get(User, user_id) for user_id in ids]


# Simple actions: one service call each, no input beyond the CSRF token.
_SIMPLE_ACTIONS = {
    "respond": lambda c, user, sup: services.record_first_response(c, user),
    "wait": lambda c, user, sup: services.wait_on_patient(c, user, supervisor=sup),
    "resume": lambda c, user, sup: services.resume(c, user, supervisor=sup),
    "release": lambda c, user, sup: services.release_contact(c, user, supervisor=sup),
    "escalate": lambda c, user, sup: services.escalate_contact(c, user),
}


@bp.post("/contacts/<int:contact_id>/<any(respond, wait, resume, release, escalate):action>")
@require(_works_contacts)
def contact_action(contact_id: int, action: str):
    item = services.get_contact(contact_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        _SIMPLE_ACTIONS[action](item, current_user.id, is_supervisor())
        db.session.commit()
    except DomainError as error:
        _fail(None, error)
        return _contact_page(services.get_contact(contact_id), error.status_code)
    if action == "release":
        return redirect(url_for("hotline.workspace"))
    return redirect(url_for("hotline.contact", contact_id=contact_id))


@bp.post("/contacts/<int:contact_id>/note")
@require(_works_contacts)
def add_note(contact_id: int):
    item = services.get_contact(contact_id)
    form = NoteForm()
    return _form_action(item, form, "note_form", lambda: services.add_note(item, current_user.id, form.body.data))


@bp.post("/contacts/<int:contact_id>/resolve")
@require(_works_contacts)
def resolve(contact_id: int):
    item = services.get_contact(contact_id)
    form = ResolveForm()
    return _form_action(
        item,
        form,
        "resolve_form",
        lambda: services.resolve_contact(
            item,
            current_user.id,
            disposition=form.disposition.data,
            topic=Topic(form.topic.data),
            supervisor=is_supervisor(),
        ),
        then=url_for("hotline.workspace"),
    )


@bp.post("/contacts/<int:contact_id>/transfer")
@require(_works_contacts)
def transfer(contact_id: int):
    item = services.get_contact(contact_id)
    form = TransferForm(queues=services.queues(), languages=g.tenant.supported_locales)
    return _form_action(
        item,
        form,
        "transfer_form",
        lambda: services.transfer_contact(
            item, current_user.id, queue_id=form.queue_id.data, language=form.language.data, supervisor=is_supervisor()
        ),
        then=url_for("hotline.workspace"),
    )


@bp.post("/contacts/<int:contact_id>/callback")
@require(_works_contacts)
def callback(contact_id: int):
    item = services.get_contact(contact_id)
    form = CallbackForm(queues=[q for q in services.queues() if q.channel == Channel.CALLBACK])
    return _form_action(
        item,
        form,
        "callback_form",
        lambda: services.schedule_callback(
            item, current_user.id, local_time=form.callback_at.data, queue_id=form.queue_id.data
        ),
    )


@bp.post("/contacts/<int:contact_id>/complaint")
@require(_works_contacts)
def complaint(contact_id: int):
    item = services.get_contact(contact_id)
    form = ComplaintForm()
    return _form_action(
        item, form, "complaint_form", lambda: services.flag_complaint(item, current_user.id, form.reason.data)
    )


def _form_action(item, form, form_name: str, apply, then: str | None = None):
    """Validate, call one service, commit once; on any error show the contact page with the form's errors."""
    if form.validate_on_submit():
        try:
            apply()
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(then or url_for("hotline.contact", contact_id=item.id))
        except DomainError as error:
            _fail(form, error)
            item = services.get_contact(item.id)
    return _contact_page(item, 400, **{form_name: form})


# --- supervisor -------------------------------------------------------------------------------------


@bp.get("/supervisor")
@require(is_supervisor)
def supervisor():
    page = parse_page(request.args.get("page"))
    contacts, total = services.open_contacts(page=page, per_page=50)
    agents = services.tenant_agents(g.tenant.id)
    return _render(
        "hotline/supervisor.html",
        loads=services.queue_loads(),
        contacts=contacts,
        total=total,
        page=page,
        pages=max((total + 49) // 50, 1),
        agents={a.id: a.name for a in agents},
        reassign_form=ReassignForm(agents=agents),
        **signals.contributions(signals.supervisor_page_shown),
    )


@bp.post("/supervisor/contacts/<int:contact_id>/reassign")
@require(is_supervisor)
def reassign(contact_id: int):
    item = services.get_contact(contact_id)
    form = ReassignForm(agents=services.tenant_agents(g.tenant.id))
    if not form.validate_on_submit():
        flash(_("Choose an agent of this clinic."), "error")
        return redirect(url_for("hotline.supervisor")), 303
    try:
        services.reassign_contact(item, current_user.id, form.agent_id.data)
        db.session.commit()
        flash(_("Contact reassigned."), "success")
    except DomainError as error:
        _fail(None, error)
    return redirect(url_for("hotline.supervisor"))
