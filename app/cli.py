"""CLI commands: demo data, the one-command demo and its clinic website, translations."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import select

from app.billing.services import sync_tenant
from app.demo import (
    CLINICS,
    DEMO_INBOUND_ADDRESSES,
    DEMO_PASSWORD,
    DEMO_SITE_PORT,
    PEOPLE,
    allow_demo_site,
    demo_site_key,
    demo_site_pages,
    seed_demo,
    serve_demo_site,
)
from app.embedded import lifeline
from app.embedded.postgres import embedded_postgres
from app.embedded.redis import embedded_redis, ensure_redis_url
from app.errors import DomainError
from app.extensions import db
from app.mailroom.gateway import GatewaySettings, serve
from app.models import utcnow
from app.quality import sampling
from app.sla.statements import close_due_statements
from app.tenancy import tenant_context
from app.tenants.models import Tenant, TenantStatus

ROOT = Path(__file__).resolve().parent.parent


def register_commands(app) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(translate)
    app.cli.add_command(billing)
    app.cli.add_command(sla)
    app.cli.add_command(quality)
    app.cli.add_command(mail_gateway_command)
    app.cli.add_command(chat_demo_site_command)


@click.command("seed-demo")
def seed_demo_command():
    """Create the demo provider, managers, clinics and people (once)."""
    created = seed_demo()
    click.echo("Demo data created." if created else "Demo data already present.")


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--mail-port", default=2525, show_default=True, type=int, help="The inbound mail gateway's port.")
@click.option(
    "--site-port", default=DEMO_SITE_PORT, show_default=True, type=int, help="The demo clinic website's port."
)
def demo_command(host: str, port: int, mail_port: int, site_port: int):
    """Migrate, seed, and run the web app, an RQ worker, the cron scheduler, the inbound mail gateway and a
    clinic website with the chat widget (another origin, as a clinic's own site is) until interrupted.

    Everything it starts ends with it: Ctrl+C, SIGTERM and SIGHUP stop the children in order (the
    embedded PostgreSQL and Redis last), and a crash or SIGKILL of this process makes the kernel stop them
    (app/embedded/lifeline.py). Other commands run meanwhile share its embedded servers.
    """
    instance = Path(current_app.instance_path)
    embedded = [
        *([] if os.environ.get("DATABASE_URL") else [embedded_postgres(instance)]),
        *([] if os.environ.get("REDIS_URL") else [embedded_redis(instance)]),
    ]
    for server in embedded:
        if not server.owned_here():
            record = server.live_record()
            owner = f"process {record.owner_pid}" if record else "another process"
            raise click.ClickException(
                f"The embedded {server.name} of {instance} belongs to {owner}: another demo or command runs on "
                "this instance folder. Stop it first, or set DATABASE_URL and REDIS_URL, or SWITCHBOARD_INSTANCE."
            )
    stopping = []
    # Before the first child starts: a hang-up (terminal closed) must stop the demo, not kill it bare.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: stopping.append(signum))

    upgrade()
    seed_demo()
    site_port = _port_or_any_free(host, site_port)
    site = f"http://{host}:{site_port}"
    # The clinic website is two static pages: served by a thread of this process, not a fifth app process
    # (each costs seconds of start-up); it ends with the demo like everything else.
    site_server = serve_demo_site(host, site_port, demo_site_pages(f"http://{host}:{port}", allow_demo_site(site)))
    threading.Thread(target=site_server.serve_forever, name="demo-site", daemon=True).start()
    db.session.remove()
    db.engine.dispose()
    env = {
        **os.environ,
        "REDIS_URL": ensure_redis_url(current_app),
        "DATABASE_URL": current_app.config["SQLALCHEMY_DATABASE_URI"],
        "SWITCHBOARD_ENV": current_app.config["SWITCHBOARD_ENV"],
        "SECRET_KEY": current_app.config["SECRET_KEY"],
        "PUBLIC_BASE_URL": f"http://{host}:{port}",
    }
    # Threaded workers: every open live page and chat widget holds a thread (docs/operator-guide.md, 2.13).
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", "2",
                "--worker-class", "gthread", "--threads", "32", "--graceful-timeout", "10", "wsgi:app"]  # fmt: skip
    mail_port = _port_or_any_free(host, mail_port)
    mail_gateway = [sys.executable, "-m", "flask", "--app", "wsgi", "mail-gateway", "--host", host,
                    "--port", str(mail_port)]  # fmt: skip
    children = [
        lifeline.spawn([sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT),
        lifeline.spawn(mail_gateway, env=env, cwd=ROOT),
        lifeline.spawn([sys.executable, str(ROOT / "worker.py"), "cron"], env=env, cwd=ROOT),
        lifeline.spawn(gunicorn, env=env, cwd=ROOT),
    ]
    watched = children + [server.process() for server in embedded]
    click.echo(f"\nSwitchboard is running at http://{host}:{port}/  (Ctrl+C stops it)")
    click.echo(f"Inbound e-mail: SMTP on {host}:{mail_port}, to e.g. {DEMO_INBOUND_ADDRESSES[0][1]}")
    click.echo(f"Chat: {CLINICS[0]['name']}'s website with the chat widget at {site}/")
    click.echo(f"Demo logins, all with the password '{DEMO_PASSWORD}':")
    for email, name, *_ in PEOPLE:
        click.echo(f"  {email:32} {name}")
    try:
        while not stopping and all(process.poll() is None for process in watched):
            time.sleep(0.5)
    finally:
        ended = [" ".join(map(str, process.args)) for process in watched if process.poll() is not None]
        click.echo(f"Stopping the demo ({'exited: ' + ', '.join(ended) if ended else 'asked to'}) …")
        site_server.shutdown()
        lifeline.stop(children)
        for server in reversed(embedded):
            server.stop()


@click.command("mail-gateway")
@click.option("--host", default=None, help="Address to listen on (MAIL_GATEWAY_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (MAIL_GATEWAY_PORT).")
@click.option("--tls-cert", default=None, help="Certificate (PEM) for STARTTLS (MAIL_GATEWAY_TLS_CERT).")
@click.option("--tls-key", default=None, help="Its private key (PEM) (MAIL_GATEWAY_TLS_KEY).")
@click.option("--require-tls/--no-require-tls", default=None, help="Refuse mail before STARTTLS.")
@click.option("--max-bytes", default=None, type=int, help="Largest message accepted (MAIL_GATEWAY_MAX_BYTES).")
def mail_gateway_command(host, port, tls_cert, tls_key, require_tls, max_bytes):
    """Run the inbound SMTP gateway until SIGTERM or Ctrl+C: mail to the clinics' addresses becomes contacts."""
    settings = GatewaySettings.from_config(
        current_app.config,
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        require_tls=require_tls,
        max_bytes=max_bytes,
    )
    serve(current_app._get_current_object(), settings, announce=click.echo)


@click.command("chat-demo-site")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEMO_SITE_PORT, show_default=True, type=int)
@click.option("--app-url", default="http://127.0.0.1:5000", show_default=True, help="Where Switchboard runs.")
def chat_demo_site_command(host: str, port: int, app_url: str):
    """Serve the demo clinic's website, a page embedding its chat widget with one script tag, until stopped.

    The page comes from another origin than Switchboard, as a clinic's website does: the widget's allowed
    origins (`flask demo` adds this one) and its cross-origin answers are what make it work.
    """
    pages = demo_site_pages(app_url, demo_site_key())
    db.session.remove()
    server = serve_demo_site(host, port, pages)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    click.echo(f"Demo clinic website on http://{host}:{port}/ (the widget from {app_url})")
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _port_or_any_free(host: str, preferred: int) -> int:
    """`preferred` if nothing listens there, else a free port: a second demo or a test run beside this one."""
    with socket.socket() as probe:
        try:
            probe.bind((host, preferred))
            return preferred
        except OSError:
            probe.bind((host, 0))
            return probe.getsockname()[1]


