"""The search index on changes (``changetrack.search``): a GIN index on the terms of each change, created on the
partitioned parent so every partition (and every partition created later, on ATTACH) gets its own.

The expression is frozen here as it was when this migration was written; ``changetrack.search.INDEX_TERMS_SQL``
must stay equal to it (a test checks) or queries stop using the index."""

from django.db import migrations

TERMS = (
    "array_to_tsvector(array_remove(regexp_split_to_array(lower("
    "commit_sha || ' ' || actor"
    " || ' ' || coalesce(details ->> 'flag', '')"
    " || ' ' || coalesce(details ->> 'new_image', '')"
    " || ' ' || jsonb_path_query_array(details, '$.images.*')::text"
    " || ' ' || jsonb_path_query_array(details, '$.version.** ? (@.type() == \"string\")')::text"
    " || ' ' || coalesce(details ->> 'revision', '')"
    " || ' ' || jsonb_path_query_array(diff, '$[*] ? (@.path like_regex \"image\").after')::text"
    r"), '[\s,;:/=\"''\[\]{}()<>|&!*\\]+'), ''))"
)


class Migration(migrations.Migration):
    dependencies = [
        ("changetrack", "0012_pages"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS change_search ON changetrack_change USING gin (({TERMS}))",
            reverse_sql="DROP INDEX IF EXISTS change_search",
        ),
    ]
