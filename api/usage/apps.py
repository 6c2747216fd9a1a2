from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import pre_delete


def _user_deleting(sender: Any, instance: Any, **_: Any) -> None:
    from api.usage.services import user_files_remove_schedule

    user_files_remove_schedule(user=instance)


class UsageConfig(AppConfig):
    name = "api.usage"
    label = "usage"

    def ready(self) -> None:
        # An account deleted any way (the admin, a cascade) takes its files with it.
        pre_delete.connect(_user_deleting, sender=settings.AUTH_USER_MODEL, dispatch_uid="usage-user-files")
