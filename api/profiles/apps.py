from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "api.profiles"
    label = "profiles"
