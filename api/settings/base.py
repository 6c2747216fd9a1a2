"""Settings shared by every environment; every value comes from the environment here."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from api.settings.storage import s3_media_storage
from tidecast_common.ladder import LadderError, parse_ladder_json
from tidecast_common.logs import logging_config, parse_log_format

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()

DATA_DIR = Path(env.str("TIDECAST_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Secure flag on every cookie (JWT, session, CSRF); on in production. Off, cookies are Secure only
# on requests Django sees as HTTPS.
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api.core",
    "api.users",
    "api.profiles",
    "api.channels",
    "api.videos",
    "api.uploads",
    "api.ingest_hooks",
    "api.activity",
    "api.webhooks",
    "api.usage",
    "api.restream",
    "api.web",
    "api.comments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "api.core.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "api.urls"
WSGI_APPLICATION = "api.wsgi.application"
ASGI_APPLICATION = "api.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "api" / "templates"],
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

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'tidecast.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A transaction takes SQLite's write lock when it begins and waits for it, instead of failing
    # with "database is locked" when two requests (two publishers starting) upgrade at once.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Throttle and lockout counters must be shared by every API process (gunicorn runs several): the
# default is a table in the database (made by `migrate`), which needs no server of its own.
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://tidecast_cache")}
_CULLING_CACHES = {
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.locmem.LocMemCache",
}
if CACHES["default"]["BACKEND"] in _CULLING_CACHES:
    # These caches drop a third of their entries past MAX_ENTRIES (Django's default: 300), which
    # would let a burst of guessed names push the lockout counters out.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault(
        "MAX_ENTRIES", env.int("CACHE_MAX_ENTRIES", default=100_000)
    )

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# hls.js and tus-js-client come from npm (`npm ci`, package-lock.json), served as /static/vendor/.
STATICFILES_DIRS = [
    ("vendor/hls", BASE_DIR / "node_modules" / "hls.js" / "dist"),
    ("vendor/tus", BASE_DIR / "node_modules" / "tus-js-client" / "dist"),
]
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# --- Object storage (tidecast_common/object_store.py has the keys) ------------------------------
# With an endpoint and a bucket, pictures and thumbnails go to the S3-compatible store (below
# media/), as do live recordings (the ingest) and VOD renditions; the file system otherwise.
STORAGE_S3_ENDPOINT = env.str("STORAGE_S3_ENDPOINT", default="").rstrip("/")
STORAGE_S3_BUCKET = env.str("STORAGE_S3_BUCKET", default="")
STORAGE_S3_ACCESS_KEY = env.str("STORAGE_S3_ACCESS_KEY", default="")
STORAGE_S3_SECRET_KEY = env.str("STORAGE_S3_SECRET_KEY", default="")
STORAGE_S3_REGION = env.str("STORAGE_S3_REGION", default="us-east-1")
# A CDN or public bucket in front of the store: ended and ready videos play from there.
STORAGE_S3_PUBLIC_URL = env.str("STORAGE_S3_PUBLIC_URL", default="").rstrip("/")
if bool(STORAGE_S3_ENDPOINT) != bool(STORAGE_S3_BUCKET):
    raise ImproperlyConfigured("STORAGE_S3_ENDPOINT and STORAGE_S3_BUCKET are set together")
if STORAGE_S3_ENDPOINT:
    STORAGES["default"] = s3_media_storage(
        endpoint=STORAGE_S3_ENDPOINT,
        bucket=STORAGE_S3_BUCKET,
        access_key=STORAGE_S3_ACCESS_KEY,
        secret_key=STORAGE_S3_SECRET_KEY,
        region=STORAGE_S3_REGION,
    )
# Per-user storage quota (settable per user in the admin); recordings older than
# RECORDING_RETENTION_DAYS are deleted with their objects (unset: kept forever).
STORAGE_QUOTA_BYTES = env.int("STORAGE_QUOTA_BYTES", default=10 * 1024**3)
RECORDING_RETENTION_DAYS = env.int("RECORDING_RETENTION_DAYS", default=0) or None
# The periodic orphan report only lists what no video owns unless this is on.
STORAGE_ORPHANS_DELETE = env.bool("STORAGE_ORPHANS_DELETE", default=False)
# Uploads above this size are refused by the validators; Django's own cap sits a little higher.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.core.authentication.JWTHeaderOrCookieAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies; the few views that take files add multipart themselves.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "api.core.schema.TidecastAutoSchema",
    "EXCEPTION_HANDLER": "api.core.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "signup": env.str("THROTTLE_SIGNUP", default="20/hour"),
        "login_failures": env.str("THROTTLE_LOGIN_FAILURES", default="5/5m"),
        "login_failures_ip": env.str("THROTTLE_LOGIN_FAILURES_IP", default="20/5m"),
        "ingest_authorize": env.str("THROTTLE_INGEST_AUTHORIZE", default="20/min"),
        # Failed authorizations across every publisher address: an alert threshold, never a refusal.
        "ingest_authorize_global": env.str("THROTTLE_INGEST_AUTHORIZE_GLOBAL", default="300/min"),
        # Comments (chat messages) each signed-in user may post.
        "comments": env.str("THROTTLE_COMMENTS", default="10/30s"),
    },
    "UNAUTHENTICATED_USER": None,
    # Proxies appending to X-Forwarded-For in front of the API (nginx: 1); unset, REMOTE_ADDR is the client.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=None),
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_AUTHENTICATION_RULE": "rest_framework_simplejwt.authentication.default_user_authentication_rule",
}
JWT_COOKIE_ACCESS = "access_token"
JWT_COOKIE_REFRESH = "refresh_token"
JWT_COOKIE_SAMESITE = "Lax"
JWT_COOKIE_REFRESH_PATH = "/api/auth/"

SPECTACULAR_SETTINGS = {
    "TITLE": "Tidecast API",
    "DESCRIPTION": "Channels, stream keys, live and recorded videos. Every error is JSON with the "
    "`Error` body: `detail` (a sentence), `code` (an identifier) and, for invalid input, `errors`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/ is the public API; the ingest's hooks have their own at /api/internal/schema/.
    "PREPROCESSING_HOOKS": ["api.core.schema.public_endpoints"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "VideoStatusEnum": "api.videos.models.VideoStatus",
        "VideoSourceEnum": "api.videos.models.VideoSource",
        "VisibilityEnum": "api.videos.models.VideoVisibility",
        "ActivityActionEnum": "api.activity.models.ActivityAction",
        "WebhookEventEnum": "api.webhooks.models.WebhookEvent",
        "DeliveryStateEnum": "api.webhooks.models.DeliveryState",
    },
}

# --- Streaming ---------------------------------------------------------------------------------
# The ingest authenticates to /api/internal/ with this secret.
INGEST_SHARED_SECRET = env.str("INGEST_SHARED_SECRET", default="")
# The HLS server reports viewer counts with this one; it opens no other hook. Empty: no reports.
HLS_REPORT_SECRET = env.str("HLS_REPORT_SECRET", default="")
# Stream keys are stored as an HMAC and AES-GCM ciphertext under keys derived from this secret
# (SECRET_KEY when empty). Changing it invalidates every stored stream key.
STREAM_KEY_SECRET = env.str("STREAM_KEY_SECRET", default="")
# Where OBS is told to publish, and where viewers fetch HLS.
PUBLIC_RTMP_URL = env.str("PUBLIC_RTMP_URL", default="rtmp://127.0.0.1:1935/streaming")
PUBLIC_HLS_URL = env.str("PUBLIC_HLS_URL", default="http://127.0.0.1:8080/hls-live/")
HLS_ROOT = Path(env.str("HLS_ROOT", default=str(DATA_DIR / "hls")))
# A live video whose ingest has not sent a heartbeat for this long is considered gone.
LIVE_HEARTBEAT_TIMEOUT_SECONDS = env.int("LIVE_HEARTBEAT_TIMEOUT_SECONDS", default=30)
# Restreaming: destinations per channel, and whether they may be loopback or private addresses
# (on in the local and test settings, where the destinations are local listeners).
RESTREAM_MAX_DESTINATIONS = env.int("RESTREAM_MAX_DESTINATIONS", default=5)
RESTREAM_ALLOW_PRIVATE_DESTINATIONS = env.bool("RESTREAM_ALLOW_PRIVATE_DESTINATIONS", default=False)
# The rendition ladder sent to the ingest; "source" is always added first (passthrough). A bad
# ladder stops every process at start rather than refusing the first publish.
try:
    TRANSCODE_LADDER = [
        rung.to_mapping() for rung in parse_ladder_json(env.str("TRANSCODE_LADDER", default=""))
    ]
except LadderError as error:
    raise ImproperlyConfigured(str(error)) from None
HLS_SEGMENT_SECONDS = env.int("HLS_SEGMENT_SECONDS", default=2)
# Playback tokens (tidecast_common/playback_tokens.py): their own HMAC key, shared with the HLS
# server; how long a token plays; and how long past that a segment is still served (plus a
# recording's duration), so a viewer who fetched a playlist in time is not cut off.
PLAYBACK_TOKEN_KEY = env.str("PLAYBACK_TOKEN_KEY", default="")
PLAYBACK_TOKEN_SECONDS = env.int("PLAYBACK_TOKEN_SECONDS", default=3600)
# Comments: the most one list answer holds (page on with ?after=<last id>); how often a watch
# page asks for new ones (a live chat's delay, at most this plus a request).
COMMENTS_PAGE_SIZE = env.int("COMMENTS_PAGE_SIZE", default=100)
COMMENTS_POLL_SECONDS = env.float("COMMENTS_POLL_SECONDS", default=1.5)
# How long a shared cache (nginx) may keep a public video's comment list; 0: not at all.
COMMENTS_CACHE_SECONDS = env.int("COMMENTS_CACHE_SECONDS", default=1)
PLAYBACK_TOKEN_SEGMENT_GRACE_SECONDS = env.int("PLAYBACK_TOKEN_SEGMENT_GRACE_SECONDS", default=120)

# --- Uploads -----------------------------------------------------------------------------------
IMAGE_UPLOAD_MAX_BYTES = env.int("IMAGE_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
IMAGE_UPLOAD_MAX_PIXELS = env.int("IMAGE_UPLOAD_MAX_PIXELS", default=40_000_000)
# Non-JPEG pictures above this many pixels are decoded by the worker only, never in the request.
IMAGE_REQUEST_DECODE_MAX_PIXELS = env.int("IMAGE_REQUEST_DECODE_MAX_PIXELS", default=4_000_000)
# Uploads that are not public yet (raw profile pictures, metadata included): never served.
PRIVATE_MEDIA_ROOT = Path(env.str("PRIVATE_MEDIA_ROOT", default=str(DATA_DIR / "private")))
# Uploaded videos (tus at /api/uploads/): originals and their processing below UPLOAD_ROOT.
UPLOAD_ROOT = Path(env.str("UPLOAD_ROOT", default=str(DATA_DIR / "uploads")))
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=8 * 1024**3)
STORAGE_QUOTA_BYTES = env.int("STORAGE_QUOTA_BYTES", default=10 * 1024**3)
# An upload left unfinished this long (since its last PATCH) is removed with its bytes.
UPLOAD_EXPIRY_HOURS = env.float("UPLOAD_EXPIRY_HOURS", default=24.0)
# A PATCH body is read into one buffer of this many bytes; a read waits at most this long for a byte.
UPLOAD_READ_BYTES = env.int("UPLOAD_READ_BYTES", default=1024 * 1024)
UPLOAD_READ_TIMEOUT_SECONDS = env.float("UPLOAD_READ_TIMEOUT_SECONDS", default=30.0)
# Each stretch of this many bytes written to an upload's file is handed to the disk at once.
UPLOAD_WRITEBACK_BYTES = env.int("UPLOAD_WRITEBACK_BYTES", default=8 * 1024 * 1024)
# One PATCH is cut (what arrived is kept; the client resumes) after this long.
# The upload page sends PATCHes of this size (a dropped one is resent from its start).
UPLOAD_BROWSER_CHUNK_BYTES = env.int("UPLOAD_BROWSER_CHUNK_BYTES", default=8 * 1024 * 1024)
UPLOAD_PATCH_MAX_SECONDS = env.float("UPLOAD_PATCH_MAX_SECONDS", default=3600.0)
# Media longer than this is refused by the processing.
UPLOAD_MAX_SECONDS = env.float("UPLOAD_MAX_SECONDS", default=4 * 3600.0)
# The largest picture and frame rate processed: the ingest's caps (tidecast_common.media_caps).
UPLOAD_MAX_WIDTH = env.int("INGEST_MAX_WIDTH", default=3840)
UPLOAD_MAX_HEIGHT = env.int("INGEST_MAX_HEIGHT", default=2160)
UPLOAD_MAX_FPS = env.float("INGEST_MAX_FPS", default=60.0)
FFMPEG = env.str("FFMPEG", default="ffmpeg")
FFPROBE = env.str("FFPROBE", default="ffprobe")
# Processing (api.uploads.processing): its own queue, served by `celery worker -Q <queue>` with
# UPLOAD_TRANSCODE_CONCURRENCY processes, its ffmpegs at `nice` UPLOAD_NICE (live ffmpegs: 0).
UPLOAD_QUEUE = env.str("UPLOAD_QUEUE", default="uploads")
# One process per core: each piece's ffmpeg uses UPLOAD_FFMPEG_THREADS (1) threads.
UPLOAD_TRANSCODE_CONCURRENCY = env.int("UPLOAD_TRANSCODE_CONCURRENCY", default=os.cpu_count() or 1)
UPLOAD_NICE = env.int("UPLOAD_NICE", default=10)
UPLOAD_PIECE_SECONDS = env.float("UPLOAD_PIECE_SECONDS", default=60.0)
UPLOAD_FIRST_PIECE_SECONDS = env.float("UPLOAD_FIRST_PIECE_SECONDS", default=10.0)
UPLOAD_X264_PRESET = env.str("UPLOAD_X264_PRESET", default="veryfast")
UPLOAD_FFMPEG_THREADS = env.int("UPLOAD_FFMPEG_THREADS", default=1)
UPLOAD_PROBE_TIMEOUT_SECONDS = env.float("UPLOAD_PROBE_TIMEOUT_SECONDS", default=60.0)
UPLOAD_SPLIT_TIMEOUT_SECONDS = env.float("UPLOAD_SPLIT_TIMEOUT_SECONDS", default=1800.0)
UPLOAD_PIECE_TIMEOUT_SECONDS = env.float("UPLOAD_PIECE_TIMEOUT_SECONDS", default=1800.0)
UPLOAD_HEARTBEAT_SECONDS = env.float("UPLOAD_HEARTBEAT_SECONDS", default=2.0)
UPLOAD_STALE_SECONDS = env.float("UPLOAD_STALE_SECONDS", default=30.0)
UPLOAD_PIECE_RETRIES = env.int("UPLOAD_PIECE_RETRIES", default=2)

# --- Celery ------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=3.0)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="tidecast")
# Periodic jobs, run by `celery beat` (embedded in the worker by `make run`: `worker --beat`).
CELERY_BEAT_SCHEDULE = {
    # A live video whose ingest died ends within LIVE_HEARTBEAT_TIMEOUT_SECONDS plus this (one query).
    "end-stale-live-videos": {"task": "videos.end_stale_live", "schedule": 5.0},
    "prune-activity": {"task": "activity.prune", "schedule": 3600.0},
    # Webhook retries further off than a few minutes, and deliveries whose message was lost.
    "sweep-webhook-deliveries": {"task": "webhooks.sweep", "schedule": 15.0},
    "prune-webhook-deliveries": {"task": "webhooks.prune", "schedule": 3600.0},
    # Recordings past RECORDING_RETENTION_DAYS, and stored folders no video owns (reported).
    "expire-recordings": {"task": "usage.expire_recordings", "schedule": 3600.0},
    "report-orphaned-objects": {"task": "usage.report_orphans", "schedule": 6 * 3600.0},
    # Private videos' markers in their HLS folders (hls_out/tokens.py) agree with the database.
    "reconcile-private-markers": {"task": "videos.reconcile_private_markers", "schedule": 60.0},
    # Unfinished uploads past UPLOAD_EXPIRY_HOURS lose their bytes within this many seconds.
    # A piece whose worker died is queued again within UPLOAD_STALE_SECONDS plus this.
    "requeue-stale-upload-pieces": {"task": "uploads.requeue_stale", "schedule": 10.0},
    "expire-uploads": {
        "task": "uploads.expire",
        "schedule": env.float("UPLOAD_EXPIRE_EVERY_SECONDS", default=600.0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Test suite only: every picture task sleeps this long first, so a worker can be killed mid-task.
WORKER_TEST_TASK_DELAY_SECONDS = env.float("WORKER_TEST_TASK_DELAY_SECONDS", default=0.0)

# --- Activity log ------------------------------------------------------------------------------
# Entries older than this are deleted by the hourly `activity.prune` task.
ACTIVITY_RETENTION_DAYS = env.int("ACTIVITY_RETENTION_DAYS", default=90)

# --- Webhooks ----------------------------------------------------------------------------------
# Send to loopback, private and link-local addresses too (local settings and tests only): off, a
# target resolving to one is refused at every send.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# Connect, send and each read of an attempt; an endpoint that does not answer in time has failed.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Pauses (seconds) before each retry, +-10% jitter: 8 tries over about 27 hours.
WEBHOOK_RETRY_DELAYS = env.list(
    "WEBHOOK_RETRY_DELAYS", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", default=10)
# Past this many undelivered events, an endpoint's new events are dropped (and logged).
WEBHOOK_MAX_PENDING_PER_ENDPOINT = env.int("WEBHOOK_MAX_PENDING_PER_ENDPOINT", default=1000)
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)

# The same setup as the ingest and HLS server: JSON lines with LOG_FORMAT=json.
LOGGING = logging_config(
    env.str("LOG_LEVEL", default="INFO"), parse_log_format(env.str("LOG_FORMAT", default="plain"))
)
# Workers log through LOGGING too, not through Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task metrics (workers/metrics.py): served by the worker on this port when not 0.
WORKER_METRICS_HOST = env.str("WORKER_METRICS_HOST", default="127.0.0.1")
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)

# GET /metrics: with a token, only `Authorization: Bearer <token>`; without, loopback and private peers.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
