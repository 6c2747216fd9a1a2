from django.apps import AppConfig


class RestreamConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api.restream"
    label = "restream"
    verbose_name = "Restreaming"
