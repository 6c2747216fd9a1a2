"""Profiles and their pictures.

A picture upload is validated here, stored as it came in the private upload storage
(PRIVATE_MEDIA_ROOT, never served: it still holds its EXIF, GPS position included) and the
profile's `avatar_version` bumped; the resize task (workers.tasks) is queued only after commit and
carries (profile id, version). The worker decodes it, writes the public files — the sizes and the
original re-encoded without metadata — and deletes the upload.

Public files are named `avatars/<user>/<version>-<token>-*`, the token an HMAC of user and version
under SECRET_KEY: not guessable from outside, yet the same for every run of one version, so a
repeated task overwrites its own files, an older task finds itself superseded, and the files of
older versions are removed once a newer one is ready.

If the broker cannot be reached the upload is undone (profile restored, upload deleted) and
answered 503: a picture is never left `processing` without a task that will finish it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from api.core.images import validate_image_upload
from api.core.imaging import OUTPUT_EXTENSION, ImageDecodeError, clean_original, square_renditions
from api.core.services import model_update, texts_given
from api.core.tasks import task_enqueue, task_enqueue_on_commit
from api.profiles.models import AvatarStatus, Profile
from api.users.models import User

logger = logging.getLogger(__name__)

AVATAR_SIZES = (64, 128, 256)
AVATAR_RESIZE_TASK = "profiles.avatar_resize"
_ERROR_MAX_LENGTH = Profile._meta.get_field("avatar_error").max_length or 200


class AvatarOutcome(StrEnum):
    READY = "ready"
    FAILED = "failed"
    ALREADY_DONE = "already_done"
    SUPERSEDED = "superseded"
    MISSING = "missing"


def avatar_folder(*, user_id: int) -> str:
    return f"avatars/{user_id}"


def avatar_file_prefix(*, user_id: int, version: int) -> str:
    """`avatars/<user>/<version>-<token>`: every public file of one picture version starts so."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"avatar:{user_id}:{version}".encode(), hashlib.sha256
    ).digest()
    token = base64.urlsafe_b64encode(digest[:18]).decode()
    return f"{avatar_folder(user_id=user_id)}/{version}-{token}"


def avatar_size_name(*, user_id: int, version: int, size: int) -> str:
    return f"{avatar_file_prefix(user_id=user_id, version=version)}-{size}.{OUTPUT_EXTENSION}"


def avatar_upload_name(*, user_id: int, version: int) -> str:
    """Where the raw upload waits for the worker, in the private storage."""
    return f"{avatar_folder(user_id=user_id)}/{version}-upload"


def upload_storage() -> Storage:
    """The private storage: uploads as they came in, read by the worker, never served."""
    return FileSystemStorage(location=settings.PRIVATE_MEDIA_ROOT)


def profile_get_or_create(*, user: User) -> Profile:
    # With its user, whose username every representation of a profile shows.
    profile, _ = Profile.objects.select_related("user").get_or_create(user=user)
    return profile


def profile_update(*, user: User, display_name: str | None = None, bio: str | None = None) -> Profile:
    data = texts_given(display_name=display_name, bio=bio)
    profile, _ = model_update(
        instance=profile_get_or_create(user=user), fields=["display_name", "bio"], data=data
    )
    return profile


def _storage_write(name: str, content: File[bytes], storage: Storage = default_storage) -> str:
    """Write `name` exactly (a deterministic name is overwritten, never suffixed)."""
    if storage.exists(name):
        storage.delete(name)
    content.seek(0)
    return storage.save(name, content)


@dataclass(frozen=True)
class _AvatarState:
    version: int
    status: str
    error: str

    @classmethod
    def of(cls, profile: Profile) -> _AvatarState:
        return cls(profile.avatar_version, profile.avatar_status, profile.avatar_error)


def profile_picture_upload(*, user: User, image: UploadedFile[bytes]) -> Profile:
    """Validate and keep a new picture privately, then queue its processing. Raises InvalidImage
    (400) or QueueUnavailable (503, with everything undone). The public picture (`original`, sizes)
    stays the previous one until the worker has made the new one."""
    validate_image_upload(image, size=image.size or 0)
    profile = profile_get_or_create(user=user)
    uploads = upload_storage()
    name = ""
    try:
        with transaction.atomic():
            profile = Profile.objects.select_for_update().get(pk=profile.pk)
            previous = _AvatarState.of(profile)
            version = previous.version + 1
            name = _storage_write(avatar_upload_name(user_id=user.pk, version=version), image, uploads)
            profile.avatar_version = version
            profile.avatar_status = AvatarStatus.PROCESSING
            profile.avatar_error = ""
            profile.save(update_fields=["avatar_version", "avatar_status", "avatar_error", "updated_at"])
            pending = task_enqueue_on_commit(
                AVATAR_RESIZE_TASK, kwargs={"profile_id": profile.pk, "version": version}
            )
    except BaseException:
        if name:
            uploads.delete(name)
        raise
    if pending.error is not None:
        _avatar_upload_undo(profile_id=profile.pk, version=version, previous=previous, upload=name)
        raise pending.error
    logger.info("profile %s: picture version %s queued", profile.pk, version)
    return profile