@click.group()
def translate():
    """Extract, update and compile the flask-babel catalogs."""


def _pybabel(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], check=True, cwd=ROOT)


@translate.command()
def update():
    """Extract strings and merge them into every catalog."""
    _pybabel(
        "extract",
        "-F",
        "babel.cfg",
        "-k",
        "_l",
        "-o",
        "translations/messages.pot",
        "--no-location",
        "--sort-output",
        ".",
    )
    _pybabel("update", "-i", "translations/messages.pot", "-d", "translations", "--no-fuzzy-matching")


@translate.command()
def compile():  # noqa: A001 - the pybabel verb
    """Compile every catalog to .mo files."""
    _pybabel("compile", "-d", "translations")


def _clinics_to_run(slug: str | None) -> list[tuple[int, str]]:
    """(id, slug) of the clinic named by `--tenant`, else of every clinic past its draft, by slug."""
    query = select(Tenant).where(Tenant.status != TenantStatus.DRAFT).order_by(Tenant.slug)
    if slug:
        query = select(Tenant).where(Tenant.slug == slug)
    tenants = [(t.id, t.slug) for t in db.session.scalars(query)]
    if slug and not tenants:
        raise click.ClickException(f"No clinic with the slug {slug!r}.")
    return tenants


@click.group(cls=AppGroup)
def billing():
    """Billing runs: close ended periods into invoices and push them to Stripe."""


