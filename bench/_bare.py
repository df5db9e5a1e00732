"""The baseline of the receiver benchmark: the same Django stack (settings, middleware, gunicorn), one view
that inserts one row into a one-table. Served by ``gunicorn bench._bare:application``."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

TABLE = "CREATE TABLE IF NOT EXISTS bench_bare (id bigserial PRIMARY KEY, body bytea NOT NULL, received_at timestamptz NOT NULL DEFAULT now())"


@csrf_exempt
def insert_one(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cur:
        cur.execute("INSERT INTO bench_bare (body) VALUES (%s) RETURNING id", [request.body])
        row = cur.fetchone()
    return JsonResponse({"status": "accepted", "id": row[0]}, status=202)


urlpatterns = [path("bare/", insert_one), path("healthz", lambda request: JsonResponse({"status": "ok"}))]
application = get_wsgi_application()
settings.ROOT_URLCONF = __name__  # same settings and middleware as the real app, only this one route
