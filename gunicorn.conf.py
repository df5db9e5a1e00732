"""gunicorn settings for every way changetrack's web process runs (``manage.py serve``, the container image).

gunicorn reads ``./gunicorn.conf.py`` by itself; flags on the command line (``--bind``, ``--workers``) override it.
"""

import os

# SIGTERM (an orchestrator stopping the pod, a rolling update): stop accepting, let requests in flight finish for up
# to this many seconds, then stop. Below Kubernetes' default terminationGracePeriodSeconds (30) so the pod ends on
# its own rather than being killed.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "25"))
timeout = 60
threads = 4
# access lines on stdout next to the app's JSON logs: the path without its query string, and our request id
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
