"""Jobs are asked for by name (app/jobs.py): services enqueue a name, never the job module; the per-clinic
fan-out queues one job per clinic it is given; the periodic list is what the cron registers."""

import ast
from pathlib import Path

import pytest
from flask_babel import get_locale
from rq.cron import CronScheduler
from rq.job import Job
from sqlalchemy import select

from app.auth.models import TenantRole, User
from app.billing.jobs import schedule_billing_sync
from app.campaigns.jobs import schedule_outbound
from app.complaints.jobs import schedule_watch
from app.compliance.retention.jobs import schedule_retention
from app.extensions import db, redis_connection
from app.jobs import (
    DEFAULT,
    PERIODIC_JOBS,
    QUEUE_NAMES,
    RegistryJob,
    UnknownJob,
    enqueue_after_commit,
    get_queue,
    queue_per_clinic,
    register_job,
    registered_job,
    registered_jobs,
    tenant_job,
)
from app.outbox import OutboxJob
from app.quality.jobs import schedule_weekly_sample
from app.sla.jobs import schedule_breach_watch
from app.tenancy import tenant_context
from app.tenants import services as tenant_services
from app.tenants.models import TenantStatus
from tests.infra.burst_worker import BurstWorker

APP = Path(__file__).resolve().parent.parent / "app"
FACTORY = APP / "__init__.py"
CLINICS_KEY = "test:clinics-served"


def _is_job_module(module: str) -> bool:
    """`app.<domain>.jobs`, `app.<domain>.<part>_jobs` and the like; not app.jobs, the plumbing under them."""
    return module != "app.jobs" and module.startswith("app.") and module.rsplit(".", 1)[-1].endswith("jobs")


@tenant_job(DEFAULT, name="tests.record_clinic", former_paths=("tests.moved_away.record_clinic",))
def record_clinic(tenant_id: int) -> str:
    """Note which clinic the job ran in, and in which language (what `@tenant_job` entered)."""
    entry = f"{tenant_id}:{get_locale()}"
    redis_connection().rpush(CLINICS_KEY, entry)
    return entry


def _work(app, *, job_class=Job) -> None:
    with app.app_context():
        queues = [get_queue(name) for name in QUEUE_NAMES]
        BurstWorker(queues, connection=redis_connection(), job_class=job_class).work(burst=True)


def _recorded(app) -> list[str]:
    with app.app_context():
        return [entry.decode() for entry in redis_connection().lrange(CLINICS_KEY, 0, -1)]


