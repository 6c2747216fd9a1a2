"""The S3-compatible object store, for the processes that are not Django (and for Django's own
HLS objects): its settings, the object keys of the HLS layout, and a small boto3 client.

Keys in the bucket (the HLS tree keeps the names of `tidecast_common.layout`, so a master's
relative variant URIs resolve in the bucket as on disk):

    hls/<url>.m3u8                       master playlist
    hls/<url>/<rendition>/index.m3u8     variant playlist
    hls/<url>/<rendition>/seg_00001.ts   segments
    private/hls/<url>...                 the same, for a private video (never behind a CDN)
    media/...                            pictures and thumbnails (django-storages, `location`)
    uploads/<url>/...                    upload originals

The store is configured when `STORAGE_S3_ENDPOINT` and `STORAGE_S3_BUCKET` are set (with the access
key, secret key and optionally region and public URL); the file system under `data/` is used
otherwise. Objects are never given a public ACL: a public bucket or a CDN in front of it is the
operator's choice, and private videos are never played from `STORAGE_S3_PUBLIC_URL`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidecast_common.env import Env, SettingsError
from tidecast_common.layout import PLAYLIST_SUFFIX, master_name

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

HLS_PREFIX = "hls/"
# A private video's HLS objects: a public bucket policy or CDN origin exposes `hls/` and `media/`
# only, so a private video's objects are never public objects (docs/operations.md).
PRIVATE_HLS_PREFIX = "private/hls/"
MEDIA_PREFIX = "media/"
UPLOADS_PREFIX = "uploads/"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
}
PLAYLIST_CACHE = "no-cache"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
DELETE_BATCH = 1000  # S3's DeleteObjects limit


def hls_prefix(*, private: bool = False) -> str:
    """The one place deciding where a video's HLS objects live: private videos apart."""
    return PRIVATE_HLS_PREFIX if private else HLS_PREFIX


def hls_key(relative: str, *, private: bool = False) -> str:
    """The key of a file below the HLS root, by its path relative to the root (`<url>/720p/x.ts`)."""
    return hls_prefix(private=private) + relative.lstrip("/")


def master_key(video_url: str, *, private: bool = False) -> str:
    return hls_key(master_name(video_url), private=private)


def video_prefix(video_url: str, *, private: bool = False) -> str:
    """Every rendition object of a video is below this prefix (the master sits beside it)."""
    return f"{hls_prefix(private=private)}{video_url}/"


def upload_prefix(video_url: str) -> str:
    return f"{UPLOADS_PREFIX}{video_url}/"


def content_fields(key: str) -> dict[str, str]:
    """The Content-Type and Cache-Control an HLS object is stored with (served as-is by a CDN)."""
    suffix = key[key.rfind(".") :]
    fields: dict[str, str] = {}
    if suffix in CONTENT_TYPES:
        fields["ContentType"] = CONTENT_TYPES[suffix]
        fields["CacheControl"] = PLAYLIST_CACHE if suffix == PLAYLIST_SUFFIX else SEGMENT_CACHE
    return fields


@dataclass(frozen=True, slots=True)
class ObjectStoreSettings:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    # A CDN or public bucket URL in front of the bucket ("" when there is none).
    public_url: str = ""
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    # boto3's own attempts per call (standard retry mode: backoff with jitter).
    max_attempts: int = 3
    max_pool_connections: int = 16

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ObjectStoreSettings | None:
        """The store's settings, or None when no store is configured (the file system is used)."""
        env = Env(environ)
        endpoint = env.text("STORAGE_S3_ENDPOINT")
        bucket = env.text("STORAGE_S3_BUCKET")
        if not endpoint and not bucket:
            return None
        if not endpoint or not bucket:
            raise SettingsError("STORAGE_S3_ENDPOINT and STORAGE_S3_BUCKET are set together")
        return cls(
            endpoint=endpoint.rstrip("/"),
            bucket=bucket,
            access_key=env.required("STORAGE_S3_ACCESS_KEY"),
            secret_key=env.required("STORAGE_S3_SECRET_KEY"),
            region=env.text("STORAGE_S3_REGION", "us-east-1"),
            public_url=env.text("STORAGE_S3_PUBLIC_URL").rstrip("/"),
            connect_timeout=env.number("STORAGE_S3_CONNECT_TIMEOUT", 3.0, minimum=0.1, maximum=60.0),
            read_timeout=env.number("STORAGE_S3_READ_TIMEOUT", 10.0, minimum=0.1, maximum=600.0),
            max_attempts=env.integer("STORAGE_S3_MAX_ATTEMPTS", 3, minimum=1, maximum=20),
            max_pool_connections=env.integer("STORAGE_S3_MAX_CONNECTIONS", 16, minimum=1, maximum=1024),
        )


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int


