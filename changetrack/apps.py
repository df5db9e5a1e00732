from django.apps import AppConfig


class ChangetrackConfig(AppConfig):
    name = "changetrack"
    verbose_name = "changetrack"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from changetrack import checks, signals  # noqa: F401 - connects the receivers, registers the checks
