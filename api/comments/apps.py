from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CommentsConfig(AppConfig):
    name = "api.comments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from api.comments.polling import forget_watchable
        from api.videos.models import Video

        post_save.connect(forget_watchable, sender=Video, dispatch_uid="comments-forget-watchable-save")
        post_delete.connect(forget_watchable, sender=Video, dispatch_uid="comments-forget-watchable-delete")
