"""``/api/v1/`` routes. One view class per path; GET and POST of a collection share it."""

from __future__ import annotations

from django.urls import path, re_path

from changetrack.api import grafana, metrics, reads, timeline, views
from changetrack.api.base import not_found
from changetrack.api.schema_view import SchemaView


class ChangesView(views.ChangeCreateView, reads.ChangeListView):
    pass


class AlertsView(views.AlertCreateView, reads.AlertListView):
    pass


urlpatterns = [
    path("schema", SchemaView.as_view(), name="api-schema"),
    path("services", reads.ServiceListView.as_view(), name="api-services"),
    path("services/<int:pk>", reads.ServiceDetailView.as_view(), name="api-service"),
    path("services/<int:pk>/timeline", timeline.TimelineView.as_view(), name="api-service-timeline"),
    path("services/<int:pk>/suspects", reads.ServiceSuspectsView.as_view(), name="api-service-suspects"),
    path("changes", ChangesView.as_view(), name="api-changes"),
    path("changes/<int:pk>", reads.ChangeDetailView.as_view(), name="api-change"),
    path("alerts", AlertsView.as_view(), name="api-alerts"),
    path("alerts/<int:pk>", reads.AlertDetailView.as_view(), name="api-alert"),
    path("alerts/<int:pk>/suspects", reads.SuspectsView.as_view(), name="api-alert-suspects"),
    path("alerts/<int:pk>/feedback", views.FeedbackView.as_view(), name="api-alert-feedback"),
    path("dependencies", views.DependencyCreateView.as_view(), name="api-dependencies"),
    path("metrics/delivery", metrics.DeliveryMetricsView.as_view(), name="api-metrics-delivery"),
    path("grafana/annotations", grafana.GrafanaAnnotationsView.as_view(), name="api-grafana-annotations"),
    re_path(r"^[\s\S]*$", not_found),
]
