"""The embedded PostgreSQL 15 cluster used by ``tessera-db dev`` and by the test suite.

``initdb`` and ``postgres`` refuse to run as root. When this code runs as root it runs
every server binary as an unprivileged OS user instead (``postgres`` if the Debian
package created it, else a system user ``tessera-pg`` made here), the same idea as
Debian's ``pg_virtualenv``. As an ordinary user the server simply runs as that user.

State lives in one folder (the dev cluster: ``.tessera/`` in the checkout)::

    cluster.json   port, superuser, login-role passwords (mode 0600)
    pgpass         libpq password file, so printed DSNs carry no password
    server -> ...  data directory and server log, owned by the server user

The server listens on 127.0.0.1 only, on a port picked free at init, with
scram-sha-256 authentication and no Unix socket (socket paths under a deep checkout
would exceed the 107-byte limit).

The dev cluster (``Cluster(..., cron=True)``) also preloads pg_cron when the
``postgresql-15-cron`` package is installed: ``cron.database_name`` is its database and
jobs run in background workers (``cron.use_background_workers``), so a job needs no
password and no socket. The extension itself is created by ``tessera-db dev up``, never
by a migration: the schema does not depend on it (docs/jobs.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tessera_db.errors import ClusterError

PG_MAJOR = 15
SUPERUSER = "postgres"
DEFAULT_DBNAME = "tessera"
#: LOGIN roles of the application that the dev cluster gives throwaway passwords.
LOGIN_ROLES = ("authenticator", "tessera_proxy", "tessera_settlement", "tessera_sealer")
FALLBACK_SERVER_USER = "tessera-pg"
HOST = "127.0.0.1"


def pg_bindir() -> Path:
    """PostgreSQL 15's server binaries (``TESSERA_PG_BINDIR`` overrides)."""
    candidates = [os.environ.get("TESSERA_PG_BINDIR"), f"/usr/lib/postgresql/{PG_MAJOR}/bin"]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            version = subprocess.run(
                [str(Path(candidate) / "postgres"), "--version"],
                capture_output=True, text=True, check=False,
            ).stdout
            if f" {PG_MAJOR}." in version:
                return Path(candidate)
    raise ClusterError(
        f"PostgreSQL {PG_MAJOR} server binaries not found; run ./dev-up (it installs "
        f"postgresql-{PG_MAJOR}) or set TESSERA_PG_BINDIR"
    )


def pg_cron_available() -> bool:
    """Whether the pg_cron server library (postgresql-15-cron) is installed."""
    try:
        libdir = pg_bindir().parent / "lib"
    except ClusterError:
        return False
    return (libdir / "pg_cron.so").is_file()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


@dataclass
class ClusterState:
    port: int
    server_dir: str
    superuser_password: str
    server_user: str | None
    passwords: dict[str, str] = field(default_factory=dict)
    #: The bootstrap superuser's name (``initdb -U``); older state files lack it.
    superuser: str = SUPERUSER


