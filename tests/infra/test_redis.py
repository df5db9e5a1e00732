"""The one Redis client (``changetrack.infra.redis``) as the tests configure it."""

from django.conf import settings


def test_tests_use_redis_database_1_so_a_running_system_keeps_its_queue():
    from changetrack.infra import redis as shared_redis
    from tests import testenv

    db = shared_redis.client().connection_pool.connection_kwargs.get("db", 0)
    assert testenv.EXTERNAL_REDIS or db == 1, (settings.REDIS_URL, db)
