import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")
_django = get_wsgi_application()

from changetrack.infra.chunked import read_chunked_bodies  # noqa: E402 - needs the settings module set above

application = read_chunked_bodies(_django)
