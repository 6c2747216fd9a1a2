from django.apps import AppConfig


class ActivityConfig(AppConfig):
    name = "api.activity"
    label = "activity"
    default_auto_field = "django.db.models.BigAutoField"