def _avatar_upload_undo(*, profile_id: int, version: int, previous: _AvatarState, upload: str) -> None:
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=profile_id)
        if profile.avatar_version != version:
            return  # a newer upload already took over
        profile.avatar_version = previous.version
        profile.avatar_status = previous.status
        profile.avatar_error = previous.error
        profile.save(update_fields=["avatar_version", "avatar_status", "avatar_error", "updated_at"])
    upload_storage().delete(upload)


def profile_avatar_render(*, profile_id: int, version: int) -> AvatarOutcome:
    """Make one picture version public: every avatar size and the original without metadata.
    Safe to run any number of times.

    Storage and database errors propagate (the task retries them); an undecodable picture is
    recorded as failed. The private upload is deleted once the version is ready or failed.
    """
    profile = Profile.objects.select_related("user").filter(pk=profile_id).first()
    if profile is None:
        return AvatarOutcome.MISSING
    if profile.avatar_version != version:
        return AvatarOutcome.SUPERSEDED
    if profile.avatar_status in (AvatarStatus.READY, AvatarStatus.FAILED):
        return AvatarOutcome.ALREADY_DONE
    user_id = profile.user_id
    upload = avatar_upload_name(user_id=user_id, version=version)
    try:
        with upload_storage().open(upload, "rb") as original:
            data = original.read()
    except FileNotFoundError:
        return profile_avatar_fail(
            profile_id=profile_id, version=version, reason="The uploaded picture is missing."
        )
    try:
        renditions = square_renditions(data, sizes=AVATAR_SIZES)
        cleaned, extension = clean_original(data)
    except ImageDecodeError as exc:
        return profile_avatar_fail(profile_id=profile_id, version=version, reason=str(exc))

    prefix = avatar_file_prefix(user_id=user_id, version=version)
    names = {
        str(size): _storage_write(
            avatar_size_name(user_id=user_id, version=version, size=size), ContentFile(rendition.data)
        )
        for size, rendition in renditions.items()
    }
    original_name = _storage_write(f"{prefix}-original.{extension}", ContentFile(cleaned.data))
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=profile_id)
        if profile.avatar_version != version:
            superseded = True
        else:
            superseded = False
            profile.avatar_sizes = dict(sorted(names.items(), key=lambda item: int(item[0])))
            profile.avatar_original.name = original_name
            profile.avatar_status = AvatarStatus.READY
            profile.avatar_error = ""
            profile.save(
                update_fields=[
                    "avatar_sizes",
                    "avatar_original",
                    "avatar_status",
                    "avatar_error",
                    "updated_at",
                ]
            )
    if superseded:
        for name in [*names.values(), original_name]:
            default_storage.delete(name)
        return AvatarOutcome.SUPERSEDED
    upload_storage().delete(upload)
    logger.info("profile %s: picture version %s ready", profile_id, version)
    _avatar_files_prune(user_id=user_id, keep_from_version=version)
    return AvatarOutcome.READY


def profile_avatar_fail(*, profile_id: int, version: int, reason: str) -> AvatarOutcome:
    updated = Profile.objects.filter(
        pk=profile_id, avatar_version=version, avatar_status=AvatarStatus.PROCESSING
    ).update(avatar_status=AvatarStatus.FAILED, avatar_error=reason[:_ERROR_MAX_LENGTH])
    if not updated:
        return AvatarOutcome.SUPERSEDED
    user_id = Profile.objects.filter(pk=profile_id).values_list("user_id", flat=True).first()
    if user_id is not None:
        upload_storage().delete(avatar_upload_name(user_id=user_id, version=version))
    logger.info("profile %s: picture version %s failed: %s", profile_id, version, reason)
    return AvatarOutcome.FAILED


def _avatar_files_prune(*, user_id: int, keep_from_version: int) -> None:
    """Remove the files of versions older than `keep_from_version` (their pictures were replaced),
    public ones and uploads left by superseded versions alike."""
    folder = avatar_folder(user_id=user_id)
    for storage in (default_storage, upload_storage()):
        try:
            _, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        for filename in files:
            prefix = filename.split("-", 1)[0]
            if prefix.isdigit() and int(prefix) < keep_from_version:
                storage.delete(f"{folder}/{filename}")


def profile_avatar_requeue_unfinished() -> int:
    """Queue again every picture still `processing` (a worker start calls this).

    Tasks are idempotent, so a duplicate of a message the broker still holds costs one cheap
    "already done" check; a message lost by a broker without acknowledgements is recovered.
    """
    unfinished = Profile.objects.filter(avatar_status=AvatarStatus.PROCESSING).values_list(
        "pk", "avatar_version"
    )
    count = 0
    for profile_id, version in unfinished.iterator():
        task_enqueue(AVATAR_RESIZE_TASK, kwargs={"profile_id": profile_id, "version": version})
        count += 1
    return count