@billing.command("sync")
@click.option("--tenant", "slug", default=None, help="Only this clinic (its slug); default every billed clinic.")
def billing_sync(slug: str | None):
    """Run the billing run now, in this process (the same service the hourly job calls)."""
    for tenant_id, tenant_slug in _clinics_to_run(slug):
        with tenant_context(tenant_id):
            result = sync_tenant(tenant_id)
            db.session.commit()
        state = (
            "skipped (another run holds the lock)"
            if result.skipped
            else (f"closed {len(result.closed)} invoice(s), pushed {len(result.pushed)} to Stripe")
        )
        click.echo(f"{tenant_slug}: {state}")


@click.group(cls=AppGroup)
def sla():
    """SLA statements: the month close."""


@sla.command("close-statements")
@click.option("--tenant", "slug", default=None, help="Only this clinic (its slug); default every billed clinic.")
def sla_close_statements(slug: str | None):
    """Write every ended month's SLA statement and credit now (the same service the hourly job calls)."""
    for tenant_id, tenant_slug in _clinics_to_run(slug):
        with tenant_context(tenant_id):
            written = close_due_statements(tenant_id)
        click.echo(f"{tenant_slug}: {len(written)} statement(s) written")


@click.group(cls=AppGroup)
def quality():
    """QA reviews: the weekly sample of contacts to review."""


@quality.command("sample")
@click.option(
    "--tenant", "slug", default=None, help="Only this clinic (its slug); default every clinic past its draft."
)
@click.option(
    "--week", "week", default=None, type=click.DateTime(["%Y-%m-%d"]), help="A day of the week; default last week."
)
@click.option("--per-agent", default=sampling.DEFAULT_PER_AGENT, show_default=True, type=int)
@click.option("--seed", default=None, help="The random seed; default the clinic and the week (the weekly job's).")
def quality_sample(slug: str | None, week, per_agent: int, seed: str | None):
    """Draw a week's review sample now (the same service as the weekly job and the manager's button)."""
    for tenant_id, tenant_slug in _clinics_to_run(slug):
        with tenant_context(tenant_id):
            time_zone = db.session.get(Tenant, tenant_id).time_zone
            week_start = week.date() if week else sampling.last_week_start(utcnow(), time_zone)
            try:
                result = sampling.draw_weekly_sample(week_start=week_start, per_agent=per_agent, seed=seed)
            except DomainError as error:
                raise click.ClickException(str(error.message)) from error
            db.session.commit()
        click.echo(
            f"{tenant_slug}: week of {result.week_start}: {len(result.sampled)} sampled, "
            f"{len(result.complaints)} complaint(s), {result.added} added to the review queue"
        )
