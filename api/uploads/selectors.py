from __future__ import annotations

import uuid

from api.core.errors import NotFound
from api.uploads.models import Upload
from api.users.models import User

NO_UPLOAD = "No upload has that id."


def upload_get_for_owner(*, owner: User, upload_id: str) -> Upload:
    """The owner's upload; anyone else's, or a malformed id, is not found (404)."""
    try:
        key = uuid.UUID(upload_id)
    except ValueError:
        raise NotFound(NO_UPLOAD) from None
    upload = Upload.objects.select_related("video").filter(pk=key, owner=owner).first()
    if upload is None:
        raise NotFound(NO_UPLOAD)
    return upload
