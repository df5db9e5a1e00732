from django.apps import AppConfig


class ChangetrackConfig(AppConfig):
    name = "changetrack"
    verbose_name = "changetrack"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from changetrack import signals  # noqa: F401 - connects the receivers
        from changetrack.notify import hooks  # noqa: F401 - connects the push destinations' receivers
