from django.apps import AppConfig


class IngestHooksConfig(AppConfig):
    name = "api.ingest_hooks"
    label = "ingest_hooks"
