"""Migration 0002 on real PostgreSQL: the rows of an upload in progress (one per piece x
rendition) become one row per piece, keeping what was made."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("uploads", "0001_upload")]
AFTER = [("uploads", "0002_one_row_per_piece")]


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_the_rows_of_a_piece_are_merged_keeping_the_segments_made(creator):
    from tests.factories import VideoFactory

    video = VideoFactory(channel=creator.channel)
    try:
        apps = migrate(BEFORE)
        Upload = apps.get_model("uploads", "Upload")
        Piece = apps.get_model("uploads", "UploadPiece")
        upload = Upload.objects.create(owner_id=creator.pk, video_id=video.pk, length=1, path="x",
                                       expires_at="2030-01-01T00:00:00Z")  # fmt: skip
        made = [[2.0, "seg_p0000_00000.ts"]]
        first = Piece.objects.create(upload=upload, index=0, rendition="144p", status="done", segments=made)
        Piece.objects.create(upload=upload, index=0, rendition="source", status="running")
        second = Piece.objects.create(upload=upload, index=1, rendition="144p", status="done", segments=made)
        Piece.objects.create(upload=upload, index=1, rendition="source", status="done", segments=made)
        apps = migrate(AFTER)
        rows = {
            row.index: row
            for row in apps.get_model("uploads", "UploadPiece").objects.filter(upload_id=upload.pk)
        }
        assert set(rows) == {0, 1}
        assert (rows[0].id, rows[0].status, rows[0].renditions, rows[0].quick) == (first.id, "pending",
                                                                                   ["source"], False)  # fmt: skip
        assert rows[0].segments == {"144p": made}
        assert (rows[1].id, rows[1].status) == (second.id, "done")
        assert rows[1].segments == {"144p": made, "source": made}
    finally:
        migrate(AFTER)