class ObjectStore:
    """put/get/delete/list by prefix on one bucket. Blocking (boto3): call it from a thread in
    async code. Thread-safe: boto3 clients may be shared between threads."""

    def __init__(self, settings: ObjectStoreSettings, *, client: S3Client | None = None) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.client: S3Client = client or new_client(settings)

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put_file(self, key: str, path: Path | str) -> int:
        """One PUT of the file (segments and playlists are small); returns its size."""
        with Path(path).open("rb") as body:
            data = body.read()
        self.put_bytes(key, data)
        return len(data)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **content_fields(key))  # type: ignore[arg-type]

    def get_bytes(self, key: str, *, max_bytes: int) -> bytes | None:
        """The object, or None when there is none; an object above `max_bytes` is refused."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _not_found(error):
                return None
            raise
        body = answer["Body"]
        try:
            data = body.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ValueError(f"object {key} is larger than {max_bytes} bytes")
            return data
        finally:
            body.close()

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as error:
            if _not_found(error):
                return None
            raise

    def list_prefix(self, prefix: str) -> Iterator[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                yield StoredObject(key=item["Key"], size=item["Size"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_keys(self, keys: list[str]) -> int:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
        return len(keys)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object below `prefix` (which must name a folder: it ends with "/")."""
        if not prefix.endswith("/") or prefix.strip("/") == "":
            raise ValueError("a prefix to delete names one folder")
        return self.delete_keys([item.key for item in self.list_prefix(prefix)])

    def video_hls_objects(self, video_url: str, *, private: bool) -> list[StoredObject]:
        """A video's HLS objects below one of the two prefixes (public or private)."""
        found = list(self.list_prefix(video_prefix(video_url, private=private)))
        master = master_key(video_url, private=private)
        master_size = self.size(master)
        if master_size is not None:
            found.append(StoredObject(key=master, size=master_size))
        return found

    def video_objects(self, video_url: str) -> list[StoredObject]:
        """Every HLS object (below either prefix) and upload original of one video."""
        return [
            *self.video_hls_objects(video_url, private=False),
            *self.video_hls_objects(video_url, private=True),
            *self.list_prefix(upload_prefix(video_url)),
        ]

    def video_move(self, video_url: str, *, private: bool) -> int:
        """Move a video's HLS objects to the prefix its visibility names (copy, then delete the
        source): idempotent, a repeated or interrupted move finishes the job. Segments first and
        the master last, so the destination never lists what it does not hold yet."""
        source = self.video_hls_objects(video_url, private=not private)
        source.sort(
            key=lambda item: (
                item.key.endswith(".m3u8"),
                "/" not in item.key[len(hls_prefix(private=not private)) :],
                item.key,
            )
        )
        origin, target = hls_prefix(private=not private), hls_prefix(private=private)
        for item in source:
            key = target + item.key[len(origin) :]
            self.client.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": item.key},
                MetadataDirective="COPY",
            )
        return self.delete_keys([item.key for item in source])

    def video_delete(self, video_url: str) -> int:
        """Remove every HLS object and upload original of one video; returns how many."""
        keys = [item.key for item in self.video_objects(video_url)]
        return self.delete_keys(keys)


def new_client(settings: ObjectStoreSettings) -> S3Client:
    """A boto3 S3 client with timeouts, bounded retries and a bounded connection pool."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        max_pool_connections=settings.max_pool_connections,
        s3={"addressing_style": "path"},
        # Integrity checksums only where the API requires them (S3-compatible stores vary).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session()
    client: Any = session.client(
        "s3",
        endpoint_url=settings.endpoint,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        config=config,
    )
    return client  # type: ignore[no-any-return]


def _not_found(error: Exception) -> bool:
    response: dict[str, Any] = getattr(error, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in {"404", "NoSuchKey", "NotFound"} or status == 404
