"""Finding a change by what a responder has in hand: a commit SHA (full or a prefix), an image or its tag, a
version, an actor, a feature-flag key.

The search terms of a change are the words of those fields (``INDEX_TERMS_SQL``): ``commit_sha``, ``actor``, the
flag key, the new image and every container image, the version (``{"version": {"from", "to"}}`` or a string), an image a diff changed to
and the revision, lower-cased and split on ``SEPARATORS``. A GIN index on their ``tsvector`` (migration
``0013_change_search``) answers prefix queries (``'91dc32':*``) without reading the table, on every partition.
A query is split the same way and every word must be a prefix of some term of the change, so ``rest-api:1.4``
finds ``registry.example.com/acme/rest-api:1.4.2`` and ``91dc324`` finds the commit ``91dc324e…``.

Why a ``tsvector`` and not trigrams: ``pg_trgm`` is a contrib extension that the embedded PostgreSQL (and some
managed ones) does not ship; prefix matching on lexemes is core PostgreSQL. The terms come from an array, not
the text-search parser, so nothing is stemmed or dropped as a stop word and a SHA or an image stays one term.
The summary is not indexed: the feed's filter already searches it, and keeping the index to these few terms
keeps it small.
"""

from __future__ import annotations

import re

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from changetrack.models import Change

#: characters that separate the words of a term (kept inside words: ``. - _ @ +``)
SEPARATORS = r"[\s,;:/=\"'\[\]{}()<>|&!*\\]+"
MIN_LENGTH, MAX_LENGTH, MAX_WORDS = 3, 200, 8

#: the change's search terms as one immutable expression (``{t}`` qualifies the columns: empty in the index,
#: the table's name in a query that joins others); the index and every query parse to the same expression, so the
#: planner matches them. Changing it needs a migration that rebuilds the index.
_TERMS = (
    "array_to_tsvector(array_remove(regexp_split_to_array(lower("
    "{t}commit_sha || ' ' || {t}actor"
    " || ' ' || coalesce({t}details ->> 'flag', '')"
    " || ' ' || coalesce({t}details ->> 'new_image', '')"
    " || ' ' || jsonb_path_query_array({t}details, '$.images.*')::text"
    " || ' ' || jsonb_path_query_array({t}details, '$.version.** ? (@.type() == \"string\")')::text"
    " || ' ' || coalesce({t}details ->> 'revision', '')"
    " || ' ' || jsonb_path_query_array({t}diff, '$[*] ? (@.path like_regex \"image\").after')::text"
    "), '{separators}'), ''))"
)
INDEX_TERMS_SQL = _TERMS.format(t="", separators=SEPARATORS.replace("'", "''"))
QUERY_TERMS_SQL = _TERMS.format(t='"changetrack_change".', separators=SEPARATORS.replace("'", "''"))


class BadQuery(ValueError):
    """The search text is too short, too long or has no word to look for."""


def words(text: str) -> list[str]:
    """The words of a query, split as the terms are (``SEPARATORS``), lower-cased, duplicates dropped."""
    seen: dict[str, None] = {}
    for word in re.split(SEPARATORS, text.lower()):
        if word:
            seen.setdefault(word, None)
    return list(seen)


def prefix_query(text: str) -> str:
    """The ``tsquery`` (as text) asking that every word of ``text`` prefix some term: ``'91dc32':* & 'alice':*``.

    Raises :class:`BadQuery` for fewer than ``MIN_LENGTH`` characters (a two-letter prefix matches half the
    table), more than ``MAX_LENGTH``, or more than ``MAX_WORDS`` words."""
    stripped = text.strip()
    if len(stripped) < MIN_LENGTH:
        raise BadQuery(f"Type at least {MIN_LENGTH} characters.")
    if len(stripped) > MAX_LENGTH:
        raise BadQuery(f"At most {MAX_LENGTH} characters.")
    found = words(stripped)
    if not found:
        raise BadQuery("Type a SHA, an image, a version, a person or a flag key.")
    if len(found) > MAX_WORDS:
        raise BadQuery(f"At most {MAX_WORDS} words.")
    # a quoted lexeme is taken as is by the tsquery input (no parser): only ' and \ need escaping
    return " & ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "':*" for w in found)


def condition(text: str) -> RawSQL:
    """A filter condition: the change's terms match every word of ``text`` (see :func:`prefix_query`, which
    raises :class:`BadQuery`). Combine it with ``Q`` objects or pass it to ``filter()``."""
    # the SQL is a constant of this module; the searched text is a bound parameter
    return RawSQL(f"({QUERY_TERMS_SQL}) @@ %s::tsquery", [prefix_query(text)], output_field=BooleanField())  # noqa: S611


def matching(queryset: QuerySet[Change], text: str) -> QuerySet[Change]:
    """``queryset`` narrowed to the changes whose terms match every word of ``text``."""
    return queryset.filter(condition(text))
