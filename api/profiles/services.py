"""Profiles and their pictures.

A picture upload is validated here, its original stored under a deterministic name and the
profile's `avatar_version` bumped; the resize task (workers.tasks) is queued only after commit and
carries (profile id, version). Every version owns the files `avatars/<user>/<version>-*`, so a
repeated task overwrites its own files, an older task finds itself superseded, and the files of
older versions are removed once a newer one is ready.

If the broker cannot be reached the upload is undone (profile restored, original deleted) and
answered 503: a picture is never left `processing` without a task that will finish it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from api.core.images import validate_image_upload
from api.core.imaging import OUTPUT_EXTENSION, ImageDecodeError, square_renditions
from api.core.services import model_update, texts_given
from api.core.tasks import task_enqueue, task_enqueue_on_commit
from api.profiles.models import AvatarStatus, Profile
from api.users.models import User

logger = logging.getLogger(__name__)

AVATAR_SIZES = (64, 128, 256)
AVATAR_RESIZE_TASK = "profiles.avatar_resize"
_ORIGINAL_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
_ERROR_MAX_LENGTH = Profile._meta.get_field("avatar_error").max_length or 200


class AvatarOutcome(StrEnum):
    READY = "ready"
    FAILED = "failed"
    ALREADY_DONE = "already_done"
    SUPERSEDED = "superseded"
    MISSING = "missing"


def avatar_folder(*, user_id: int) -> str:
    return f"avatars/{user_id}"


def avatar_size_name(*, user_id: int, version: int, size: int) -> str:
    return f"{avatar_folder(user_id=user_id)}/{version}-{size}.{OUTPUT_EXTENSION}"


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


def _storage_write(name: str, content: File[bytes]) -> str:
    """Write `name` exactly (a deterministic name is overwritten, never suffixed)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    content.seek(0)
    return default_storage.save(name, content)


@dataclass(frozen=True)
class _AvatarState:
    version: int
    status: str
    error: str
    original: str

    @classmethod
    def of(cls, profile: Profile) -> _AvatarState:
        return cls(
            profile.avatar_version,
            profile.avatar_status,
            profile.avatar_error,
            profile.avatar_original.name or "",
        )


def profile_picture_upload(*, user: User, image: UploadedFile[bytes]) -> Profile:
    """Validate and store a new picture, then queue its resizing. Raises InvalidImage (400) or
    QueueUnavailable (503, with everything undone)."""
    info = validate_image_upload(image, size=image.size or 0)
    profile = profile_get_or_create(user=user)
    name = ""
    try:
        with transaction.atomic():
            profile = Profile.objects.select_for_update().get(pk=profile.pk)
            previous = _AvatarState.of(profile)
            version = previous.version + 1
            original = (
                f"{avatar_folder(user_id=user.pk)}/{version}-original.{_ORIGINAL_EXTENSIONS[info.format]}"
            )
            name = _storage_write(original, image)
            profile.avatar_version = version
            profile.avatar_status = AvatarStatus.PROCESSING
            profile.avatar_error = ""
            profile.avatar_original.name = name
            profile.save(
                update_fields=[
                    "avatar_version",
                    "avatar_status",
                    "avatar_error",
                    "avatar_original",
                    "updated_at",
                ]
            )
            pending = task_enqueue_on_commit(
                AVATAR_RESIZE_TASK, kwargs={"profile_id": profile.pk, "version": version}
            )
    except BaseException:
        if name:
            default_storage.delete(name)
        raise
    if pending.error is not None:
        _avatar_upload_undo(profile_id=profile.pk, version=version, previous=previous, original=name)
        raise pending.error
    logger.info("profile %s: picture version %s queued", profile.pk, version)
    return profile


def _avatar_upload_undo(*, profile_id: int, version: int, previous: _AvatarState, original: str) -> None:
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=profile_id)
        if profile.avatar_version != version:
            return  # a newer upload already took over
        profile.avatar_version = previous.version
        profile.avatar_status = previous.status
        profile.avatar_error = previous.error
        profile.avatar_original.name = previous.original
        profile.save(
            update_fields=["avatar_version", "avatar_status", "avatar_error", "avatar_original", "updated_at"]
        )
    default_storage.delete(original)


def profile_avatar_render(*, profile_id: int, version: int) -> AvatarOutcome:
    """Resize one picture version to every avatar size. Safe to run any number of times.

    Storage and database errors propagate (the task retries them); an undecodable picture is
    recorded as failed.
    """
    profile = Profile.objects.select_related("user").filter(pk=profile_id).first()
    if profile is None:
        return AvatarOutcome.MISSING
    if profile.avatar_version != version:
        return AvatarOutcome.SUPERSEDED
    if profile.avatar_status in (AvatarStatus.READY, AvatarStatus.FAILED):
        return AvatarOutcome.ALREADY_DONE
    try:
        with default_storage.open(profile.avatar_original.name or "", "rb") as original:
            data = original.read()
    except FileNotFoundError:
        return profile_avatar_fail(
            profile_id=profile_id, version=version, reason="The uploaded picture is missing."
        )
    try:
        renditions = square_renditions(data, sizes=AVATAR_SIZES)
    except ImageDecodeError as exc:
        return profile_avatar_fail(profile_id=profile_id, version=version, reason=str(exc))

    user_id = profile.user_id
    names = {
        str(size): _storage_write(
            avatar_size_name(user_id=user_id, version=version, size=size), ContentFile(rendition.data)
        )
        for size, rendition in renditions.items()
    }
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=profile_id)
        if profile.avatar_version != version:
            superseded = True
        else:
            superseded = False
            profile.avatar_sizes = dict(sorted(names.items(), key=lambda item: int(item[0])))
            profile.avatar_status = AvatarStatus.READY
            profile.avatar_error = ""
            profile.save(update_fields=["avatar_sizes", "avatar_status", "avatar_error", "updated_at"])
    if superseded:
        for name in names.values():
            default_storage.delete(name)
        return AvatarOutcome.SUPERSEDED
    logger.info("profile %s: picture version %s ready", profile_id, version)
    _avatar_files_prune(user_id=user_id, keep_from_version=version)
    return AvatarOutcome.READY


def profile_avatar_fail(*, profile_id: int, version: int, reason: str) -> AvatarOutcome:
    updated = Profile.objects.filter(
        pk=profile_id, avatar_version=version, avatar_status=AvatarStatus.PROCESSING
    ).update(avatar_status=AvatarStatus.FAILED, avatar_error=reason[:_ERROR_MAX_LENGTH])
    if not updated:
        return AvatarOutcome.SUPERSEDED
    logger.info("profile %s: picture version %s failed: %s", profile_id, version, reason)
    return AvatarOutcome.FAILED


def _avatar_files_prune(*, user_id: int, keep_from_version: int) -> None:
    """Remove the files of versions older than `keep_from_version` (their pictures were replaced)."""
    folder = avatar_folder(user_id=user_id)
    try:
        _, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for filename in files:
        prefix = filename.split("-", 1)[0]
        if prefix.isdigit() and int(prefix) < keep_from_version:
            default_storage.delete(f"{folder}/{filename}")


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
