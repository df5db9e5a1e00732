from django.apps import AppConfig


class WebConfig(AppConfig):
    """The pages; an app of its own only so its template tags (``{% load ct %}``) are found."""

    name = "changetrack.web"
    label = "web"
    verbose_name = "changetrack pages"
