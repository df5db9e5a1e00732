"""The candidate query reads a service's changes from the index alone: (service, occurred_at) with id, kind and
status included, in place of the plain (service, occurred_at) index. It bounds a change's score by its status,
so a change whose ``details.rollout.status`` says its rollout failed and whose status does not is stored as
"failed" from now on (``ingest.changes.stored_status``) and rewritten so here."""

from django.db import migrations, models

FAILED = "'failed','failure','error','errored','degraded','progressdeadlineexceeded','timeout','timed_out'"

BACKFILL = f"""
UPDATE changetrack_change SET status = 'failed'
WHERE kind NOT IN ('commit', 'ci') AND lower(status) NOT IN ({FAILED})
  AND lower(replace(details #>> '{{rollout,status}}', ' ', '')) IN ({FAILED})
"""


class Migration(migrations.Migration):
    dependencies = [
        ("changetrack", "0014_suspect_relation"),
    ]

    operations = [
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="change",
            index=models.Index(
                fields=["service", "-occurred_at"], include=("id", "kind", "status"), name="change_service_cover"
            ),
        ),
        migrations.RemoveIndex(
            model_name="change",
            name="change_service_time",
        ),
    ]
