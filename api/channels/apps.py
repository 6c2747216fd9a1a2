from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "api.channels"
    label = "channels"
