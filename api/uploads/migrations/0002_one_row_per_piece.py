"""One UploadPiece row per piece producing all its renditions (a quick row for the first piece's
lowest rendition), instead of one row per piece x rendition.

The rows of an upload still processing are merged per piece: the merged row keeps the id of the
piece's first row (a queued task naming it still runs it; tasks naming the others find nothing),
the segments already made, and is done only if every rendition was; else it makes the renditions
left. `upload_requeue_stale` and a repeated `upload_process` queue what is left.
"""

from django.db import migrations, models


def merge_rows(apps, schema_editor):
    UploadPiece = apps.get_model("uploads", "UploadPiece")
    groups: dict[tuple[object, int], list] = {}
    for row in UploadPiece.objects.order_by("id"):
        groups.setdefault((row.upload_id, row.index), []).append(row)
    for rows in groups.values():
        keep, *others = rows
        done = [row for row in rows if row.status == "done"]
        left = [row.rendition for row in rows if row.status != "done"]
        keep.renditions_new = left or [row.rendition for row in rows]
        keep.segments_new = {row.rendition: row.segments for row in done}
        keep.status = (
            "done" if not left else ("failed" if any(r.status == "failed" for r in rows) else "pending")
        )
        keep.save(update_fields=["renditions_new", "segments_new", "status"])
        UploadPiece.objects.filter(pk__in=[row.pk for row in others]).delete()


class Migration(migrations.Migration):
    dependencies = [("uploads", "0001_upload")]

    operations = [
        migrations.RemoveConstraint(model_name="uploadpiece", name="one_row_per_piece_rendition"),
        migrations.AddField(
            model_name="uploadpiece", name="renditions_new", field=models.JSONField(default=list)
        ),
        migrations.AddField(
            model_name="uploadpiece", name="segments_new", field=models.JSONField(blank=True, default=dict)
        ),
        migrations.RunPython(merge_rows, migrations.RunPython.noop),
        migrations.RemoveField(model_name="uploadpiece", name="rendition"),
        migrations.RemoveField(model_name="uploadpiece", name="segments"),
        migrations.RenameField(model_name="uploadpiece", old_name="renditions_new", new_name="renditions"),
        migrations.RenameField(model_name="uploadpiece", old_name="segments_new", new_name="segments"),
        migrations.AddField(model_name="uploadpiece", name="quick", field=models.BooleanField(default=False)),
        migrations.AddConstraint(
            model_name="uploadpiece",
            constraint=models.UniqueConstraint(fields=("upload", "index", "quick"), name="one_row_per_piece"),
        ),
    ]
