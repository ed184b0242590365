"""Billing pages: a clinic's usage, draft and past invoices; plans and adjustments (managers); the console."""

import secrets

from babel.numbers import format_currency as babel_format_currency
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_currency, get_locale
from flask_login import current_user
from sqlalchemy import select

from app import audit
from app.auth.access import CONSOLE, default_rule, permits
from app.auth.models import TenantRole, User
from app.billing import ledger, pricing, services
from app.billing.forms import AdjustmentForm, PricePlanForm
from app.billing.models import Invoice, InvoiceStatus
from app.billing.pricing import line_label
from app.extensions import db
from app.forms import ConfirmForm, domain_errors, page_status
from app.i18n import _
from app.tenants.routing import tenant_blueprint
from app.tenants.services import can_manage, tenants_visible_to

bp = tenant_blueprint("billing", __name__, "/billing", rule=permits(TenantRole.MANAGER))
console_bp = default_rule(Blueprint("console_billing", __name__, url_prefix="/console/billing"), CONSOLE)


def _money(amount, currency):
    return format_currency(amount, currency) if currency else "—"


def _price(amount, currency):
    """A unit price with all its decimals (€1.2345, at least the cents): rounded to the cent, the
    price times the quantity would not give the line's amount."""
    return babel_format_currency(amount, currency, locale=get_locale(), decimal_quantization=False) if currency else "—"


@bp.context_processor
@console_bp.context_processor
def _billing_helpers():
    return {"money": _money, "price": _price, "line_label": line_label}


READERS = permits(TenantRole.MANAGER, TenantRole.CLINIC_ADMIN)


@bp.get("/")
@READERS
def overview():
    """Usage of the running month as a draft invoice, and the past invoices."""
    period = pricing.current_period(g.tenant)
    draft = pricing.draft_invoice(period)
    return render_template(
        "billing/overview.html",
        period=period,
        draft=draft,
        invoices=services.invoices(),
        manages=can_manage(current_user, g.tenant),
    )


@bp.get("/invoices/<int:invoice_id>")
@READERS
def invoice(invoice_id: int):
    return render_template("billing/invoice.html", invoice=services.get_invoice(invoice_id))


@bp.route("/plans", methods=["GET", "POST"])
def plans():
    """The plan's version history, and a form for a new version (managers)."""
    form = PricePlanForm()
    if request.method == "GET":
        current = pricing.plan_for(pricing.current_period(g.tenant).first_day)
        if current is not None:
            form.currency.data, form.base_fee.data = current.currency, current.base_fee
            for rate in current.rates:
                key = pricing.slot_key(rate.kind, rate.channel)
                form[f"{key}_price"].data, form[f"{key}_included"].data = rate.unit_price, rate.included_quantity
        form.effective_from.data = pricing.current_period(g.tenant).next_first_day
    if form.validate_on_submit():
        with domain_errors(form):
            plan = pricing.save_plan(
                effective_from=form.effective_from.data,
                currency=form.currency.data,
                base_fee=form.base_fee.data,
                rates=form.rates(),
                author_id=current_user.id,
            )
            db.session.flush()
            audit.record(
                "price_plan.saved", object_type="price_plan", object_id=plan.id, details={"version": plan.version}
            )
            flash(
                _(
                    "Price plan version %(version)s saved: it applies from %(day)s.",
                    version=plan.version,
                    day=plan.effective_from.isoformat(),
                ),
                "success",
            )
            return redirect(url_for("billing.plans"))
    return _render_plans(form), page_status(form)


def _render_plans(form):
    return render_template(
        "billing/plans.html",
        form=form,
        plans=pricing.plans(),
        last_invoiced=pricing.last_invoiced_period(),
        slots=pricing.RATE_SLOTS,
    )


@bp.post("/plans/<int:plan_id>/delete")
def delete_plan(plan_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with domain_errors():
        pricing.delete_plan(plan_id)
        flash(_("Price plan version deleted."), "success")
    return redirect(url_for("billing.plans"))


@bp.route("/adjustments", methods=["GET", "POST"])
def adjustments():
    """Manual corrections: separate ledger entries with a reason and their author (managers)."""
    form = AdjustmentForm()
    if request.method == "GET":
        form.request_key.data = secrets.token_hex(16)
    elif form.validate_on_submit():
        with domain_errors(form):
            recorded = ledger.record_adjustment(
                amount=form.amount.data,
                reason=form.reason.data,
                author_id=current_user.id,
                request_key=form.request_key.data,
            )
            if recorded is not None:
                flash(_("Adjustment recorded."), "success")
            return redirect(url_for("billing.adjustments"))
    plan = pricing.plan_for(pricing.current_period(g.tenant).first_day)

    entries = ledger.adjustments()
    authors = (
        {u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_({e.author_id for e in entries})))}
        if entries
        else {}
    )
    return render_template(
        "billing/adjustments.html",
        form=form,
        entries=entries,
        authors=authors,
        currency=plan.currency if plan else None,
    ), page_status(form)


@console_bp.get("/")
def console():
    """Every clinic of the manager: the running month's draft total, the last invoice, failed payments first."""
    tenants = tenants_visible_to(current_user)
    periods = [pricing.current_period(t) for t in tenants]
    drafts = pricing.draft_invoices(periods, across_tenants=True) if periods else {}
    ids = [t.id for t in tenants]
    latest: dict[int, Invoice] = {}
    failed: list[Invoice] = []
    if ids:
        for item in db.session.scalars(
            select(Invoice)
            .where(Invoice.tenant_id.in_(ids))
            .order_by(Invoice.period_start)
            .execution_options(all_tenants=True)
        ):
            latest[item.tenant_id] = item
            if item.status == InvoiceStatus.PAYMENT_FAILED:
                failed.append(item)
    names = {t.id: t for t in tenants}
    return render_template(
        "billing/console.html", tenants=tenants, drafts=drafts, latest=latest, failed=failed, names=names
    )
