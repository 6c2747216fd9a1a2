"""The default file storage on an S3-compatible store (django-storages), from the STORAGE_S3_*
settings; `tidecast_common.object_store` reads the same variables for the other processes."""

from __future__ import annotations

from typing import Any

from tidecast_common.object_store import MEDIA_PREFIX


def s3_media_storage(
    *, endpoint: str, bucket: str, access_key: str, secret_key: str, region: str
) -> dict[str, Any]:
    """A STORAGES entry: pictures and thumbnails below `media/` in the bucket, private objects
    (no ACL; URLs signed for an hour), with bounded timeouts and retries."""
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "endpoint_url": endpoint,
            "bucket_name": bucket,
            "access_key": access_key,
            "secret_key": secret_key,
            "region_name": region,
            "location": MEDIA_PREFIX.rstrip("/"),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": 3600,
            "file_overwrite": False,
            # client_config overrides addressing_style and signature_version: both are set in it.
            "client_config": Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=3,
                read_timeout=10,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=16,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        },
    }
