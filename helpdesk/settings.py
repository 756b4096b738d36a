"""Baton settings, read from the environment (see README "Configuration").

With nothing set, Baton runs embedded: SQLite, in-memory channel layer and
django-q2's ORM broker. ``DATABASE_URL`` and ``REDIS_URL`` switch it to
PostgreSQL + pgvector and Redis, which is what any multi-process deployment needs.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from core.env import envbool, envint, envlist, envstr
from core.secrets import default_secret_key_path, secret_key_for_installation

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("BATON_DEBUG", False)
PRODUCTION = envbool("BATON_PRODUCTION", False)
SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when BATON_PRODUCTION=1")
    # Embedded mode: a random key made once for this installation and kept outside
    # the repository, readable by its owner only. (A key written in this file let
    # anyone forge any customer's token against a `make run` server, issue #14.)
    SECRET_KEY = secret_key_for_installation(
        Path(envstr("BATON_SECRET_KEY_PATH") or default_secret_key_path(BASE_DIR)).expanduser()
    )
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "django_q",
    "knowledge",
    "conversations",
    "canned",
    "routing",
    "sla",
    "analytics",
    "privacy",
    "demo",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"

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
                "routing.context_processors.routing",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    # A pool of connections per process (psycopg_pool through Django's OPTIONS["pool"]):
    # without one, every HTTP request and every websocket frame handled in a new
    # thread opened a PostgreSQL session (22-30 a second under load, issue #13).
    # DB_POOL_MAX=0 turns it off (behind an external pooler), and DB_CONN_MAX_AGE applies.
    DB_POOL_MAX = envint("DB_POOL_MAX", 16, minimum=0)
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=0 if DB_POOL_MAX else envint("DB_CONN_MAX_AGE", 0, minimum=0),
            # With the pool, Django hands it ConnectionPool.check_connection: each
            # connection is checked (one empty round trip) before it is handed out,
            # so one PostgreSQL ended (a restart, a failover) is replaced instead of
            # failing a request.
            conn_health_checks=True,
        )
    }
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL (SQLite is the embedded default)")
    options = DATABASES["default"].setdefault("OPTIONS", {})
    if DB_POOL_MAX:
        options["pool"] = {
            "min_size": min(envint("DB_POOL_MIN", 1, minimum=0), DB_POOL_MAX),
            "max_size": DB_POOL_MAX,
            # Seconds a request waits for a free connection (or for a database that
            # is down) before it fails with a clear error the clients retry on.
            "timeout": envint("DB_POOL_TIMEOUT", 5, minimum=1),
        }
    # Prepared statements: PostgreSQL parses and plans a statement a connection runs
    # again once, not every time (routing benchmark: 158 -> 188-204 decisions/s,
    # PostgreSQL's CPU per handoff 4.1 -> 2.7 ms). A pooler in transaction mode that
    # cannot keep them (PgBouncer before 1.21) needs DB_PREPARED_STATEMENTS=0.
    if envbool("DB_PREPARED_STATEMENTS", True):
        options.update(server_side_binding=True, prepare_threshold=2)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": envstr("BATON_SQLITE_PATH", str(BASE_DIR / "baton.sqlite3")),
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait
                # (up to `timeout`) instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not :memory:, so the browser tests' server threads share it;
            # one per process, so concurrent test runs do not collide.
            "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"baton-test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels and tasks -------------------------------------------------------
REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub (docs/realtime.md): group memberships are subscriptions of
            # each process's own connection, so none outlives its process or socket,
            # and nothing caps or silently drops what waits for a busy socket (the
            # list-based layer kept 100 events per socket and dropped the oldest).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # redis-py closes idle connections after 5 s unless told otherwise.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": envstr("BATON_CHANNELS_PREFIX", "baton"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10_000}}}

Q_CLUSTER = {
    "name": "baton",
    "workers": envint("BATON_Q_WORKERS", 2, minimum=1),
    "timeout": 60,
    "retry": 120,
    "max_attempts": 3,
    "catch_up": False,
    "poll": 0.1,
    # Successful tasks are not kept: each cost the cluster's monitor an INSERT and a
    # prune, per customer message (the bot's turn); failures are kept as before.
    "save_limit": -1,
    # A worker is replaced after this many tasks (django-q2's guard against leaks;
    # its default, 500, restarted each worker every 10 s at 100 msg/s, and the
    # questions it had queued waited while the next one loaded the model).
    "recycle": 10_000,
    "sync": envbool("BATON_Q_SYNC", False),
    "orm": "default",
}
if REDIS_URL:
    del Q_CLUSTER["orm"]
    Q_CLUSTER["redis"] = REDIS_URL

# --- Auth, i18n, static -------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): after BATON_LOGIN_FAILURE_LIMIT wrong passwords
# for one username from one address, that pair is locked out for
# BATON_LOGIN_LOCKOUT_MIN minutes, even with the right password; the same username
# from elsewhere, and other usernames from that address, still sign in. The
# attempts and lockouts are in Django admin ("Axes"), where an admin unlocks one by
# deleting its attempt. Tests sign in with force_login (axes' backend needs the
# request, which client.login does not pass).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("BATON_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("BATON_LOGIN_LOCKOUT_MIN", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Every failure kept for admins (AccessFailureLog), the latest 1,000 per username.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The address as the ASGI server saw it, as for the rate limits.
AXES_CLIENT_IP_CALLABLE = "core.ratelimit.request_ip"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / ".staticfiles")))
WHITENOISE_USE_FINDERS = True

# --- Baton --------------------------------------------------------------------
# Legacy identity verification (docs/security.md): HMAC-SHA256(secret, external_id)
# proves the embedding site's user id was not forged. Empty: such ids are refused.
# The sites allowed to embed, and their JWT secrets, are EmbedSite rows (admin).
BATON_EMBED_SECRET = envstr("BATON_EMBED_SECRET")
# Days a customer's session token stays valid without use; each page load renews it.
BATON_SESSION_DAYS = envint("BATON_SESSION_DAYS", 30, minimum=1)
BATON_MAX_MESSAGE_CHARS = 4000
BATON_EMBEDDING_MODEL = envstr("BATON_EMBEDDING_MODEL", "knowledge.embeddings.MiniLMEmbeddings")
# Threads the bundled model's matrix products use in each process (read by
# OpenBLAS when numpy is first imported, after these settings). Every ASGI process
# and cluster worker embeds on its own: with one thread each, a batch of 8
# questions took 35 ms instead of 51 on this 2-core machine under load.
BATON_MODEL_THREADS = envint("BATON_MODEL_THREADS", 1, minimum=1)
for _blas in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_blas, str(BATON_MODEL_THREADS))
# Optional: a LangChain chat model (dotted path of a class or factory) that writes
# grounded answers from the retrieved passages, and its keyword arguments as JSON.
BATON_LLM = envstr("BATON_LLM")
BATON_LLM_OPTIONS = envstr("BATON_LLM_OPTIONS", "{}")
# The timers (core/timers.py: routing's offer expiry and auto-offline, the SLA
# sweep, overdue bot turns) run in one ASGI process at a time, every this many
# milliseconds; 0 turns them off in this process (the tests do).
BATON_TIMERS_TICK_MS = envint("BATON_TIMERS_TICK_MS", 1000, minimum=0)
# Threads of each ASGI process for its websockets' database work (core/live.py).
BATON_DB_THREADS = envint("BATON_DB_THREADS", 8, minimum=1)
# SLA: e-mail admins (staff with an address) on breaches, through EMAIL_BACKEND.
BATON_SLA_BREACH_EMAIL = envbool("BATON_SLA_BREACH_EMAIL", False)
# Seconds each process keeps business configuration it read (rules, SLA targets,
# routing settings; core/config.py): a change in admin reaches other processes
# within this time. 0: read it every time.
BATON_CONFIG_CACHE_S = envint("BATON_CONFIG_CACHE_S", 5, minimum=0)
# Resolved conversations older than this many days are deleted daily (privacy/tasks.py); 0 keeps them.
BATON_RETENTION_DAYS = envint("BATON_RETENTION_DAYS", 0, minimum=0)
# Rate limits (core/ratelimit.py), counted in Redis when REDIS_URL is set so
# every process shares them. Messages (and requests for a person): per visitor and
# per IP, N a second on average with bursts of up to BURST. Behind one NAT many
# customers share an IP: raise the per-IP figures there.
BATON_RATELIMIT_ENABLED = envbool("BATON_RATELIMIT_ENABLED", True)
BATON_RATELIMIT_MESSAGES_PER_S = envint("BATON_RATELIMIT_MESSAGES_PER_S", 5, minimum=1)
BATON_RATELIMIT_MESSAGES_BURST = envint("BATON_RATELIMIT_MESSAGES_BURST", 20, minimum=1)
BATON_RATELIMIT_MESSAGES_PER_IP_S = envint("BATON_RATELIMIT_MESSAGES_PER_IP_S", 5, minimum=1)
BATON_RATELIMIT_MESSAGES_PER_IP_BURST = envint("BATON_RATELIMIT_MESSAGES_PER_IP_BURST", 20, minimum=1)
# New visitors (each starts a conversation) and chat page views, per IP a minute.
BATON_RATELIMIT_STARTS_PER_MIN = envint("BATON_RATELIMIT_STARTS_PER_MIN", 30, minimum=1)
BATON_RATELIMIT_PAGES_PER_MIN = envint("BATON_RATELIMIT_PAGES_PER_MIN", 60, minimum=1)
# Every websocket's frames of any type; past the limit each frame gets a
# rate_limited error frame, and after this many refused in a row the socket is
# closed with 1008 (policy violation).
BATON_RATELIMIT_WS_FRAMES_PER_S = envint("BATON_RATELIMIT_WS_FRAMES_PER_S", 20, minimum=1)
BATON_RATELIMIT_WS_FRAMES_BURST = envint("BATON_RATELIMIT_WS_FRAMES_BURST", 60, minimum=1)
BATON_RATELIMIT_WS_FLOOD_CLOSE = envint("BATON_RATELIMIT_WS_FLOOD_CLOSE", 100, minimum=1)
# Text frames longer than this many characters are refused before they are parsed.
BATON_WS_MAX_FRAME_CHARS = envint("BATON_WS_MAX_FRAME_CHARS", 65536, minimum=4096)
BATON_RATELIMIT_PREFIX = envstr("BATON_RATELIMIT_PREFIX", "baton-rl")
# Attachments (conversations/files.py): files customers and agents send, kept
# through Django's storage API under random names; in embedded mode on disk under
# BATON_MEDIA_ROOT (git-ignored), never served from there: only through the
# signed, expiring links of conversations/views/files.py.
MEDIA_ROOT = Path(envstr("BATON_MEDIA_ROOT", str(BASE_DIR / "media"))).expanduser()
STORAGES = {
    "default": {"BACKEND": envstr("BATON_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
BATON_ATTACHMENT_MAX_BYTES = envint("BATON_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# Seconds a download link stays valid (each page view and live event signs new ones).
BATON_ATTACHMENT_LINK_SECONDS = envint("BATON_ATTACHMENT_LINK_SECONDS", 3600, minimum=60)
# A request body larger than this is refused with 413 before it is read
# (core/bodylimit.py): an attachment and its form's few fields.
BATON_MAX_REQUEST_BYTES = BATON_ATTACHMENT_MAX_BYTES + 64 * 1024
# Django's own: non-file fields are small (a caption, a client id); an upload
# larger than this goes to a temporary file rather than memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_PERMISSIONS = 0o640
EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "baton@localhost")

# --- Security ---------------------------------------------------------------
# Headers on every response (docs/security.md). The policy allows only files
# served from this origin: no inline script or style anywhere (templates keep data
# in `json_script` blocks and data- attributes), so an injected tag runs nothing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        # 'self' covers ws:/wss: to this host (CSP Level 3; Chromium, Firefox, Safari).
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        # No page may be framed, except a response passed through
        # core.headers.frame_ancestors (the chat page, for the embedding sites).
        "frame-ancestors": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"
# Features no page of Baton uses, refused to it and to anything it frames.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # the chat page reads it for its POST fallback
CSRF_COOKIE_SAMESITE = "Lax"
if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}
