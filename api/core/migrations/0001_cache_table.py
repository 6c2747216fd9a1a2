"""The database cache's table (CACHE_URL=dbcache://..., the default), made by `migrate`."""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    # Creates the table of every DatabaseCache in CACHES; does nothing for other cache backends.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
