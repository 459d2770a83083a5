"""Settings, read from the environment (12-factor). Every variable is listed in docs/configuration.md.

Without DATABASE_URL / REDIS_URL the defaults point at the embedded servers that `make run` and
`make test` start (tools/devstack.py). With DEBUG off the defaults are production-safe: a secret
key must be given, cookies are secure, HTTPS is enforced and HSTS is sent.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration
from redis.connection import parse_url as parse_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("EXCHANGE_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "apps.core.errors.csrf_failure"

INSTALLED_APPS = [
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_guid",
    "apps.core",
    "apps.accounts",
    "apps.kyc",
    "apps.wallets",
    "apps.markets",
    "apps.orders",
    "apps.trades",
    "apps.portfolio",
    "apps.matching",
    "apps.sandbox",
    "apps.site",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_guid.middleware.guid_middleware",
    "apps.core.middleware.AccessLogMiddleware",
    "apps.core.middleware.refuse_nul_in_path",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.RateLimitHeadersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.PrometheusAfterMiddleware",  # django-prometheus's, its labelled metrics looked up once
]

ROOT_URLCONF = "exchange.urls"
ASGI_APPLICATION = "exchange.asgi.application"
WSGI_APPLICATION = "exchange.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Stores -------------------------------------------------------------------------------------
EMBEDDED_DATABASE_URL = "postgres://postgres@127.0.0.1:55432/exchange"
EMBEDDED_REDIS_URL = "redis://127.0.0.1:56379/0"

DATABASE_URL = env.str("DATABASE_URL", default=EMBEDDED_DATABASE_URL)
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must be a PostgreSQL URL (postgres://...).")
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Django's backend, with a pooled connection checked by a round trip only when it has not been in
# the last second instead of at every request (exchange/postgresql/base.py).
DATABASES["default"]["ENGINE"] = "exchange.postgresql"
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
# Under ASGI every request runs in a fresh thread, so thread-local persistent connections would
# reconnect per request; a process-wide psycopg pool hands out healthy connections instead.
if env.bool("DATABASE_POOL", default=True):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=5),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default=EMBEDDED_REDIS_URL)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "exchange:cache",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, which is also how long channels-redis
        # blocks waiting for a message: every idle WebSocket would fail after 5 s. Read longer.
        # Every channel of a web process shares one Redis key, so `capacity` bounds what a process may
        # have waiting (the private events of its connections); past it, messages are dropped.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": "exchange:channels:",
            "capacity": 1000,
        },
    },
    # Public market data (book updates, trades, halts: apps.matching.publish to apps.markets.feed) over
    # Redis pub/sub. The layer above costs four Redis round trips per message received, one after the
    # other, shared by every channel of the process: on a busy machine that was 20-50 messages/s, and
    # the feeds fell seconds behind the matcher. Pub/sub pushes what is published, so a feed reads
    # whatever has arrived in one go. Nothing is kept for a process that is not connected: the feeds
    # notice the gap in the sequence and reload the book from the cache. Pub/sub channels are not per
    # database, so the prefix names REDIS_URL's database (`make run`, `make test` and `make bench`
    # share the embedded Redis on databases 0, 1 and 2).
    "market_data": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": f"exchange:{parse_redis_url(REDIS_URL).get('db', 0)}:market:",
        },
    },
}

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["apps.accounts.backends.UsernameOrEmailBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18n and time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Dates and times as staff read them (with seconds, 24-hour, UTC): exchange/formats/en/formats.py.
FORMAT_MODULE_PATH = ["exchange.formats"]

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "apps.core.storage.StaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security (production-safe when DEBUG is off) -----------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes and the Prometheus scraper talk plain HTTP inside the cluster (set METRICS_TOKEN).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# The web process refuses a request body over this many bytes with 413 before reading it
# (apps/core/asgi.py): Django would otherwise spool any body to disk before a view runs. The default
# is Django's own limit for non-file request data, so only file uploads need more (per path, below).
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=2_621_440)

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The first class's challenge (Bearer) makes "not logged in" a 401, not a 403.
        "apps.accounts.authentication.JWTAuthentication",
        "apps.accounts.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "apps.accounts.permissions.ApiKeyScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["apps.accounts.throttling.TieredRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.JSONParser"],  # with a nesting limit
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CursorPagination",
    "DEFAULT_METADATA_CLASS": "apps.core.metadata.Metadata",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.ContentNegotiation",  # remembered per Accept
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "PAGE_SIZE": 100,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Exchange API",
    "DESCRIPTION": (
        "Spot cryptocurrency exchange. Amounts and prices are decimal strings; times are ISO-8601 UTC "
        'with milliseconds; errors are `{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A market's status, in GET /markets and in the ticker: one enum, one name.
    "ENUM_NAME_OVERRIDES": {"MarketStatusEnum": ["trading", "halted"]},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.schema.add_error_responses",
    ],
}

# --- Accounts: JWT, API keys, 2FA, rate limits ---------------------------------------------------
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Tokens carry a hash of the password: changing it ends every session.
    "CHECK_REVOKE_TOKEN": True,
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
}

# API key secrets are encrypted with the first of these Fernet keys; the others still decrypt
# (rotation: put the new key first). Make one with:
#   python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
API_KEY_ENCRYPTION_KEYS = env.list("API_KEY_ENCRYPTION_KEYS", default=[])
if not API_KEY_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("API_KEY_ENCRYPTION_KEYS must be set when DEBUG is off.")
    import base64
    import hashlib

    API_KEY_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
API_KEY_TIMESTAMP_WINDOW_MS = 5000
API_KEY_LAST_USED_RESOLUTION_SECONDS = 10

OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Exchange")
OTP_TOTP_THROTTLE_FACTOR = 1  # after n wrong codes in a row, wait 2^(n-1) seconds before the next try
OTP_STATIC_THROTTLE_FACTOR = 1
TWO_FACTOR_BACKUP_CODES = 10
# Staff pass a TOTP code to enter the admin. `make run` turns this off for its demo admin only.
ADMIN_REQUIRE_OTP = env.bool("ADMIN_REQUIRE_OTP", default=True)
if not ADMIN_REQUIRE_OTP and not DEBUG:
    raise ImproperlyConfigured("ADMIN_REQUIRE_OTP=false is for development only (DEBUG on).")
# The OTP admin pages show no keys, QR codes or backup codes to staff.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Requests per RATE_LIMIT_WINDOW_SECONDS (sliding window), per tier and budget. Identity: the API
# key for signed requests, the user for JWT, the client address for anonymous requests.
RATE_LIMIT_WINDOW_SECONDS = 60
RATE_LIMITS = {
    "anonymous":     {"orders": 0,    "private": 0,    "public": 300},
    "basic":         {"orders": 120,  "private": 300,  "public": 600},
    "pro":           {"orders": 600,  "private": 1200, "public": 1200},
    "institutional": {"orders": 3000, "private": 6000, "public": 6000},
}  # fmt: skip
# Operators can replace the table without a release: RATE_LIMITS_JSON='{"basic": {"orders": 60, ...}, ...}'.
if env.str("RATE_LIMITS_JSON", default=""):
    import json

    for _tier, _budgets in json.loads(env.str("RATE_LIMITS_JSON")).items():
        RATE_LIMITS.setdefault(_tier, {}).update({scope: int(limit) for scope, limit in _budgets.items()})
# Brute-force limits, the same for everyone: per client address (login, register, refresh) or per
# user (two_factor: setup, confirm, disable), per window.
# auth_failures: requests with a bad token, key or signature from one address, before it is refused
# outright for the rest of the window.
STRICT_RATE_LIMITS = {
    "login": 10, "register": 5, "refresh": 30, "two_factor": 10, "admin_login": 10, "auth_failures": 60,
}  # fmt: skip

# --- Wallets ------------------------------------------------------------------------------------
# Chain adapter per currency code ("*": every other one). No node runs here: the simulated chain.
CHAIN_BREAKER_FAIL_MAX = env.int("CHAIN_BREAKER_FAIL_MAX", default=5)
CHAIN_BREAKER_RESET_SECONDS = env.float("CHAIN_BREAKER_RESET_SECONDS", default=30)
WALLET_CHAIN_ADAPTERS = {"*": env.str("WALLET_CHAIN_ADAPTER", default="apps.wallets.simchain.SimulatedChain")}
WALLET_DEPOSIT_SCAN_SECONDS = env.int("WALLET_DEPOSIT_SCAN_SECONDS", default=10)
# Development: the simulated chain mines a block this often (0: never; tests mine by hand).
SIMCHAIN_BLOCK_SECONDS = env.int("SIMCHAIN_BLOCK_SECONDS", default=15 if DEBUG else 0)
# Reconciliation (docs/wallets.md "Reconciliation"): a movement the ledger and the chain see at
# different times (a sweep or refill confirming, a deposit confirmed and not yet credited, a
# withdrawal sent and not yet confirmed) is expected for a while; one still open after
# CHAIN_STUCK_FACTOR x the currency's confirmations x its expected seconds per block is reported as
# stuck. CHAIN_BLOCK_SECONDS: a currency code, or "*" for every other one, to seconds per block.
CHAIN_BLOCK_SECONDS = {"*": env.float("CHAIN_BLOCK_SECONDS", default=SIMCHAIN_BLOCK_SECONDS or 15)}
CHAIN_STUCK_FACTOR = env.float("CHAIN_STUCK_FACTOR", default=4)
# Simulated chain fault modes from settings (tests, a staging venue's environment), per currency
# code: SIMCHAIN_FAULTS_JSON='{"ETH": {"refuse_sends": true, "delay_seconds": 2}}'; merged with those
# staff set in the admin or with `manage.py simchain_faults` (apps.wallets.chain_faults).
SIMCHAIN_FAULTS: dict = {}
if env.str("SIMCHAIN_FAULTS_JSON", default=""):
    import json

    _modes = {"refuse_sends", "unreachable", "drop_broadcasts", "delay_seconds"}
    for _code, _faults in json.loads(env.str("SIMCHAIN_FAULTS_JSON")).items():
        if not isinstance(_faults, dict) or set(_faults) - _modes:
            raise ImproperlyConfigured(f"SIMCHAIN_FAULTS_JSON: {_code} takes only {sorted(_modes)}.")
        if not 0 <= float(_faults.get("delay_seconds", 0)) <= 120:
            raise ImproperlyConfigured("SIMCHAIN_FAULTS_JSON: delay_seconds is between 0 and 120.")
        SIMCHAIN_FAULTS[_code.upper()] = _faults
# Withdrawal protections: a withdrawal address that is not confirmed with 2FA in the user's address
# book can be used this long after its first use (the first use registers it and is refused).
WITHDRAWAL_ADDRESS_COOLDOWN_HOURS = env.float("WITHDRAWAL_ADDRESS_COOLDOWN_HOURS", default=24)
if WITHDRAWAL_ADDRESS_COOLDOWN_HOURS < 0:
    raise ImproperlyConfigured("WITHDRAWAL_ADDRESS_COOLDOWN_HOURS must not be negative.")

# --- Orders and matching ------------------------------------------------------------------------
ORDER_STREAM_PREFIX = env.str("ORDER_STREAM_PREFIX", default="exchange:orders:")
# A stop-market buy by quantity reserves quantity x stop price x (1 + this margin): its fills stop
# when that budget is spent (a market can gap past the stop price).
STOP_MARKET_BUY_MARGIN = Decimal(env.str("STOP_MARKET_BUY_MARGIN", default="0.05"))
# The matcher: commands per XREADGROUP (and per settlement transaction), how long one read blocks,
# how often it looks for new markets and for orders that never reached the stream.
MATCHER_BATCH_SIZE = env.int("MATCHER_BATCH_SIZE", default=2000)
MATCHER_BLOCK_MS = env.int("MATCHER_BLOCK_MS", default=200)
MATCHER_DISCOVERY_SECONDS = env.float("MATCHER_DISCOVERY_SECONDS", default=2.0)
MATCHER_RECOVERY_SECONDS = env.float("MATCHER_RECOVERY_SECONDS", default=5.0)
# Prometheus endpoint of the matcher process (0: none). Several matchers on one host need their own.
MATCHER_METRICS_PORT = env.int("MATCHER_METRICS_PORT", default=9108)
MATCHER_METRICS_HOST = env.str("MATCHER_METRICS_HOST", default="127.0.0.1")
# The Redis book cache holds the whole aggregated book: WebSocket feeds derive every depth view from
# it, and a view is exact only if every level that can move into it is known.
# The deepest view a client may ask for, per side (REST `depth`, WebSocket `depth`).
BOOK_MAX_DEPTH = env.int("BOOK_MAX_DEPTH", default=5000)
# POST /orders?wait=result answers once the matcher has applied the order, or after this many seconds.
ORDER_RESULT_WAIT_SECONDS = env.float("ORDER_RESULT_WAIT_SECONDS", default=2.0)

# --- WebSocket /ws/v1/ ----------------------------------------------------------------------------------
# The stream process (Procfile `stream:`) listens on STREAM_PORT, the web pool on WEB_PORT. Clients are
# told where the stream is (apps/core/stream.py): STREAM_URL when set (behind a proxy that routes it,
# e.g. wss://exchange.example/ws/v1/), else the request's host with STREAM_PORT, else (STREAM_PORT
# unset: one ASGI server for HTTP and WebSockets) the request's own origin.
STREAM_URL = env.str("STREAM_URL", default="")
STREAM_PORT = env.str("STREAM_PORT", default="")
# Frames queued for one client before it counts as too slow and is disconnected (close code 4008).
WS_OUTBOX_MESSAGES = env.int("WS_OUTBOX_MESSAGES", default=1000)
# A heartbeat message after this many seconds without any other message to the client.
WS_HEARTBEAT_SECONDS = env.float("WS_HEARTBEAT_SECONDS", default=15.0)
# A connection with no subscription and no message from the client for this long is closed (4000).
WS_IDLE_SECONDS = env.float("WS_IDLE_SECONDS", default=120.0)
# How often an authenticated connection checks that its API key, password (JWT) and user still hold.
WS_AUTH_RECHECK_SECONDS = env.float("WS_AUTH_RECHECK_SECONDS", default=30.0)
# A market feed (one per web process and market) stays up this long after its last subscriber left,
# and checks its sequence against the book cache after this many quiet seconds.
WS_FEED_LINGER_SECONDS = env.float("WS_FEED_LINGER_SECONDS", default=10.0)
WS_FEED_CHECK_SECONDS = env.float("WS_FEED_CHECK_SECONDS", default=5.0)
# Ticker pushes: at most one per TICKER_MIN_INTERVAL per market, and a recomputation at least every
# TICKER_REFRESH_SECONDS (the 24-hour window moves even without trades).
TICKER_MIN_INTERVAL = env.float("TICKER_MIN_INTERVAL", default=0.5)
TICKER_REFRESH_SECONDS = env.float("TICKER_REFRESH_SECONDS", default=30.0)

# --- KYC ------------------------------------------------------------------------------------------
# Identity documents: a private directory no URL maps to (never under STATIC_ROOT or a public MEDIA).
KYC_MEDIA_ROOT = Path(env.str("KYC_MEDIA_ROOT", default=str(VAR_DIR / "kyc-documents")))
KYC_MAX_FILE_BYTES = env.int("KYC_MAX_FILE_BYTES", default=10 * 1024 * 1024)
KYC_MAX_IMAGE_PIXELS = 40_000_000  # refuses decompression bombs
# A submission carries at most three documents (front, back, selfie) besides its fields.
REQUEST_BODY_PATH_LIMITS = {"/api/v1/kyc/submissions": 3 * KYC_MAX_FILE_BYTES + REQUEST_BODY_MAX_BYTES}
KYC_MINIMUM_AGE = 18
# Rejected submissions' files are deleted this many days after the decision (GDPR: keep no longer
# than needed); the data rows stay for the audit trail.
KYC_REJECTED_RETENTION_DAYS = env.int("KYC_REJECTED_RETENTION_DAYS", default=90)
# The review target: the admin dashboard shows the oldest pending case's age against it.
KYC_REVIEW_TARGET_HOURS = env.float("KYC_REVIEW_TARGET_HOURS", default=24)
# What each level allows. Withdrawal limits are per rolling 24 h, in KYC_LIMIT_CURRENCY.
KYC_LIMIT_CURRENCY = "USDT"
KYC_LEVELS = {
    0: {"name": "none", "trading": False, "daily_withdrawal_limit": "0"},
    1: {"name": "basic", "trading": True, "daily_withdrawal_limit": "1000"},
    2: {"name": "verified", "trading": True, "daily_withdrawal_limit": "100000"},
}

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))  # filebased backend only
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Exchange <no-reply@exchange.local>")

# --- Request ids and logging --------------------------------------------------------------------
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,  # a client-sent id must be a UUID, else a fresh one is made
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "UUID_LENGTH": 32,
    # A task published during a request logs with that request's id.
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # json | console
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "django_guid.log_filters.CorrelationId"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {"levelname": "level", "name": "logger", "correlation_id": "request_id"},
            "timestamp": "time",  # ISO-8601 UTC from the record's creation time
        },
        "console": {"format": "%(asctime)s %(levelname)-7s [%(correlation_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "console",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": LOG_LEVEL},
        "django.db.backends": {"level": "INFO"},
        "django_guid": {"level": "WARNING"},
    },
}

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again: tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower's live view
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
HEARTBEAT_INTERVAL_SECONDS = env.int("HEARTBEAT_INTERVAL_SECONDS", default=15)
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)
PRE_TRADE_CHECKS = env.bool("PRE_TRADE_CHECKS", default=True)
PRICE_BAND_REFERENCE_SECONDS = env.float("PRICE_BAND_REFERENCE_SECONDS", default=1.0)
PORTFOLIO_VALUATION_CURRENCY = env.str("PORTFOLIO_VALUATION_CURRENCY", default="USDT")
CELERY_BEAT_SCHEDULE = {
    "core-purge-idempotency-keys": {"task": "apps.core.tasks.purge_idempotency_keys", "schedule": 3600},
    "portfolio-snapshots": {
        "task": "apps.portfolio.tasks.take_snapshots",
        # Every hour (UTC): the first run of a day records it, the others find nothing to do, so a
        # beat or worker that was down at midnight catches up within the hour.
        "schedule": crontab(minute=0),
    },
    "core-heartbeat": {
        "task": "apps.core.tasks.record_heartbeat",
        "schedule": HEARTBEAT_INTERVAL_SECONDS,
        "options": {"expires": HEARTBEAT_INTERVAL_SECONDS},
    },
    "kyc-purge-rejected-documents": {
        "task": "apps.kyc.tasks.purge_expired_documents",
        "schedule": 3600,
    },
    "kyc-resend-missing-notices": {
        "task": "apps.kyc.tasks.resend_missing_notices",
        "schedule": 3600,
    },
    "wallets-custody-policy": {
        "task": "apps.wallets.tasks.custody_policy",
        "schedule": env.int("CUSTODY_POLICY_SECONDS", default=60),
    },
    "wallets-reconcile": {
        "task": "apps.wallets.tasks.reconcile",
        "schedule": env.int("RECONCILIATION_SECONDS", default=300),
    },
    "wallets-send-withdrawals": {
        "task": "apps.wallets.tasks.send_withdrawals",
        "schedule": WALLET_DEPOSIT_SCAN_SECONDS,
        "options": {"expires": WALLET_DEPOSIT_SCAN_SECONDS},
    },
    "wallets-follow-withdrawals": {
        "task": "apps.wallets.tasks.follow_withdrawals",
        "schedule": WALLET_DEPOSIT_SCAN_SECONDS,
        "options": {"expires": WALLET_DEPOSIT_SCAN_SECONDS},
    },
    "wallets-follow-custody-transfers": {
        "task": "apps.wallets.tasks.follow_custody_transfers",
        "schedule": WALLET_DEPOSIT_SCAN_SECONDS,
        "options": {"expires": WALLET_DEPOSIT_SCAN_SECONDS},
    },
    "wallets-process-deposits": {
        "task": "apps.wallets.tasks.process_deposits",
        "schedule": WALLET_DEPOSIT_SCAN_SECONDS,
        "options": {"expires": WALLET_DEPOSIT_SCAN_SECONDS},
    },
}
if SIMCHAIN_BLOCK_SECONDS:
    CELERY_BEAT_SCHEDULE["simchain-mine"] = {
        "task": "apps.wallets.tasks.mine_simulated_blocks",
        "schedule": SIMCHAIN_BLOCK_SECONDS,
        "options": {"expires": SIMCHAIN_BLOCK_SECONDS},
    }

# --- Sandbox mode (docs/risk-controls.md "Sandbox mode") ------------------------------------------------
# A test venue: POST /api/v1/sandbox/faucet credits test funds (a ledger transaction from the
# sandbox issuance account). Off, the endpoint is not routed at all. Never on where funds are real.
EXCHANGE_SANDBOX = env.bool("EXCHANGE_SANDBOX", default=False)
# Successful faucet credits per user, over a sliding window: "<n>/<second|minute|hour|day>".
SANDBOX_FAUCET_RATE = env.str("SANDBOX_FAUCET_RATE", default="10/hour")
# Per currency: the amount credited when the request names none, and the most one request may ask
# for ("*": every other currency). SANDBOX_FAUCET_AMOUNTS_JSON='{"BTC": {"max": "50"}}' overrides it.
SANDBOX_FAUCET_AMOUNTS = {
    "BTC":  {"default": "1",     "max": "10"},
    "ETH":  {"default": "10",    "max": "100"},
    "USDT": {"default": "10000", "max": "100000"},
    "*":    {"default": "100",   "max": "1000"},
}  # fmt: skip
if env.str("SANDBOX_FAUCET_AMOUNTS_JSON", default=""):
    import json

    for _code, _amounts in json.loads(env.str("SANDBOX_FAUCET_AMOUNTS_JSON")).items():
        SANDBOX_FAUCET_AMOUNTS.setdefault(_code.upper() if _code != "*" else _code, {}).update(
            {name: str(value) for name, value in _amounts.items()}
        )

# /readyz gives each dependency this long before calling it down.
READINESS_TIMEOUT_SECONDS = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)

# /metrics: when set, the scraper must send `Authorization: Bearer <token>`. It shows per-currency user
# totals and wallet balances, so outside development it answers no one without a token (and
# `check --deploy` reports the missing token).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_REQUIRE_TOKEN = not DEBUG

# Where `make run` serves Flower; linked from the home page.
FLOWER_URL = env.str("FLOWER_URL", default="http://127.0.0.1:5555/")
