"""Session-wide real infrastructure, per-test clean state, and factories.

The schema is built by running the Alembic migrations as the owner; the app then
connects as an ordinary role that row-level security applies to. Tests commit for
real (jobs run through a real RQ worker on separate connections), so each test
ends by truncating every table and flushing its Redis database.
"""

import re
import uuid
from datetime import date, time

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import create_app
from app.auth.models import Membership, PlatformRole, TenantRole, User
from app.auth.passwords import hash_password
from app.extensions import db, limiter, redis_connection
from app.tenancy import tenant_context
from app.tenants.models import BusinessHours, Closure, Invitation, Tenant, TenantStatus
from tests.infra import clock, summary
from tests.infra.postgres import database_walls, postgres_server, test_database, used_tables_and_sequences
from tests.infra.redis_server import redis_server
from tests.infra.sms_sink import sms_sink
from tests.infra.smtp import smtp_server

PASSWORD = "correct-horse-battery"

_CLOCK = pytest.StashKey()

# Factories of the domain packages, available to every test.
pytest_plugins = [
    "tests.factories.hotline",
    "tests.factories.campaigns",
    "tests.factories.conversations",
    "tests.factories.chat",
    "tests.factories.onboarding",
    # Real gunicorn servers for tests that stream (tests/infra/live_server.py).
    "tests.infra.live_server",
]


def pytest_configure(config):
    """The whole run happens on one date (tests/infra/clock.py), whatever today is: from before collection,
    so that a module's `NOW = datetime.now(UTC)` is on the pinned clock too (each xdist worker pins its own)."""
    config.stash[_CLOCK] = clock.start(clock.pinned_at())


def pytest_unconfigure(config):
    traveller = config.stash.get(_CLOCK, None)
    if traveller is not None:
        traveller.stop()


def pytest_collection_modifyitems(config, items):
    """Behind the application's wall alone (TEST_DATABASE_WALLS=orm), run only what proves isolation.

    Tests marked `database_wall` prove row-level security itself (raw SQL the application cannot scope), so
    they are left out of that run; everything else there runs with the database wall switched off.
    """
    # The long tests first (a stable sort keeps the rest in order): the run should not end with one worker busy
    # for minutes on a sweep while the other has nothing left.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if database_walls() != "orm":
        return
    kept, dropped = [], []
    for item in items:
        wanted = item.get_closest_marker("tenant_isolation") and not item.get_closest_marker("database_wall")
        (kept if wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def database_urls():
    with postgres_server() as admin_url, test_database(admin_url) as urls:
        yield urls


@pytest.fixture(scope="session")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def smtp():
    with smtp_server() as (handler, port):
        yield handler, port


@pytest.fixture(scope="session")
def app(database_urls, redis_url, smtp, tmp_path_factory):
    owner_url, app_url, console_url = database_urls
    _handler, smtp_port = smtp
    application = create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
            "SQLALCHEMY_DATABASE_URI": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "CONSOLE_DATABASE_URL": console_url,
            "REDIS_URL": redis_url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_port,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
            "SESSION_COOKIE_SECURE": False,
            "PUBLIC_BASE_URL": "http://switchboard.test",
            # The mail webhook set up, so sweeps over every route reach its checks (tests/mailroom sets its own).
            "MAILGUN_WEBHOOK_SIGNING_KEY": "test-mailgun-signing-key",
        }
    )
    with application.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def owner_engine(database_urls):
    engine = create_engine(database_urls[0])
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request, app, owner_engine, smtp):
    """Every test starts from empty tables, an empty Redis database and an empty mailbox."""
    smtp[0].messages.clear()
    smtp[0].peers.clear()
    yield
    with app.app_context():
        db.session.remove()
        redis_connection().flushdb()
    _forget_rate_limits_counted_in_memory()
    leaked = _truncate_all(owner_engine)
    assert leaked == 0, f"{leaked} connection(s) were left idle in a transaction by this test"


def _forget_rate_limits_counted_in_memory() -> None:
    """A test that takes Redis away leaves flask-limiter counting in this process's memory (its fallback,
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED) until it next finds Redis, seconds later: counts no flushdb clears, so
    the next tests' logins from 127.0.0.1 would meet "10 per minute" that they never made."""
    fallback = getattr(limiter, "_fallback_storage", None)  # flask-limiter keeps no public handle on it
    if fallback is not None:
        fallback.reset()


