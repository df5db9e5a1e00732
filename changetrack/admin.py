"""Admin: configuration (clusters, services, aliases, dependencies, connections, tokens), inspection, the audit log."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path

from changetrack import models


@admin.register(models.Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ("name", "env", "created_at")


@admin.register(models.Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "namespace", "cluster", "team", "repository", "workload_kind")
    list_filter = ("cluster", "team")
    search_fields = ("name", "namespace", "repository")


@admin.register(models.ServiceAlias)
class ServiceAliasAdmin(admin.ModelAdmin):
    list_display = ("source", "key", "value", "service")
    autocomplete_fields = ("service",)


@admin.register(models.Dependency)
class DependencyAdmin(admin.ModelAdmin):
    list_display = ("service", "depends_on", "provenance", "evidence", "confidence", "last_seen_at")
    list_filter = ("provenance",)


@admin.register(models.Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "integration", "enabled", "webhook_path", "last_delivery_at")
    readonly_fields = ("webhook_path",)
    exclude = ("secrets_encrypted", "secret_hashes")


@admin.register(models.Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "integration", "event_type", "status", "received_at", "attempts", "error")
    list_filter = ("status", "integration")
    exclude = ("body",)
    readonly_fields = (
        "connection",
        "integration",
        "event_type",
        "delivery_key",
        "headers",
        "received_at",
        "status",
        "error",
        "attempts",
        "records",
        "processed_at",
    )


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # `manage.py create_api_token` makes tokens: the clear token is printed once, only a hash kept

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        from django.utils import timezone

        for token in queryset.filter(revoked_at__isnull=True):  # one save each: each revocation is audited
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])


@admin.register(models.AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only, so no one is offered add, change or delete."""

    list_display = ("at", "actor", "source", "ip", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type", "source")
    search_fields = ("actor", "object_repr", "object_id")
    date_hierarchy = "at"

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


for model in (models.Change, models.Alert, models.HealthEpisode, models.Incident, models.Watermark, models.PollState):
    admin.site.register(model)


@admin.register(models.RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ("connection", "team", "service", "cluster", "namespace", "min_severity", "channel", "silence")
    list_filter = ("connection", "silence", "min_severity")
    raw_id_fields = ("service",)


@admin.register(models.Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("alert", "connection", "channel", "status", "attempts", "sent_at", "last_error_at")
    list_filter = ("status", "connection")
    raw_id_fields = ("alert",)
    readonly_fields = ("channel_id", "ts", "thread_ts", "digest", "version", "last_error", "last_error_at", "sent_at")


def view_on_site(request: HttpRequest, content_type_id: int, object_id: str) -> HttpResponse:
    """Django's "view on site" redirect, with an id the model's primary key cannot hold (text for a UUID) a 404:
    Django's own lets the field's ``ValidationError`` through as a 500."""
    content_type = ContentType.objects.filter(pk=content_type_id).first()
    model = content_type.model_class() if content_type else None
    if model is not None:
        try:
            model._meta.pk.to_python(object_id)
        except ValidationError:
            raise Http404(f"no {model._meta.verbose_name} with id {object_id!r}") from None
    return shortcut(request, content_type_id, object_id)


def site_urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    """``admin.site.urls`` with ``view_on_site`` above in place of Django's (same route, same name)."""
    patterns, app_name, namespace = admin.site.urls
    ours = path("r/<int:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site), name="view_on_site")
    return [ours if getattr(p, "name", None) == "view_on_site" else p for p in patterns], app_name, namespace
