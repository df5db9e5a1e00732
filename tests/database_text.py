"""Every row of every table as text (bytea columns decoded), for tests that assert something is stored nowhere."""

from __future__ import annotations

from django.db import connection


def all_database_text() -> str:
    chunks: list[str] = []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        )
        for (table,) in cur.fetchall():
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = %s ORDER BY ordinal_position",
                [table],
            )
            columns = [
                f"convert_from(\"{name}\", 'UTF8')" if kind == "bytea" else f'"{name}"::text'
                for name, kind in cur.fetchall()
            ]
            cur.execute(f"SELECT concat_ws(' | ', {', '.join(columns)}) FROM \"{table}\"")
            chunks += [f"{table}: {row[0]}" for row in cur.fetchall()]
    return "\n".join(chunks)