def _truncate_all(owner_engine) -> int:
    """Empty every table and restart every sequence; returns how many connections left idle in a transaction had
    to be ended first.

    Only the tables holding rows are emptied, with DELETE and the foreign keys' and append-only triggers off
    (`session_replication_role`, a superuser's setting: the test servers' admin is one), and only the sequences
    drawn from are restarted. The end is the same as `TRUNCATE <every table> RESTART IDENTITY`, at a fraction of
    its cost: TRUNCATE makes new files for each table and index, about 360 ms for the 51 tables, and its CASCADE
    takes in every table that points at `tenants` or `users`, which nearly every test writes.
    A connection a failed test leaves in a transaction would hold its locks and make TRUNCATE wait
    forever (teardown is not covered by pytest-timeout): wait a while, then end such connections.
    """
    with owner_engine.begin() as conn:
        tables, sequences = used_tables_and_sequences(conn)
    if not tables and not sequences:
        return 0
    statements = [text("SET LOCAL session_replication_role = replica")]
    statements += [text(f"DELETE FROM {table}") for table in tables]  # noqa: S608 - names from the catalog
    statements += [text(f"ALTER SEQUENCE {name} RESTART") for name in sequences]
    try:
        with owner_engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            for statement in statements:
                conn.execute(statement)
        return 0
    except OperationalError:
        with owner_engine.begin() as conn:
            leaked = len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                    )
                ).all()
            )
            for statement in statements:
                conn.execute(statement)
        return leaked


