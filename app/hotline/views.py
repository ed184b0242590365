"""Hotline pages: queue and team set-up, the agent workspace, contacts, and the supervisor's view."""

from flask import Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from app import audit
from app.auth.access import has_role, permits
from app.auth.models import TenantRole, User
from app.extensions import db
from app.forms import ConfirmForm, domain_errors, page_status
from app.hotline import activity, agent_options, contact_search, conversation, services, signals
from app.hotline.answer_values import answers_panel
from app.hotline.forms import (
    CallbackForm,
    ComplaintForm,
    ContactForm,
    NoteForm,
    QueueForm,
    ReassignForm,
    ReplyForm,
    ResolveForm,
    TeamForm,
    TransferForm,
)
from app.hotline.models import Channel, Proficiency, Topic
from app.i18n import LOCALE_NAMES, _
from app.input_rules import BadInput, parse_page
from app.patients.services import patient_overview
from app.tenants.routing import tenant_blueprint

# Who works where: managers set the hotline up, supervisors watch and reassign, agents (and the two
# above) handle contacts. Which contact an agent may open or change is the services' rule.
MANAGERS = permits(TenantRole.MANAGER)
SUPERVISORS = permits(TenantRole.MANAGER, TenantRole.SUPERVISOR)
CONTACT_HANDLERS = permits(TenantRole.MANAGER, TenantRole.SUPERVISOR, TenantRole.AGENT)

bp = tenant_blueprint("hotline", __name__, rule=MANAGERS)

LABELS = {"locale_names": LOCALE_NAMES}


def _supervises() -> bool:
    """Whether the caller acts as a supervisor: the services let supervisors act on others' contacts."""
    return has_role(TenantRole.MANAGER, TenantRole.SUPERVISOR)


def _render(template: str, status: int = 200, **context):
    return render_template(template, **LABELS, **context), status


# --- set-up (managers) ------------------------------------------------------------------------------


@bp.route("/settings/queues", methods=["GET", "POST"])
@MANAGERS
def queues():
    form = QueueForm(languages=g.tenant.supported_locales, teams=services.teams())
    if form.validate_on_submit():
        with domain_errors(form):
            services.save_queue(None, **_queue_values(form))
            flash(_("Queue %(name)s created.", name=form.name.data), "success")
            return redirect(url_for("hotline.queues"))
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
        "chat_limit": form.chat_limit.data,
    }


@bp.route("/settings/queues/<int:queue_id>", methods=["GET", "POST"])
@MANAGERS
def edit_queue(queue_id: int):
    queue = services.get_queue(queue_id)
    form = QueueForm(obj=queue, languages=g.tenant.supported_locales, teams=services.teams())
    if request.method == "GET":
        form.channel.data, form.topic.data = queue.channel.value, queue.topic.value
    if form.validate_on_submit():
        with domain_errors(form):
            services.save_queue(queue, **_queue_values(form))
            flash(_("Queue %(name)s saved.", name=queue.name), "success")
            return redirect(url_for("hotline.queues"))
    return _render("hotline/queue_edit.html", 400 if form.errors else 200, form=form, queue=queue)


