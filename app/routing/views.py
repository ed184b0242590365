"""Managers' page of a queue's automation rules: set them, or remove them."""

from flask import abort, flash, redirect, render_template, request, url_for

from app.auth.access import permits
from app.auth.models import TenantRole
from app.forms import ConfirmForm, domain_errors, page_status
from app.hotline.services import get_queue, queues
from app.i18n import _
from app.routing import services
from app.routing.forms import QueueRuleForm
from app.tenants.routing import tenant_blueprint

bp = tenant_blueprint("routing", __name__, "/settings/queues", rule=permits(TenantRole.MANAGER))


@bp.route("/<int:queue_id>/rules", methods=["GET", "POST"])
def rules(queue_id: int):
    queue = get_queue(queue_id)
    rule = services.rules_of(queue.id)
    form = QueueRuleForm(obj=rule, targets=[q for q in queues() if q.id != queue.id])
    if request.method == "GET" and rule is not None and rule.escalate_on is not None:
        form.escalate_on.data = rule.escalate_on
    if form.validate_on_submit():
        with domain_errors(form):
            # Changes reach the audit trail by themselves (QueueRule.__audit_name__).
            services.save_rules(queue.id, form.values())
            flash(_("Rules of %(name)s saved.", name=queue.name), "success")
            return redirect(url_for("routing.rules", queue_id=queue.id))
    status = page_status(form) if request.method == "POST" else 200
    return render_template("routing/rules.html", form=form, queue=queue, rule=rule), status


@bp.post("/<int:queue_id>/rules/delete")
def delete_rules(queue_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        services.delete_rules(queue_id)
        flash(_("The queue's rules were removed."), "success")
    return redirect(url_for("routing.rules", queue_id=queue_id))
