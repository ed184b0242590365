"""The billing run against a localstripe server with the real stripe SDK: cent-exact, never twice."""

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import stripe

from app.billing import pricing, services
from app.billing.jobs import schedule_billing_sync, sync_billing
from app.billing.models import BillingAccount, InvoiceStatus
from app.extensions import db, redis_connection
from app.jobs import BILLING, get_queue
from app.tenancy import tenant_context
from tests.billing.conftest import last_month as _last_month
from tests.infra import clock
from tests.infra.burst_worker import BurstWorker

ROOT = Path(__file__).resolve().parents[2]


def _client(app) -> stripe.StripeClient:
    return stripe.StripeClient(app.config["STRIPE_SECRET_KEY"], base_addresses={"api": app.config["STRIPE_API_BASE"]})


def _work(app):
    with app.app_context():
        BurstWorker([get_queue(BILLING)], connection=redis_connection()).work(burst=True)


def _stripe_state(app, tenant_id):
    """(customer, its invoices with our lines) as Stripe has them."""
    client = _client(app)
    with app.app_context(), tenant_context(tenant_id):
        customer_id = db.session.query(BillingAccount).one().stripe_customer_id
    customer = client.v1.customers.retrieve(customer_id)
    invoices = []
    for invoice in client.v1.invoices.list(params={"customer": customer_id}).auto_paging_iter():
        lines = [
            line
            for line in client.v1.invoices.line_items.list(invoice.id).auto_paging_iter()
            if line.metadata and line.metadata.to_dict().get("switchboard_line_id")
        ]
        if lines:
            invoices.append((invoice, lines))
    pending = list(client.v1.invoice_items.list(params={"customer": customer_id}).auto_paging_iter())
    return customer, invoices, pending


def _local(app, tenant_id):
    with app.app_context(), tenant_context(tenant_id):
        invoice = services.invoices()[0]
        db.session.expunge_all()
        return invoice


def test_a_billing_run_issues_a_stripe_invoice_equal_to_the_local_draft_to_the_cent(app, stripe_on, billed_clinic):
    tenant = billed_clinic("sync-clinic")
    with app.app_context(), tenant_context(tenant):
        from app.tenants.services import get_tenant

        tenant_row = get_tenant(tenant)
        draft = pricing.draft_invoice(pricing.period_of(tenant, tenant_row.time_zone, _last_month()))
    assert draft.total == Decimal("106.78")
    with app.app_context():
        get_queue(BILLING).enqueue(sync_billing, tenant, job_id="first-run")
    _work(app)

    local = _local(app, tenant)
    customer, invoices, pending = _stripe_state(app, tenant)
    assert customer.metadata["switchboard_tenant_id"] == str(tenant)
    assert len(invoices) == 1 and pending == []
    remote, lines = invoices[0]
    assert remote.total == 10678 == pricing.to_cents(local.total) == pricing.to_cents(draft.total)
    assert remote.currency == "eur" and remote.metadata["switchboard_tenant_id"] == str(tenant)
    assert sorted(line.amount for line in lines) == sorted(pricing.to_cents(line.amount) for line in draft.lines)
    assert all(line.metadata["switchboard_tenant_id"] == str(tenant) for line in lines)
    assert local.stripe_invoice_id == remote.id and local.status == InvoiceStatus.OPEN  # no card: awaiting payment


def test_running_the_job_twice_or_retrying_it_reports_nothing_twice(app, stripe_on, billed_clinic):
    tenant = billed_clinic("twice-clinic")
    with app.app_context():
        get_queue(BILLING).enqueue(sync_billing, tenant, job_id="run-1")
        get_queue(BILLING).enqueue(sync_billing, tenant, job_id="run-2")
    _work(app)
    with app.app_context():
        # The hourly schedule on top: one more run, deterministic id.
        assert schedule_billing_sync() == 1
        assert schedule_billing_sync() == 0
    _work(app)
    _customer, invoices, pending = _stripe_state(app, tenant)
    assert len(invoices) == 1 and len(invoices[0][1]) == 5 and pending == []
    assert invoices[0][0].total == 10678


