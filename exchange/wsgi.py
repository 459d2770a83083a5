"""WSGI entry point: the web process (gunicorn, Procfile `web:`) serves REST, the admin and the pages
here. WebSockets are the stream process's (exchange.asgi): Django's ASGI handler answers a quarter of
the requests the same views answer under WSGI (docs/architecture.md "Floors"), and a REST flood in the ASGI
process would hold the market data back behind it."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
django_wsgi_app = get_wsgi_application()

from django.urls import get_resolver  # noqa: E402

from apps.core.wsgi import proxy_headers, request_body_limit  # noqa: E402

# HTTP bodies are capped before Django reads them (apps/core/wsgi.py, as apps/core/asgi.py does for
# the ASGI server); the client's address comes from a trusted proxy's X-Forwarded-For.
application = proxy_headers(request_body_limit(django_wsgi_app))

# As in exchange/asgi.py: what is loaded now lives as long as the process, so it leaves the collector's
# generations. gunicorn loads this module once in its master (preload_app) before forking the
# workers, so the frozen objects are also shared copy-on-write by every worker.
get_resolver().url_patterns  # noqa: B018 - resolve the URL configuration now, before freezing
gc.collect()
gc.freeze()