def _app_modules():
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield path, module, ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree: ast.AST, module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from app.x import jobs`
    return found


# --- (a) by name ------------------------------------------------------------------------------------------


def test_no_module_but_the_factory_imports_a_job_module():
    importers = {
        module: sorted(name for name in _imported_modules(tree, module, path) if _is_job_module(name))
        for path, module, tree in _app_modules()
        if path != FACTORY
    }
    assert {module: names for module, names in importers.items() if names} == {}


def test_every_job_name_enqueued_or_scheduled_anywhere_is_registered(app):
    asked = []
    for path, _module, tree in _app_modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if called in ("enqueue_after_commit", "queue_per_clinic"):
                name = node.args[0] if node.args else None
                # A literal name, so that this test sees every one of them.
                assert isinstance(name, ast.Constant) and isinstance(name.value, str), f"{path}:{node.lineno}"
                asked.append(name.value)
    asked += [periodic.name for periodic in PERIODIC_JOBS]
    assert len(asked) >= 18  # 6 enqueued by services and views, 5 fanned out, 8 periodic (two names twice)
    for name in asked:
        assert registered_job(name).name == name
    # Each registered path is what RQ imports: it names the registered function itself.
    for named in registered_jobs():
        module, _, attribute = named.path.rpartition(".")
        assert getattr(__import__(module, fromlist=[attribute]), attribute) is named.function


def test_an_unknown_job_name_fails_at_enqueue_and_writes_nothing(app_context, two_tenants):
    with tenant_context(two_tenants.a.id):
        with pytest.raises(UnknownJob, match="tenants.send_invitations"):
            enqueue_after_commit("tenants.send_invitations", two_tenants.a.id, 1)
        db.session.commit()
        assert db.session.scalars(select(OutboxJob)).all() == []
    assert get_queue(DEFAULT).count == 0
    with pytest.raises(UnknownJob):
        queue_per_clinic("sla.watch_breach", [two_tenants.a.id], job_id=str, failure_ttl=60)


def test_a_service_enqueues_its_job_by_name_and_rq_runs_it_by_path(app_context, two_tenants, mailbox):
    with tenant_context(two_tenants.a.id):
        inviter = db.session.get(User, two_tenants.a.manager)
        tenant_services.invite_member("by.name@example.test", TenantRole.AGENT, inviter)
        db.session.commit()
    [job] = get_queue(DEFAULT).jobs
    assert job.func_name == registered_job("tenants.send_invitation").path == "app.tenants.jobs.send_invitation"


def test_one_name_is_one_job():
    def another(tenant_id: int) -> None:
        pass

    with pytest.raises(ValueError, match="tests.record_clinic"):
        register_job("tests.record_clinic")(another)
    assert registered_job("tests.record_clinic").function is record_clinic


def test_a_job_queued_under_a_former_path_still_runs_in_the_worker(app, two_tenants):
    with app.app_context():
        get_queue(DEFAULT).enqueue("tests.moved_away.record_clinic", two_tenants.a.id, job_id="moved")
    _work(app)  # RQ's own job class imports by path: the module is gone
    with app.app_context():
        assert Job.fetch("moved", connection=redis_connection()).get_status() == "failed"
        get_queue(DEFAULT).enqueue("tests.moved_away.record_clinic", two_tenants.b.id, job_id="moved-again")
    _work(app, job_class=RegistryJob)  # worker.py's: found in the registry under its former path
    assert _recorded(app) == [f"{two_tenants.b.id}:en"]


# --- (b) one job per clinic -----------------------------------------------------------------------------------


@pytest.fixture
def clinics_in_every_status(create_tenant):
    return {
        status: create_tenant(f"clinic-{status.value}", default_locale="de", status=status) for status in TenantStatus
    }


def test_the_fan_out_queues_one_job_per_clinic_once_and_a_worker_runs_each_in_its_clinic(app, clinics_in_every_status):
    served = (TenantStatus.ACTIVE, TenantStatus.DRAFT)
    with app.app_context():
        ids = tenant_services.clinic_ids(served)
        assert queue_per_clinic("tests.record_clinic", ids, job_id=lambda t: f"record-{t}", failure_ttl=60) == 2
        assert queue_per_clinic("tests.record_clinic", ids, job_id=lambda t: f"record-{t}", failure_ttl=60) == 0
    _work(app)
    assert sorted(_recorded(app)) == sorted(f"{clinics_in_every_status[status]}:de" for status in served)


def test_admit_holds_a_clinic_back(app, clinics_in_every_status):
    active = clinics_in_every_status[TenantStatus.ACTIVE]
    with app.app_context():
        queued = queue_per_clinic(
            "tests.record_clinic",
            tenant_services.clinic_ids(),
            job_id=lambda t: f"admitted-{t}",
            admit=lambda tenant_id, job_id: tenant_id == active and job_id == f"admitted-{active}",
            failure_ttl=60,
        )
    assert queued == 1
    _work(app)
    assert _recorded(app) == [f"{active}:de"]


# Which clinics each periodic fan-out serves (as before the helper): suspended and offboarded clinics get no
# breach watch and no outbound run, but are still billed (all but drafts) and purged (all).
FAN_OUTS = [
    (schedule_breach_watch, "sla.watch_breaches", {TenantStatus.DRAFT, TenantStatus.ACTIVE}),
    (schedule_outbound, "campaigns.run_outbound", {TenantStatus.ACTIVE}),
    (
        schedule_billing_sync,
        "billing.sync_billing",
        {TenantStatus.ACTIVE, TenantStatus.SUSPENDED, TenantStatus.OFFBOARDED},
    ),
    (schedule_retention, "compliance.run_retention", set(TenantStatus)),
    (schedule_weekly_sample, "quality.draw_weekly_sample", {TenantStatus.ACTIVE}),
    (schedule_watch, "complaints.watch", {TenantStatus.DRAFT, TenantStatus.ACTIVE}),
]


@pytest.mark.parametrize(
    ("schedule", "job_name", "statuses"), FAN_OUTS, ids=lambda value: getattr(value, "__name__", "")
)
def test_each_periodic_fan_out_queues_one_job_for_each_clinic_it_serves(
    app, clinics_in_every_status, schedule, job_name, statuses
):
    with app.app_context():
        assert schedule() == len(statuses)
        jobs = [job for name in QUEUE_NAMES for job in get_queue(name).jobs]
    assert sorted(job.args for job in jobs) == sorted((clinics_in_every_status[status],) for status in statuses)
    assert {(job.func_name, job.origin) for job in jobs} == {
        (registered_job(job_name).path, registered_job(job_name).queue)
    }


# --- (c) the periodic list --------------------------------------------------------------------------------------


def test_the_cron_registers_the_periodic_list_and_nothing_else(app, monkeypatch):
    import worker

    registered = []
    monkeypatch.setattr(CronScheduler, "start", lambda self: registered.extend(self._cron_jobs))
    worker.run_cron(app)

    expected = [(registered_job(p.name).path, registered_job(p.name).queue, p.interval, p.cron) for p in PERIODIC_JOBS]
    assert [(job.func_name, job.queue_name, job.interval, job.cron) for job in registered] == expected
    assert all(job.job_options["result_ttl"] == 0 for job in registered)
    # The schedule itself, as it was before the list: each fan-out on the queue of the jobs it queues.
    assert [(p.name, registered_job(p.name).queue, p.interval, p.cron) for p in PERIODIC_JOBS] == [
        ("sla.schedule_breach_watch", "default", 60, None),
        ("routing.schedule_rules", "default", 5, None),
        ("outbox.relay_outbox", "default", 60, None),
        ("campaigns.schedule_outbound", "outbound", 60, None),
        ("feedback.schedule_contact_surveys", "outbound", 60, None),
        ("sla.schedule_statement_close", "default", 3600, None),
        ("billing.schedule_billing_sync", "billing", 3600, None),
        ("reports.schedule_report_emails", "reports", 3600, None),
        ("compliance.schedule_retention", "default", None, "30 2 * * *"),
        ("hotline.expire_agent_states", "default", 5, None),
        ("quality.schedule_weekly_sample", "default", None, "0 4 * * 1"),
        ("waitlist.schedule_waves", "default", 60, None),
        ("complaints.schedule_watch", "default", 3600, None),
    ]
