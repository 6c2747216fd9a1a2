"""Move every private video's stored HLS objects below the private prefix (and, with `--all`,
every other video's out of it): for objects stored before private videos had a prefix of their
own, or after a move task gave up. Idempotent; safe to run while the stack runs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.usage.objects import object_store, video_objects_move
from api.videos.models import Video, VideoVisibility


class Command(BaseCommand):
    help = (
        "Move stored HLS objects to the prefix of their video's visibility (private videos only, or --all)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="every video, not only the private ones")

    def handle(self, *args: Any, **options: Any) -> None:
        if object_store() is None:
            raise CommandError("no object store is configured (STORAGE_S3_ENDPOINT is unset)")
        videos = Video.objects.order_by("pk")
        if not options["all"]:
            videos = videos.filter(visibility=VideoVisibility.PRIVATE)
        checked = moved = 0
        for video_url in videos.values_list("url", flat=True).iterator(chunk_size=500):
            checked += 1
            moved += video_objects_move(video_url=video_url)
        self.stdout.write(f"{checked} videos checked, {moved} objects moved")
