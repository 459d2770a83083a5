"""The processes of `make run` over real sockets: uvicorn (HTTP + WebSocket), Celery worker, Flower."""

import asyncio
import json
import uuid

import httpx
import pytest
import websockets

from apps.core.redis import get_redis
from apps.core.services import HEARTBEAT_KEY
from exchange.celery import app as celery_app
from tests.support import CeleryWorker, Process, free_port, procfile_command

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/", 200, "text/html"),
        ("/admin/", 302, None),
        ("/admin/login/", 200, "text/html"),
        ("/api/docs/", 200, "text/html"),
        ("/api/schema/", 200, "application/vnd.oai.openapi"),
        ("/healthz", 200, "application/json"),
        ("/readyz", 200, "application/json"),
        ("/metrics", 200, "text/plain"),
        ("/api/v1/time", 200, "application/json"),
        ("/api/v1/nope", 404, "application/json"),
    ],
)
def test_every_printed_url_answers(web_server, path, status, content_type):
    response = httpx.get(web_server.base_url + path, timeout=10)
    assert response.status_code == status, response.text[:500]
    if content_type:
        assert response.headers["content-type"].startswith(content_type)
    assert len(response.headers["x-request-id"]) == 32


def test_logs_are_json_lines_carrying_the_request_id(web_server):
    request_id = uuid.uuid4().hex
    response = httpx.get(web_server.base_url + "/api/v1/time", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id

    def access_line():
        for line in web_server.log_path.read_text().splitlines():
            if request_id in line:
                return json.loads(line)
        return None

    web_server.wait_until(lambda: access_line() is not None, 10, "the access log line")
    entry = access_line()
    assert entry["request_id"] == request_id
    assert entry["logger"] == "exchange.access"
    assert entry["status"] == 200 and entry["path"] == "/api/v1/time" and entry["method"] == "GET"
    assert entry["time"].startswith("20") and entry["level"] == "INFO"


def test_static_assets_are_served(web_server):
    response = httpx.get(web_server.base_url + "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
    assert response.status_code == 200


def test_websocket_ping_pong_over_a_real_socket(web_server):
    async def talk():
        url = f"ws://127.0.0.1:{web_server.port}/ws/v1/"
        async with websockets.connect(url, origin=f"http://127.0.0.1:{web_server.port}") as ws:
            await ws.send(json.dumps({"op": "ping"}))
            pong = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send("{broken")
            error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return pong, error

    pong, error = asyncio.run(talk())
    assert pong == {"type": "pong"}
    assert error["type"] == "error" and error["code"] == "invalid_message"


def test_celery_task_runs_on_a_real_worker_and_readyz_reports_it(live_env, process_log_dir, web_server):
    get_redis().delete(HEARTBEAT_KEY)
    with CeleryWorker(live_env, process_log_dir, celery_app) as worker:
        result = celery_app.send_task("apps.core.tasks.record_heartbeat")
        assert result.get(timeout=60)
        assert get_redis().hget(HEARTBEAT_KEY, "worker") == worker.hostname
    celery = httpx.get(web_server.base_url + "/readyz", timeout=10).json()["celery"]
    assert celery["worker"] == worker.hostname and celery["healthy"] is True


def test_beat_schedules_the_heartbeat(live_env, process_log_dir, tmp_path):
    """celery beat, started as the Procfile starts it, sends the heartbeat task to the broker."""
    env = {**live_env, "HEARTBEAT_INTERVAL_SECONDS": "1", "EXCHANGE_VAR_DIR": str(tmp_path)}
    get_redis().delete("celery")

    def tasks() -> list[str]:
        return [json.loads(m)["headers"]["task"] for m in get_redis().lrange("celery", 0, -1)]

    with Process("celery-beat", procfile_command("beat"), env, process_log_dir) as beat:
        beat.wait_until(lambda: "apps.core.tasks.record_heartbeat" in tasks(), 30, "a heartbeat task on the queue")


def test_beat_sends_one_reconciliation_as_it_starts(live_env, process_log_dir, tmp_path):
    """The stack reconciles once at start (trigger "startup"), before the first scheduled run."""
    env = {**live_env, "HEARTBEAT_INTERVAL_SECONDS": "3600", "EXCHANGE_VAR_DIR": str(tmp_path)}
    get_redis().delete("celery")

    def queued() -> list[dict]:
        return [json.loads(m)["headers"] for m in get_redis().lrange("celery", 0, -1)]

    with Process("celery-beat", procfile_command("beat"), env, process_log_dir) as beat:
        beat.wait_until(lambda: any(h["task"] == "apps.wallets.tasks.reconcile" for h in queued()), 30,
                        "a reconciliation on the queue")  # fmt: skip
    (startup,) = [h for h in queued() if h["task"] == "apps.wallets.tasks.reconcile"]
    assert "startup" in startup["kwargsrepr"]


def test_flower_is_reachable(live_env, process_log_dir):
    port = free_port()
    args = procfile_command("flower", WEB_HOST="127.0.0.1", FLOWER_PORT=str(port))
    with Process("flower", args, live_env, process_log_dir) as flower:
        flower.wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200,
            60,
            "Flower's dashboard answering",
        )
        assert "Flower" in httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text


def test_kyc_decision_notice_is_sent_by_a_real_worker(live_env, process_log_dir, django_db_blocker, tmp_path):
    """The notice task through the Procfile's worker, mailing into files (the SMTP stand-in)."""
    import datetime as dt

    from django.utils import timezone

    from apps.kyc import tasks

    with django_db_blocker.unblock():
        from apps.accounts.models import User
        from apps.kyc.models import Submission

        name = f"kycmail{uuid.uuid4().hex[:8]}"
        user = User.objects.create_user(name, f"{name}@example.com", "irrelevant-passphrase-1")
        submission = Submission.objects.create(
            user=user, status="approved", full_name="Mail Test", date_of_birth=dt.date(1990, 1, 1), country="DE",
            document_type="passport", document_number="X1234567", decided_at=timezone.now(),
        )  # fmt: skip
    mailbox = tmp_path / "mail"
    env = {**live_env, "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
           "EMAIL_FILE_PATH": str(mailbox)}  # fmt: skip
    with CeleryWorker(env, process_log_dir, celery_app):
        assert tasks.notify_decision.delay(submission.pk).get(timeout=60) is True
        assert tasks.notify_decision.delay(submission.pk).get(timeout=60) is False  # once per decision
    [message] = list(mailbox.iterdir())
    text = message.read_text()
    assert f"To: {name}@example.com" in text and "Your identity is verified" in text


@pytest.mark.django_db(transaction=True)
def test_snapshot_task_in_a_real_worker_twice_at_once_then_again(market, live_env, process_log_dir):
    """The beat task through the broker to the Procfile's worker: two runs racing, then a third,
    leave one snapshot per user for the day."""
    from decimal import Decimal as D

    from django.utils import timezone

    from apps.portfolio import tasks
    from apps.portfolio.models import Snapshot
    from tests.factories import funded_trader

    users = [funded_trader(usdt="100"), funded_trader(usdt="250"), funded_trader(btc="1")]
    # A connection of its own for sending, not left in the app's pool.
    with CeleryWorker(live_env, process_log_dir, celery_app), celery_app.connection_for_write() as connection:
        first, second = (tasks.take_snapshots.apply_async(connection=connection) for _ in range(2))
        results = [first.get(timeout=60), second.get(timeout=60)]
        third = tasks.take_snapshots.apply_async(connection=connection).get(timeout=60)
    assert sum(r["created"] for r in results) >= len(users) and third["created"] == 0
    assert all(r["failed"] == 0 for r in [*results, third])
    today = timezone.now().date()
    snapshots = {s.user_id: s for s in Snapshot.objects.filter(user__in=users)}
    assert len(snapshots) == 3 and {s.date for s in snapshots.values()} == {today}
    assert snapshots[users[1].pk].total_value == D("250")