@pytest.fixture
def scratch_database(database_urls, redis_url, tmp_path):
    """A database of its own for a migration test, dropped afterwards: (its URL, an app on it) for the test to
    migrate up and down as the owner (the test server's admin)."""
    owner_url = make_url(database_urls[0])
    name = f"switchboard_scratch_{uuid.uuid4().hex[:10]}"
    admin = owner_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = owner_url.set(database=name).render_as_string(hide_password=False)
    try:
        yield (
            url,
            create_app(
                {
                    "SWITCHBOARD_ENV": "testing",
                    "TESTING": True,
                    "SECRET_KEY": "x",
                    "INSTANCE_PATH": str(tmp_path),
                    "SQLALCHEMY_DATABASE_URI": url,
                    "MIGRATION_DATABASE_URL": url,
                    "CONSOLE_DATABASE_URL": url,
                    "REDIS_URL": redis_url,
                }
            ),
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def mailbox(smtp):
    return smtp[0].messages


@pytest.fixture(scope="session")
def sms_provider():
    with sms_sink() as sink:
        yield sink


@pytest.fixture
def sms(app, sms_provider):
    """Point the app at the local SMS provider for one test."""
    saved = {key: app.config[key] for key in ("SMS_API_URL", "SMS_ACCOUNT_SID", "SMS_AUTH_TOKEN")}
    app.config.update(
        SMS_API_URL=sms_provider.url, SMS_ACCOUNT_SID=sms_provider.account_sid, SMS_AUTH_TOKEN=sms_provider.auth_token
    )
    sms_provider.reset()
    yield sms_provider
    app.config.update(saved)
    sms_provider.reset()


# --- factories -----------------------------------------------------------------------------------


@pytest.fixture
def create_tenant(app):
    def _create(
        slug: str,
        *,
        name: str | None = None,
        time_zone: str = "Europe/Berlin",
        country_code: str = "DE",
        default_locale: str = "en",
        supported_locales: tuple[str, ...] = ("en", "de"),
        status=TenantStatus.ACTIVE,
    ) -> int:
        with app.app_context():
            tenant = Tenant(
                slug=slug,
                name=name or slug.replace("-", " ").title(),
                time_zone=time_zone,
                country_code=country_code,
                default_locale=default_locale,
                supported_locales=list(supported_locales),
                status=status,
            )
            db.session.add(tenant)
            db.session.flush()
            with tenant_context(tenant.id):
                for weekday in range(5):
                    db.session.add(BusinessHours(weekday=weekday, opens_at=time(8), closes_at=time(17)))
                db.session.commit()
            return tenant.id

    return _create


@pytest.fixture
def create_user(app):
    def _create(
        email: str,
        *,
        name: str | None = None,
        platform_role: PlatformRole | None = None,
        memberships: tuple[tuple[int, TenantRole], ...] = (),
        locale: str | None = None,
    ) -> int:
        with app.app_context():
            user = User(
                email=email,
                name=name or email.split("@")[0],
                password_hash=hash_password(PASSWORD),
                platform_role=platform_role,
                locale=locale,
            )
            user.memberships = [Membership(tenant_id=t, role=r) for t, r in memberships]
            db.session.add(user)
            db.session.commit()
            return user.id

    return _create


@pytest.fixture
def create_closure(app):
    def _create(tenant_id: int, day: date, reason: str) -> int:
        with app.app_context(), tenant_context(tenant_id):
            closure = Closure(day=day, reason=reason)
            db.session.add(closure)
            db.session.commit()
            return closure.id

    return _create


@pytest.fixture
def create_invitation(app):
    def _create(tenant_id: int, email: str, role: str = "clinic_admin") -> int:
        from datetime import UTC, datetime, timedelta

        with app.app_context(), tenant_context(tenant_id):
            invitation = Invitation(
                email=email, role=role, nonce="n" * 32, expires_at=datetime.now(UTC) + timedelta(days=14)
            )
            db.session.add(invitation)
            db.session.commit()
            return invitation.id

    return _create


class World(dict):
    """The default world of isolation tests: two clinics, each with its people and data."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None  # what copy and pickle expect of a missing attribute


@pytest.fixture
def two_tenants(create_tenant, create_user, create_closure, create_invitation) -> World:
    world = World()
    for key, slug in (("a", "clinic-a"), ("b", "clinic-b")):
        tenant_id = create_tenant(slug, name=f"Clinic {key.upper()}")
        world[key] = World(
            id=tenant_id,
            slug=slug,
            manager=create_user(
                f"manager-{key}@example.test",
                platform_role=PlatformRole.MANAGER,
                memberships=((tenant_id, TenantRole.MANAGER),),
            ),
            clinic_admin=create_user(
                f"admin-{key}@example.test",
                name=f"Admin Of {key.upper()}",
                memberships=((tenant_id, TenantRole.CLINIC_ADMIN),),
            ),
            agent=create_user(f"agent-{key}@example.test", memberships=((tenant_id, TenantRole.AGENT),)),
            supervisor=create_user(f"supervisor-{key}@example.test", memberships=((tenant_id, TenantRole.SUPERVISOR),)),
            closure=create_closure(tenant_id, date(2030, 5, 2), f"Secret closure of clinic {key.upper()}"),
            invitation=create_invitation(tenant_id, f"invitee-{key}@example.test"),
        )
    world["provider_admin"] = create_user("root@provider.test", platform_role=PlatformRole.PROVIDER_ADMIN)
    return world


# --- an HTTP client that behaves like a browser with CSRF tokens ----------------------------------

_CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    def __init__(self, client):
        self.client = client
        self._csrf = None

    def csrf_token(self) -> str:
        if self._csrf is None:
            page = self.client.get("/login").get_data(as_text=True)
            self._csrf = _CSRF_PATTERN.search(page).group(1)
        return self._csrf

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url, data=None, *, csrf: bool = True, **kwargs):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf_token())
        return self.client.post(url, data=data, **kwargs)

    def login(self, email: str, password: str = PASSWORD):
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def login_as(app, two_tenants):
    """A logged-in browser for a user id (looked up by id, so factories stay the source of truth)."""

    def _login(user_id: int) -> Browser:
        with app.app_context():
            email = db.session.get(User, user_id).email
        browser = Browser(app.test_client())
        browser.login(email)
        return browser

    return _login


# --- the run's closing summary, also from pytest-xdist workers (tests/infra/summary.py) -----------


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # on an xdist worker: hand the lines to the controller
        workeroutput["switchboard_summary"] = summary.export()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    summary.merge(getattr(node, "workeroutput", {}).get("switchboard_summary", {}))


def pytest_terminal_summary(terminalreporter):
    for closing_line in summary.closing_lines():
        terminalreporter.write_line(closing_line)
