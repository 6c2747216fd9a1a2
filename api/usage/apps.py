from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "api.usage"
    label = "usage"