class Cluster:
    """One PostgreSQL cluster kept in ``base``."""

    def __init__(self, base: Path, *, dbname: str = DEFAULT_DBNAME, fast: bool = False,
                 superuser: str = SUPERUSER, cron: bool = False) -> None:
        self.base = Path(base).resolve()
        self.dbname = dbname
        # Only read by init(); afterwards the state file says who the superuser is (a
        # platform-style test cluster names it like Supabase's, supabase_admin).
        self._initdb_superuser = superuser
        # fast: fsync off etc. -- only for throwaway test clusters.
        self.fast = fast
        # cron: preload pg_cron for this cluster's database (the dev cluster), when installed.
        self.cron = cron
        self.state_file = self.base / "cluster.json"
        self.pgpass_file = self.base / "pgpass"
        self._state: ClusterState | None = None

    # -- state ---------------------------------------------------------------

    @property
    def state(self) -> ClusterState:
        if self._state is None:
            if not self.state_file.is_file():
                raise ClusterError(f"no cluster at {self.base}; run `tessera-db dev up` first")
            self._state = ClusterState(**json.loads(self.state_file.read_text()))
        return self._state

    def _save_state(self) -> None:
        assert self._state is not None
        self.base.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self._state), f, indent=2)
        tmp.replace(self.state_file)
        self._write_pgpass()

    def _write_pgpass(self) -> None:
        st = self.state
        lines = [f"{HOST}:{st.port}:*:{st.superuser}:{st.superuser_password}"]
        lines += [f"{HOST}:{st.port}:*:{role}:{pw}" for role, pw in sorted(st.passwords.items())]
        fd = os.open(self.pgpass_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")

    @property
    def data_dir(self) -> Path:
        return Path(self.state.server_dir) / "data"

    @property
    def log_file(self) -> Path:
        return Path(self.state.server_dir) / "postgres.log"

    @property
    def port(self) -> int:
        return self.state.port

    @property
    def superuser(self) -> str:
        return self.state.superuser

    @property
    def superuser_password(self) -> str:
        return self.state.superuser_password

    # -- running binaries as the server user ----------------------------------

    def _server_cmd(self, args: list[str]) -> list[str]:
        user = self.state.server_user if self._state or self.state_file.exists() else None
        if os.geteuid() == 0:
            assert user, "running as root needs a server user"
            return ["runuser", "-u", user, "--", *args]
        return args

    def _run(self, args: list[str], what: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self._server_cmd(args), capture_output=True, text=True, check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
            cwd="/",
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            tail = detail[-1] if detail else f"exit code {proc.returncode}"
            raise ClusterError(f"{what} failed: {tail} (log: {self.log_file})")
        return proc

    @staticmethod
    def _server_user() -> str | None:
        """The unprivileged OS user to run the server as (None when not root)."""
        if os.geteuid() != 0:
            return None
        for name in (SUPERUSER, FALLBACK_SERVER_USER):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             FALLBACK_SERVER_USER],
            check=True, capture_output=True,
        )
        return FALLBACK_SERVER_USER

    def _choose_server_dir(self, user: str | None) -> Path:
        """``base/server`` unless the server user cannot reach it (e.g. a checkout
        under root's 0700 home), in which case a folder under /var/tmp named after the
        checkout's path is used and recorded in the state file."""
        preferred = self.base / "server"
        if user is None:
            return preferred
        reachable = subprocess.run(
            ["runuser", "-u", user, "--", "test", "-x", str(self.base)],
            capture_output=True, check=False,
        ).returncode == 0
        if reachable:
            return preferred
        digest = hashlib.sha256(str(self.base).encode()).hexdigest()[:16]
        return Path("/var/tmp/tessera-db") / digest

    # -- lifecycle ---------------------------------------------------------------

    def exists(self) -> bool:
        return self.state_file.is_file() and (self.data_dir / "PG_VERSION").is_file()

    def init(self) -> None:
        """Create the cluster if it does not exist yet (idempotent)."""
        if self.exists():
            return
        bindir = pg_bindir()
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        user = self._server_user()
        server_dir = self._choose_server_dir(user)
        if server_dir.exists():
            shutil.rmtree(server_dir)
        server_dir.mkdir(parents=True, mode=0o700)
        if user is not None:
            shutil.chown(server_dir, user, user)
        self._state = ClusterState(
            port=_free_port(),
            server_dir=str(server_dir),
            superuser_password=secrets.token_urlsafe(24),
            server_user=user,
            passwords={role: secrets.token_urlsafe(24) for role in LOGIN_ROLES},
            superuser=self._initdb_superuser,
        )
        pwfile = server_dir / "initdb.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._state.superuser_password + "\n")
        if user is not None:
            shutil.chown(pwfile, user, user)
        try:
            self._run(
                [str(bindir / "initdb"), "-D", str(self.data_dir), "-U", self._state.superuser,
                 "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8",
                 "--locale=C", "--no-instructions"],
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._save_state()

    def is_running(self) -> bool:
        if not self.exists():
            return False
        proc = subprocess.run(
            self._server_cmd([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "status"]),
            capture_output=True, text=True, check=False, cwd="/",
        )
        return proc.returncode == 0

    def start(self) -> None:
        """Start the server unless it is running already (idempotent)."""
        self.init()
        if self.is_running():
            return
        if _port_in_use(self.state.port):
            self.state.port = _free_port()
            self._save_state()
        options = [
            f"-p {self.state.port}",
            f"-c listen_addresses={HOST}",
            "-c unix_socket_directories=''",
            # The proxy's NOTIFY-driven config refresh and the sealer want a few slots.
            "-c max_connections=100",
        ]
        if self.fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        if self.cron and pg_cron_available():
            options += [
                "-c shared_preload_libraries=pg_cron",
                f"-c cron.database_name={self.dbname}",
                # Jobs run in background workers: no password, no socket, no pg_hba entry.
                "-c cron.use_background_workers=on",
                "-c max_worker_processes=16",
            ]
        self._run(
            [str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
             "-w", "-t", "60", "-o", " ".join(options), "start"],
            "starting PostgreSQL",
        )
        self.ensure_database()

    def cron_loaded(self) -> bool:
        """Whether the running server preloads pg_cron."""
        import psycopg

        with psycopg.connect(**self.conninfo(dbname="postgres"), autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
        return row is not None and "pg_cron" in [lib.strip() for lib in str(row[0]).split(",")]

    def ensure_cron(self) -> bool:
        """Preload pg_cron (restarting a server started without it) and create the
        extension in the cluster's database; False when pg_cron is not installed."""
        import psycopg

        if not (self.cron and pg_cron_available()):
            return False
        if not self.cron_loaded():
            self.stop()
            self.start()
        with psycopg.connect(**self.conninfo(), autocommit=True) as conn:
            # In pg_catalog, as Supabase installs it: pg_cron keeps its tables in its own
            # schema "cron", and an extension in public is a Security Advisor warning
            # (splinter extension_in_public).
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron SCHEMA pg_catalog")
        return True

    def stop(self) -> None:
        if self.is_running():
            self._run(
                [str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                "stopping PostgreSQL",
            )

    def destroy(self) -> None:
        """Stop and delete everything (test clusters)."""
        if self.state_file.exists():
            self.stop()
            shutil.rmtree(self.state.server_dir, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)

    # -- connecting -----------------------------------------------------------------

    def conninfo(self, user: str | None = None, dbname: str | None = None) -> dict[str, Any]:
        """Keyword arguments for psycopg.connect (password included, never printed);
        ``user`` defaults to the cluster superuser."""
        user = user or self.superuser
        password = self.superuser_password if user == self.superuser else self.state.passwords[user]
        return {
            "host": HOST,
            "port": self.port,
            "user": user,
            "password": password,
            "dbname": dbname or self.dbname,
        }

    def dsn(self, user: str | None = None, dbname: str | None = None) -> str:
        """A libpq URI whose password comes from the cluster's pgpass file, so the DSN
        itself can be printed and pasted safely; ``user`` defaults to the superuser."""
        return (
            f"postgresql://{quote(user or self.superuser)}@{HOST}:{self.port}/{quote(dbname or self.dbname)}"
            f"?passfile={quote(str(self.pgpass_file))}"
        )

    def ensure_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(**self.conninfo(dbname="postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))

    def set_login_passwords(self) -> None:
        """Give the application's LOGIN roles this cluster's throwaway passwords (after
        the roles exist)."""
        self.set_passwords(LOGIN_ROLES)

    def set_passwords(self, roles: Iterable[str], *, as_user: str | None = None) -> None:
        """Give ``roles`` their throwaway passwords (made and recorded on first use),
        connected as ``as_user`` (default: the superuser; a login with CREATEROLE may
        set a non-superuser role's password too). ALTER ROLE ... PASSWORD is sent
        pre-hashed by the client so the plaintext never reaches the server log."""
        import psycopg
        from psycopg import sql

        roles = list(roles)
        missing = [role for role in roles if role not in self.state.passwords]
        if missing:  # a cluster made before a login role was added (e.g. tessera_sealer)
            self.state.passwords.update({role: secrets.token_urlsafe(24) for role in missing})
            self._save_state()
        with psycopg.connect(**self.conninfo(as_user), autocommit=True) as conn:
            for role in roles:
                password = self.state.passwords[role]
                hashed = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(hashed.decode())
                    )
                )


def temporary_cluster(prefix: str = "tessera-test-", *, fast: bool = True,
                      superuser: str = SUPERUSER) -> Cluster:
    """A throwaway cluster in a fresh temporary folder (the caller destroys it); fast
    (fsync off etc.) unless a benchmark asks for a deployment's durability."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    return Cluster(base, dbname="postgres", fast=fast, superuser=superuser)
