"""ASGI entry point of the stream process (Procfile `stream:`): WebSockets to Channels consumers under /ws/,
HTTP to Django (the probes on the stream's own port; everything when one ASGI server serves it all)."""

import gc
import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
# Django must be set up before anything imports models (consumers, auth middleware).
django.setup(set_prefix=False)


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain and the view run synchronously, in one hop.

    Our views and middleware are synchronous. Django's default ASGI chain runs each middleware
    in async mode and hops to a thread for every process_request/process_response, about twenty
    thread switches a request. Here the whole chain runs in the request's worker thread (the same
    thread-sensitive context Django uses for the request's signals, so database connections are
    taken and returned on one thread).
    """

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)


django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from apps.core.asgi import browser_origin_validator, request_body_limit, stream_port_http  # noqa: E402
from exchange.routing import websocket_urlpatterns  # noqa: E402

# HTTP bodies are capped here, before Django reads them; WebSocket frames by uvicorn (--ws-max-size in
# the Procfile). Browsers may open the stream only from our own hosts; clients without Origin (bots) may.
# No session or cookie middleware on WebSockets: the stream authenticates with a token or an API key
# (apps.core.consumers) and nothing reads a session, while Channels' session middleware wrapped every
# frame sent (a session check per frame and subscriber: 200 subscribers, 20,000 frames/s).
# On the stream process's port (STREAM_PORT) HTTP is only the probes: REST is the web pool's (exchange.wsgi).
application = ProtocolTypeRouter(
    {
        "http": stream_port_http(request_body_limit(django_asgi_app)),
        "websocket": browser_origin_validator(URLRouter(websocket_urlpatterns)),
    }
)

# Everything loaded so far (Django, DRF, the apps, the URL patterns) lives as long as the process:
# moved out of the collector's generations, it is no longer walked by every full collection. Those
# collections were the p99 of large pages: 116 ms against a 13 ms median for a 365-row page in a
# test process, 19 ms once frozen.
get_resolver().url_patterns  # noqa: B018 - resolve the URL configuration now, before freezing
gc.collect()  # startup garbage first: frozen objects are never freed
gc.freeze()