@bp.post("/settings/queues/<int:queue_id>/delete")
@MANAGERS
def delete_queue(queue_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        services.delete_queue(queue_id)
        flash(_("Queue deleted."), "success")
    return redirect(url_for("hotline.queues"))


@bp.route("/settings/teams", methods=["GET", "POST"])
@MANAGERS
def teams():
    return _team_form(None)


@bp.route("/settings/teams/<int:team_id>", methods=["GET", "POST"])
@MANAGERS
def edit_team(team_id: int):
    return _team_form(services.get_team(team_id))


def _team_form(team):
    agents = services.tenant_agents(g.tenant.id)
    form = TeamForm(obj=team, languages=g.tenant.supported_locales, agents=agents)
    if request.method == "GET" and team is not None:
        form.members.data = [m.user_id for m in team.members]
    if form.validate_on_submit():
        with domain_errors(form):
            saved = services.save_team(
                team,
                name=form.name.data,
                languages=form.languages.data or [],
                covers_from=form.covers_from.data,
                covers_until=form.covers_until.data,
                member_ids=form.members.data or [],
            )
            flash(_("Team %(name)s saved.", name=saved.name), "success")
            return redirect(url_for("hotline.teams"))
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
@MANAGERS
def delete_team(team_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.delete_team(team_id)
    flash(_("Team deleted."), "success")
    return redirect(url_for("hotline.teams"))


@bp.route("/settings/agents/<int:user_id>/languages", methods=["GET", "POST"])
@MANAGERS
def agent_languages(user_id: int):
    agent = next((a for a in services.tenant_agents(g.tenant.id) if a.id == user_id), None)
    if agent is None:
        abort(404)
    form = ConfirmForm()
    current = services.agent_languages(agent.id)
    # The rows: the languages the agent speaks, then the clinic's others; any other language is added by name.
    codes = list(dict.fromkeys([*current, *g.tenant.supported_locales]))
    added = request.form.get("add_language", "").strip()
    if form.validate_on_submit():
        sent = {key: value for key, value in request.form.items() if key.startswith("lang_")}
        try:
            skills = services.read_skills(
                sent, held=current, added_name=added, added_level=request.form.get("add_level", "")
            )
        except services.SkillsRefused as error:
            # What was sent, as far as it names a language and a level, so the manager's choices stay.
            return _refused_languages(form, agent, codes, error.readable, added, error.message)
        services.set_agent_languages(agent.id, skills, held=current)
        flash(_("Languages of %(name)s saved.", name=agent.name), "success")
        return redirect(url_for("hotline.agents"))
    return _render(
        "hotline/agent_languages.html",
        form=form,
        agent=agent,
        current=current,
        codes=codes,
        added="",
        add_error=None,
        proficiencies=list(Proficiency),
    )


def _refused_languages(form, agent, codes, skills, added, error):
    """Nothing saved: the page again, as it was sent, with the reason beside the box."""
    return _render(
        "hotline/agent_languages.html",
        400,
        form=form,
        agent=agent,
        current=skills,
        codes=list(dict.fromkeys([*skills, *codes])),
        added=added,
        add_error=error,
        proficiencies=list(Proficiency),
    )


@bp.get("/settings/agents")
@MANAGERS
def agents():
    rows = [(agent, services.agent_languages(agent.id)) for agent in services.tenant_agents(g.tenant.id)]
    return _render("hotline/agents.html", agents=rows)


# --- agent workspace ------------------------------------------------------------------------------


def _my_languages() -> set[str]:
    return set(services.agent_languages(current_user.id))


@bp.get("/workspace")
@CONTACT_HANDLERS
def workspace():
    languages = _my_languages()
    order = services.parse_contact_order(request.args.get("sort"))
    my_contacts = services.contacts_of_agent(current_user.id, order=order)
    return _render(
        "hotline/workspace.html",
        loads=services.queue_loads(languages, include_in_house=False),
        my_contacts=my_contacts,
        languages=sorted(languages),
        claim_form=ConfirmForm(),
        order=order,
        orders=list(services.ContactOrder),
        activity_cursor=activity.list_cursor(current_user.id),
        **signals.contributions(signals.contacts_shown, my_contacts),
    )


def _bad_cursor(error: BadInput):
    """A cursor no page was drawn with: a clear JSON 400, whatever the client said it accepts."""
    return jsonify(error=str(error.message), field=error.field, status=400), 400


@bp.get("/workspace/live.json")
@CONTACT_HANDLERS
def workspace_live():
    """Queue counts for the polling script of the workspace and supervisor pages, and whether their list changed.

    `after` is the cursor the page was drawn with (app/hotline/activity.py): the supervisor's page
    (`all`) watches the clinic's open contacts, the workspace the caller's own.
    """
    everything = _supervises() and bool(request.args.get("all"))
    try:
        after = activity.parse_cursor(request.args.get("after"))
    except BadInput as error:
        return _bad_cursor(error)
    cursor = activity.list_cursor(None if everything else current_user.id)
    loads = services.queue_loads(
        None if everything else _my_languages(),
        include_in_house=bool(request.args.get("all")),
    )
    return jsonify(
        cursor=cursor,
        changed=after is not None and after != cursor,
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
        ],
    )


@bp.post("/workspace/next")
@CONTACT_HANDLERS
def claim_next():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        contact_id = services.claim_next_contact(current_user.id)
    except services.QueueEmpty as error:
        # An empty queue is news, not a refusal: nothing was claimed, so nothing is rolled back.
        flash(str(error.message), "info")
        return redirect(url_for("hotline.workspace"))
    return redirect(url_for("hotline.contact", contact_id=contact_id))


@bp.route("/contacts/new", methods=["GET", "POST"])
@CONTACT_HANDLERS
def new_contact():
    form = ContactForm(queues=services.queues(), languages=g.tenant.supported_locales)
    if form.validate_on_submit():
        with domain_errors(form):
            contact, _created = services.offer_contact(
                queue_id=form.queue_id.data,
                patient_ref=form.patient_ref.data,
                subject=form.subject.data,
                language=form.language.data,
                actor_id=current_user.id,
            )
            flash(_("Contact added to the queue."), "success")
            return redirect(url_for("hotline.contact", contact_id=contact.id))
    return _render("hotline/contact_new.html", 400 if form.errors else 200, form=form)


@bp.get("/contacts/search")
@CONTACT_HANDLERS
def search_contacts():
    """The clinic's contacts by patient reference or subject; the first visit (no `q`) shows the form only."""
    query = request.args.get("q")
    if query is None:
        return _search_page(query="", results=None, message=None)
    try:
        results = contact_search.search_contacts(query, parse_page(request.args.get("page")))
    except BadInput as error:
        # A too-short query is a hint, not a refusal; a too-long one or a bad page number is bad input.
        too_short = error.field == "q" and len(query.strip()) < contact_search.MIN_QUERY_LENGTH
        return _search_page(
            200 if too_short else 400,
            query=query[: contact_search.MAX_QUERY_LENGTH],
            results=None,
            message=error.message,
        )
    return _search_page(
        query=query.strip(),
        results=results,
        message=None,
        **signals.contributions(signals.contacts_shown, results.contacts),
    )


def _search_page(status: int = 200, **context):
    return _render("hotline/contact_search.html", status, max_query_length=contact_search.MAX_QUERY_LENGTH, **context)


@bp.get("/contacts/<int:contact_id>")
@CONTACT_HANDLERS
def contact(contact_id: int):
    item = services.get_contact(contact_id)
    audit.record("contact.viewed", object_type="contact", object_id=item.id)
    return _contact_page(item)


@bp.get("/contacts/<int:contact_id>/activity")
@CONTACT_HANDLERS
def contact_activity(contact_id: int):
    """Whether a contact changed since its page was drawn (`after`), with its status and handler, for js/live.js.

    Who may see the contact's page may ask; nothing about the patient is answered, so nothing is audited
    (a page polls every few seconds).
    """
    item = services.get_contact(contact_id)
    try:
        after = activity.parse_cursor(request.args.get("after"))
    except BadInput as error:
        return _bad_cursor(error)
    cursor = activity.contact_cursor(item)
    assignee = db.session.get(User, item.assigned_to_id) if item.assigned_to_id else None
    return jsonify(
        cursor=cursor,
        changed=after is not None and after != cursor,
        status=item.status.value,
        status_label=str(item.status.label),
        assignee=assignee.name if assignee else None,
    )


def _patient_panel(item) -> dict:
    """The patient beside the conversation; showing one leaves `patient.viewed` (by id, never a name)."""
    patient = patient_overview(item.patient_ref)
    if patient is not None:
        audit.record("patient.viewed", object_type="patient", object_id=patient.patient_id)
    return {"patient": patient, "earlier_contacts": services.earlier_contacts(item)}


def _contact_page(item, status: int = 200, **forms):
    """The contact page; a form that failed is passed back by name (its text kept, its errors shown)."""
    queues = services.queues()
    supported = g.tenant.supported_locales
    context = {
        "note_form": NoteForm(),
        "resolve_form": ResolveForm(topic=item.topic.value),
        # The contact's language stays unless the agent changes it; the queue is always the agent's choice.
        "transfer_form": TransferForm(
            queues=[q for q in queues if q.id != item.queue_id] or queues,
            languages=supported,
            language=item.language if item.language in supported else None,
        ),
        "callback_form": CallbackForm(queues=[q for q in queues if q.channel == Channel.CALLBACK]),
        "complaint_form": ComplaintForm(),
        "action_form": ConfirmForm(),
    }
    # The reply box is one form for a reply and a note: it shows whichever of them came back with errors.
    context["box_form"] = forms.pop("reply_form", None) or forms.pop("note_form", None) or ReplyForm()
    context.update(forms)
    assignee = db.session.get(User, item.assigned_to_id) if item.assigned_to_id else None
    panel = _patient_panel(item)
    items = conversation.conversation(item)
    is_handler = item.assigned_to_id == current_user.id
    by_email = conversation.answered_by_email(item)
    return _render(
        "hotline/contact.html",
        status,
        contact=item,
        conversation=items,
        assignee=assignee,
        is_handler=is_handler,
        supervisor=_supervises(),
        by_email=by_email,
        # A reply answers the patient's latest e-mail: there is one exactly when the contact is answered by e-mail.
        can_reply=item.status in services.OPEN_STATUSES and (is_handler or _supervises()) and by_email,
        delivery_errors=conversation.DELIVERY_ERRORS,
        authors={u.id: u.name for u in _authors(items)},
        activity_cursor=activity.contact_cursor(item),
        **panel,
        **answers_panel(item, current_user),
        # The earlier contacts beside it get their SLA badges too (an open one may be about to breach).
        **signals.contributions(signals.contacts_shown, [item, *panel["earlier_contacts"]]),
        **context,
    )


def _authors(items) -> list[User]:
    ids = {(i.note or i.message).author_id for i in items if i.kind in ("note", "message")}
    ids |= {i.event.actor_id for i in items if i.kind == "event"}
    ids.discard(None)
    return [db.session.get(User, user_id) for user_id in ids]


# Simple actions: one service call each, no input beyond the CSRF token.
_SIMPLE_ACTIONS = {
    "respond": lambda c, user, sup: conversation.record_first_response_by_hand(c, user),
    "wait": lambda c, user, sup: services.wait_on_patient(c, user, supervisor=sup),
    "resume": lambda c, user, sup: services.resume(c, user, supervisor=sup),
    "release": lambda c, user, sup: services.release_contact(c, user, supervisor=sup),
    "escalate": lambda c, user, sup: services.escalate_contact(c, user),
}


@bp.post("/contacts/<int:contact_id>/<any(respond, wait, resume, release, escalate):action>")
@CONTACT_HANDLERS
def contact_action(contact_id: int, action: str):
    item = services.get_contact(contact_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    with domain_errors(form):
        _SIMPLE_ACTIONS[action](item, current_user.id, _supervises())
        if action == "release":
            return redirect(url_for("hotline.workspace"))
        return redirect(url_for("hotline.contact", contact_id=contact_id))
    return _contact_page(services.get_contact(contact_id), page_status(form))


@bp.post("/contacts/<int:contact_id>/note")
@CONTACT_HANDLERS
def add_note(contact_id: int):
    item = services.get_contact(contact_id)
    form = NoteForm()
    return _form_action(item, form, "note_form", lambda: services.add_note(item, current_user.id, form.body.data))


@bp.post("/contacts/<int:contact_id>/reply")
@CONTACT_HANDLERS
def reply(contact_id: int):
    """The agent's public reply by e-mail: written now, sent by a job after the commit."""
    item = services.get_contact(contact_id)
    form = ReplyForm()
    return _form_action(
        item,
        form,
        "reply_form",
        lambda: conversation.reply(item, current_user.id, form.body.data, supervisor=_supervises()),
        done=_("Reply queued for sending."),
    )


@bp.get("/contacts/<int:contact_id>/attachments/<int:attachment_id>")
@CONTACT_HANDLERS
def attachment(contact_id: int, attachment_id: int):
    """A file that came with a message of this contact: always a download, never shown in the page."""
    item = services.get_contact(contact_id)
    found = conversation.attachment(item, attachment_id)
    audit.record("attachment.downloaded", object_type="attachment", object_id=found.id)
    patient = patient_overview(item.patient_ref)
    if patient is not None:
        audit.record("patient.viewed", object_type="patient", object_id=patient.patient_id)
    response = Response(found.content, mimetype=conversation.served_content_type(found.content_type))
    response.headers["Content-Disposition"] = conversation.content_disposition(found.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/contacts/<int:contact_id>/resolve")
@CONTACT_HANDLERS
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
            supervisor=_supervises(),
        ),
        then=url_for("hotline.workspace"),
    )


@bp.post("/contacts/<int:contact_id>/transfer")
@CONTACT_HANDLERS
def transfer(contact_id: int):
    item = services.get_contact(contact_id)
    form = TransferForm(queues=services.queues(), languages=g.tenant.supported_locales)
    return _form_action(
        item,
        form,
        "transfer_form",
        lambda: services.transfer_contact(
            item, current_user.id, queue_id=form.queue_id.data, language=form.language.data, supervisor=_supervises()
        ),
        then=url_for("hotline.workspace"),
    )


@bp.post("/contacts/<int:contact_id>/callback")
@CONTACT_HANDLERS
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
@CONTACT_HANDLERS
def complaint(contact_id: int):
    item = services.get_contact(contact_id)
    form = ComplaintForm()
    return _form_action(
        item, form, "complaint_form", lambda: services.flag_complaint(item, current_user.id, form.reason.data)
    )


def _form_action(item, form, form_name: str, apply, then: str | None = None, done: str | None = None):
    """Validate and call one service; on any error show the contact page with the form's errors (400)."""
    if form.validate_on_submit():
        with domain_errors(form):
            apply()
            flash(done or _("Saved."), "success")
            return redirect(then or url_for("hotline.contact", contact_id=item.id))
        item = services.get_contact(item.id)  # as it stands after the rollback
    return _contact_page(item, 400, **{form_name: form})


# --- supervisor -------------------------------------------------------------------------------------


@bp.get("/supervisor")
@SUPERVISORS
def supervisor():
    page = parse_page(request.args.get("page"))
    order = services.parse_contact_order(request.args.get("sort"))
    contacts, total = services.open_contacts(page=page, per_page=50, order=order)
    agents = services.tenant_agents(g.tenant.id)
    return _render(
        "hotline/supervisor.html",
        loads=services.queue_loads(),
        contacts=contacts,
        total=total,
        page=page,
        pages=max((total + 49) // 50, 1),
        agents={a.id: a.name for a in agents},
        reassign_form=_reassign_form(agents),
        order=order,
        orders=list(services.ContactOrder),
        activity_cursor=activity.list_cursor(),
        **signals.contributions(signals.supervisor_page_shown),
        **signals.contributions(signals.contacts_shown, contacts),
    )


def _reassign_form(agents) -> ReassignForm:
    """The reassign form with each agent's languages, load and state, those taking offers first (agent_options)."""
    form = ReassignForm(agents=agents)
    form.agent_id.choices = agent_options.reassign_choices(agent_options.reassign_options(g.tenant.id))
    return form


@bp.post("/supervisor/contacts/<int:contact_id>/reassign")
@SUPERVISORS
def reassign(contact_id: int):
    item = services.get_contact(contact_id)
    form = ReassignForm(agents=services.tenant_agents(g.tenant.id))
    if not form.validate_on_submit():
        flash(_("Choose an agent of this clinic."), "error")
        return redirect(url_for("hotline.supervisor")), 303
    with domain_errors():
        services.reassign_contact(item, current_user.id, form.agent_id.data)
        flash(_("Contact reassigned."), "success")
    return redirect(url_for("hotline.supervisor"))
