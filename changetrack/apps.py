from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _grant_roles(sender: AppConfig, **kwargs: Any) -> None:
    """After every migrate (a test database's flush included): the role groups hold the permissions of the models
    that exist now, so a model added later is granted without a migration of its own."""
    from changetrack.roles import ensure_roles

    ensure_roles(kwargs.get("apps") or sender.apps)


class ChangetrackConfig(AppConfig):
    name = "changetrack"
    verbose_name = "changetrack"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from changetrack import audit, checks, signals  # noqa: F401 - connects the receivers, registers the checks
        from changetrack.ingest import sns
        from changetrack.notify import hooks  # noqa: F401 - connects the push destinations' receivers

        audit.register_defaults()
        sns.install()  # how the AWS integration fetches SNS certificates and confirms subscriptions
        post_migrate.connect(_grant_roles, sender=self, dispatch_uid="changetrack.roles")
