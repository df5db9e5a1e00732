"""Replacing an alert's stored suspects in one round trip."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import connection

#: three statements in one string run as one transaction. Why the alert row is updated first: its row lock
#: serialises two rankings of one alert (a late-change recompute and the first ranking may run at once), and
#: the second one's DELETE, a later statement, then sees the first one's rows: the last one wins whole
REPLACE_SQL = """
UPDATE changetrack_alert SET suspects_computed_at = %(at)s WHERE id = %(alert)s;
DELETE FROM changetrack_suspect WHERE alert_id = %(alert)s;
INSERT INTO changetrack_suspect
  (alert_id, change_id, rank, score, hops, relation, path, components, reasons, computed_at)
SELECT %(alert)s, t.change_id, t.rank, t.score, t.hops, t.relation, t.path::jsonb, t.components::jsonb,
       t.reasons::jsonb, %(at)s
FROM unnest(%(changes)s::bigint[], %(ranks)s::int[], %(scores)s::float8[], %(hops)s::int[], %(relations)s::text[],
            %(paths)s::text[], %(components)s::text[], %(reasons)s::text[])
  AS t(change_id, rank, score, hops, relation, path, components, reasons);
"""

Row = tuple[int, float, int, str, list[Any], dict[str, Any], list[str]]


def replace(alert_id: int, computed_at: datetime, rows: list[Row]) -> None:
    """Store ``rows`` (change id, score, hops, relation, path, components, reasons; best first) as the suspects of
    ``alert_id`` ranked from 1, replacing what was stored, and stamp the alert's ``suspects_computed_at``."""
    with connection.cursor() as cur:
        cur.execute(
            REPLACE_SQL,
            {
                "alert": alert_id,
                "at": computed_at,
                "changes": [r[0] for r in rows],
                "ranks": list(range(1, len(rows) + 1)),
                "scores": [float(r[1]) for r in rows],
                "hops": [r[2] for r in rows],
                "relations": [r[3] for r in rows],
                "paths": [json.dumps(r[4]) for r in rows],
                "components": [json.dumps(r[5]) for r in rows],
                "reasons": [json.dumps(r[6]) for r in rows],
            },
        )
