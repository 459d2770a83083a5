"""Run the Procfile's processes under supervisord, restarting any that dies (what `make run` uses).

    python tools/supervise.py [-f Procfile]   # write the config and run supervisord in the foreground
    python tools/supervise.py events          # the event listener supervisord starts (not by hand)

The Procfile stays the one list of processes (docker-compose and the tests start the same commands);
this writes `$EXCHANGE_VAR_DIR/supervisor/supervisord.conf` from it and hands over to supervisord
(`exec`), so that:
- a process that dies (a crash, `kill -9`, an OOM kill) is started again at once, and one that keeps
  dying within `startsecs` is retried with supervisord's linear back-off (1 s, 2 s, 3 s, ...);
- every exit and start is logged by supervisord on the terminal beside the processes' own output;
- `supervisorctl -c var/supervisor/supervisord.conf status` shows each process, and the web process
  reports them in `/readyz` and `/metrics` (apps.core.supervision), with the restart counts the
  event listener below keeps in Redis;
- Ctrl-C (or SIGTERM) stops every process, each with SIGTERM and `stopwaitsecs` to finish, then exits.

Only the standard library is used here, but for `events`, which needs redis-py.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("EXCHANGE_VAR_DIR", ROOT / "var"))
# Redis hashes the event listener keeps (read by apps.core.supervision; cleared when supervisord starts).
RESTARTS_KEY = "exchange:supervisor:restarts"
LAST_EXIT_KEY = "exchange:supervisor:last_exit"
# A process that stays up this long counts as started; one that exits sooner is retried with back-off.
START_SECONDS = 3
# Enough retries that a dependency down for a long while (PostgreSQL restarting) does not make
# supervisord give up; the back-off grows by a second per attempt, so 1,000 retries span about five
# days before a process that never stays up 3 s is left FATAL (`supervisorctl start` brings it back).
START_RETRIES = 1000
# Celery's warm shutdown finishes running tasks; uvicorn drains its connections within its own
# --timeout-graceful-shutdown. After this supervisord sends SIGKILL to the whole process group.
STOP_WAIT_SECONDS = 30


def parse_procfile(path: Path) -> dict[str, str]:
    processes: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        name, command = name.strip(), command.strip()
        if not sep or not name or not command or not name.replace("_", "").replace("-", "").isalnum():
            raise SystemExit(f"{path}:{number}: expected 'name: command', got {raw!r}")
        if name in processes:
            raise SystemExit(f"{path}:{number}: process {name!r} defined twice")
        processes[name] = command
    if not processes:
        raise SystemExit(f"{path}: no processes")
    return processes


def _ini(value: str) -> str:
    # supervisord expands %(name)s in every value: a literal % (celery's worker@%h) is written %%.
    return value.replace("%", "%%")


def _socket_path(state_dir: Path) -> Path:
    """The control socket: in the state directory unless its path passes the 107 bytes a Unix socket
    may have (a deep checkout or EXCHANGE_VAR_DIR), then in a short private directory of its own."""
    socket = state_dir / "supervisor.sock"
    if len(os.fsencode(socket)) <= 100:
        return socket
    import hashlib
    import tempfile

    short = Path(tempfile.gettempdir()) / f"exchange-sv-{hashlib.sha256(os.fsencode(state_dir)).hexdigest()[:12]}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "supervisor.sock"


def render_config(processes: dict[str, str], *, directory: Path, state_dir: Path, password: str) -> str:
    """supervisord's configuration. Its control socket is the user's alone (mode 0700) and asks for a
    password made for this run anyway; the processes get it in their environment (SUPERVISOR_USERNAME
    and SUPERVISOR_PASSWORD, beside the SUPERVISOR_SERVER_URL supervisord sets) to report their peers."""
    socket = _socket_path(state_dir)
    credentials = f"SUPERVISOR_USERNAME=exchange,SUPERVISOR_PASSWORD={password}"
    lines = [
        "; Written by tools/supervise.py from the Procfile at every start: edit the Procfile instead.",
        "[supervisord]",
        "nodaemon=true",
        # Running as root (a container, a CI machine) is deliberate here: say so, so it is not logged as critical.
        *(["user=" + pwd.getpwuid(os.geteuid()).pw_name] if os.geteuid() == 0 else []),
        f"logfile={_ini(str(state_dir / 'supervisord.log'))}",
        "logfile_maxbytes=5MB",
        "logfile_backups=1",
        f"pidfile={_ini(str(state_dir / 'supervisord.pid'))}",
        f"directory={_ini(str(directory))}",
        # supervisord's own events (spawned, exited, gave up) on the terminal with the processes' output.
        "loglevel=info",
        "",
        "[unix_http_server]",
        f"file={_ini(str(socket))}",
        "chmod=0700",
        "username=exchange",
        f"password={password}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_ini(str(socket))}",
        "username=exchange",
        f"password={password}",
        "",
    ]
    for name, command in processes.items():
        lines += [
            f"[program:{name}]",
            # exec: the shell expands $WEB_PORT and the like, then becomes the process, so signals
            # and the pid supervisord reports are the process's own.
            f"command=/bin/sh -c {_ini(shlex.quote('exec ' + command))}",
            f"directory={_ini(str(directory))}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECONDS}",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOP_WAIT_SECONDS}",
            # The whole group: Celery's pool children and uvicorn's workers go with their parent.
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
            f"environment={credentials}",
            "",
        ]
    lines += [
        "[eventlistener:process_events]",
        f"command={_ini(shlex.quote(sys.executable))} {_ini(shlex.quote(str(Path(__file__).resolve())))} events",
        f"directory={_ini(str(directory))}",
        "events=PROCESS_STATE",
        "autorestart=true",
        "stderr_logfile=/dev/stderr",
        "stderr_logfile_maxbytes=0",
        "",
    ]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    processes = parse_procfile(Path(args.procfile))
    state_dir = VAR / "supervisor"
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "supervisord.conf"
    # Written before the password goes in: readable by this user only (supervisorctl reads it there).
    config.touch(mode=0o600)
    config.chmod(0o600)
    password = secrets.token_hex(16)  # hex: nothing supervisord's ini parser would expand
    config.write_text(render_config(processes, directory=ROOT, state_dir=state_dir, password=password))
    _clear_counts()
    supervisord = Path(sys.executable).with_name("supervisord")
    # exec: supervisord takes this process's place, so Ctrl-C and SIGTERM reach it directly.
    os.execv(str(supervisord), [str(supervisord), "--nodaemon", "--configuration", str(config)])  # noqa: S606
    return 1  # not reached


def _redis():
    import redis  # only the listener needs it; it runs in the project's virtualenv

    return redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)


def _clear_counts() -> None:
    """Restart counts are per `make run`: cleared when supervisord starts (not when the listener
    itself is restarted, which would lose them)."""
    try:
        _redis().delete(RESTARTS_KEY, LAST_EXIT_KEY)
    except Exception as exc:  # noqa: BLE001 - counts are reporting only; the stack starts anyway
        print(f"supervise: restart counts not cleared ({exc})", file=sys.stderr, flush=True)


def cmd_events(args: argparse.Namespace) -> int:
    """supervisord's event-listener protocol: READY, read a header line and its payload, answer
    RESULT. Counts restarts (a process starting again after it exited or failed to start) and the
    last exit of each process in Redis, for /readyz and /metrics. Any Redis error is logged and the
    event acknowledged: bookkeeping never blocks supervisord."""
    stdin, stdout = sys.stdin, sys.stdout
    client = None
    while True:
        stdout.write("READY\n")
        stdout.flush()
        header_line = stdin.readline()
        if not header_line:
            return 0
        header = dict(token.split(":", 1) for token in header_line.split())
        payload_line = stdin.read(int(header["len"]))
        payload = dict(token.split(":", 1) for token in payload_line.split() if ":" in token)
        event, name = header.get("eventname", ""), payload.get("processname", "")
        try:
            if client is None:
                client = _redis()
            if event == "PROCESS_STATE_STARTING" and payload.get("from_state") in ("EXITED", "BACKOFF"):
                client.hincrby(RESTARTS_KEY, name, 1)
            elif event in ("PROCESS_STATE_EXITED", "PROCESS_STATE_FATAL"):
                detail = f"{event.removeprefix('PROCESS_STATE_').lower()} pid {payload.get('pid', '?')}"
                client.hset(LAST_EXIT_KEY, name, f"{int(time.time())} {detail}")
        except Exception as exc:  # noqa: BLE001 - see the docstring
            client = None
            print(f"supervise events: {event} {name} not recorded ({exc})", file=sys.stderr, flush=True)
        stdout.write("RESULT 2\nOK")
        stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--procfile", default=str(ROOT / "Procfile"))
    parser.add_argument("action", nargs="?", choices=["run", "events"], default="run")
    args = parser.parse_args(argv)
    return cmd_events(args) if args.action == "events" else cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
