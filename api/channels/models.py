from __future__ import annotations

from django.conf import settings
from django.db import models


class Channel(models.Model):
    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel")
    name = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=120)
    description = models.TextField(max_length=2000, blank=True)
    # The stream key is never stored in clear: an HMAC for lookup, AES-GCM ciphertext so the owner
    # can see it again (the key material lives in settings, not in the database), and a prefix.
    stream_key_hash = models.CharField(max_length=64, unique=True)
    stream_key_ciphertext = models.TextField()
    stream_key_prefix = models.CharField(max_length=12)
    stream_key_rotated_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
