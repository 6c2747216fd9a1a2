from django.apps import AppConfig


class VideosConfig(AppConfig):
    name = "api.videos"
    label = "videos"