class _HaltingProxy(BaseHTTPRequestHandler):
    """Forwards to localstripe; after forwarding the Nth invoice-item creation it never answers."""

    target: str
    halt_after: int
    seen = 0
    halted: threading.Event
    release: threading.Event

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.target)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        if self.command == "POST" and self.path.startswith("/v1/invoiceitems"):
            type(self).seen += 1
            if type(self).seen == self.halt_after:
                # Stripe has created the item; the worker never learns it (it is killed meanwhile).
                self.halted.set()
                self.release.wait(60)
                return
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _forward

    def log_message(self, *args):
        pass


def test_a_worker_killed_halfway_through_reporting_never_reports_usage_twice(
    app, stripe_on, billed_clinic, database_urls, redis_url, tmp_path
):
    tenant = billed_clinic("killed-clinic")
    handler = type(
        "Proxy",
        (_HaltingProxy,),
        {"target": stripe_on, "halt_after": 3, "seen": 0, "halted": threading.Event(), "release": threading.Event()},
    )
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key",
        "SWITCHBOARD_ENV": "testing",
        "SWITCHBOARD_INSTANCE": str(tmp_path),
        "STRIPE_SECRET_KEY": app.config["STRIPE_SECRET_KEY"],
        "STRIPE_API_BASE": f"http://127.0.0.1:{proxy.server_address[1]}",
        **clock.child_env(),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.infra.pinned", str(ROOT / "worker.py"), "billing"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with app.app_context():
            get_queue(BILLING).enqueue(sync_billing, tenant, job_id="doomed-run")
        assert handler.halted.wait(90), "the worker never reached the third invoice item"
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work-horse, mid-request
        worker.wait(30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        handler.release.set()
        proxy.shutdown()
        proxy.server_close()

    # Two items were recorded locally, the third exists only in Stripe.
    with app.app_context(), tenant_context(tenant):
        invoice = services.invoices()[0]
        assert invoice.status == InvoiceStatus.CLOSED
        assert sum(1 for line in invoice.lines if line.stripe_invoice_item_id) == 2
    # The retry (as RQ or the next hourly run would do it), once PostgreSQL dropped the killed run's lock.
    for _attempt in range(100):
        with app.app_context(), tenant_context(tenant):
            result = services.sync_tenant(tenant)
            db.session.commit()
        if not result.skipped:
            break
        time.sleep(0.1)
    _customer, invoices, pending = _stripe_state(app, tenant)
    assert len(invoices) == 1 and pending == []
    assert len(invoices[0][1]) == 5 and invoices[0][0].total == 10678
    assert len({line.metadata["switchboard_line_id"] for line in invoices[0][1]}) == 5
    assert _local(app, tenant).status == InvoiceStatus.OPEN


def test_each_clinic_gets_its_own_customer_and_only_its_usage(app, stripe_on, billed_clinic, record):
    from app.billing.models import UsageKind

    a = billed_clinic("iso-a")
    b = billed_clinic("iso-b")
    month = _last_month()
    record(b, UsageKind.HANDLED_CONTACT, 1, datetime(month.year, month.month, 12, tzinfo=UTC), "b-extra", "chat")
    for tenant in (a, b):
        with app.app_context(), tenant_context(tenant):
            services.sync_tenant(tenant)
            db.session.commit()
    customer_a, invoices_a, _ = _stripe_state(app, a)
    customer_b, invoices_b, _ = _stripe_state(app, b)
    assert customer_a.id != customer_b.id
    assert (customer_a.metadata["switchboard_tenant_id"], customer_b.metadata["switchboard_tenant_id"]) == (
        str(a),
        str(b),
    )
    assert invoices_a[0][0].total == 10678 and invoices_b[0][0].total == 10678 + 50  # B's extra chat: 0.50
    assert all(line.metadata["switchboard_tenant_id"] == str(a) for line in invoices_a[0][1])


def test_without_stripe_keys_the_run_closes_invoices_locally(app, billed_clinic):
    tenant = billed_clinic("offline-clinic")
    assert not app.config.get("STRIPE_SECRET_KEY")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["billing", "sync", "--tenant", "offline-clinic"])
    assert result.exit_code == 0, result.output
    assert "closed 1 invoice(s), pushed 0" in result.output
    local = _local(app, tenant)
    assert local.status == InvoiceStatus.CLOSED and local.total == Decimal("106.78") and local.stripe_invoice_id is None
    again = runner.invoke(args=["billing", "sync", "--tenant", "offline-clinic"])
    assert "closed 0 invoice(s)" in again.output
    assert runner.invoke(args=["billing", "sync", "--tenant", "nope"]).exit_code != 0
