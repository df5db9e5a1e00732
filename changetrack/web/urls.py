"""Server-rendered pages (every one behind login) and the small JSON endpoints their scripts read."""

from django.contrib.auth import views as auth_views
from django.urls import path

from changetrack.web import (
    alerts,
    audit_log,
    changes,
    delivery,
    feed,
    incidents,
    integrations,
    live,
    pages,
    preferences,
    routing,
    search,
    servicemap,
    unmapped,
)
from changetrack.web.login_throttle import ThrottledLoginForm

app_name = "web"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(authentication_form=ThrottledLoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", pages.service_list, name="services"),
    path("services/<int:pk>/", pages.service_detail, name="service"),
    path("services/<int:pk>/timeline.json", pages.service_timeline_json, name="service_timeline"),
    path("services/<int:pk>/events/", pages.service_events, name="service_events"),
    path("services/<int:pk>/likely/", pages.service_suspects, name="service_suspects"),
    path("changes/", feed.feed, name="feed"),
    path("changes/<int:pk>/", changes.change_detail, name="change"),
    path("alerts/", incidents.alert_list, name="alerts"),
    path("alerts/<int:pk>/", alerts.alert_detail, name="alert"),
    path("alerts/<int:pk>/timeline.json", alerts.alert_timeline_json, name="alert_timeline"),
    path("alerts/<int:pk>/feedback/", alerts.alert_feedback, name="alert_feedback"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident"),
    path("integrations/", integrations.integration_list, name="integrations"),
    path("integrations/routing/", routing.rule_list, name="routing"),
    path("integrations/routing/<int:pk>/delete/", routing.rule_delete, name="routing_delete"),
    path("integrations/new/<slug:slug>/", integrations.connection_new, name="connection_new"),
    path("integrations/<uuid:pk>/", integrations.connection_detail, name="connection"),
    path("integrations/<uuid:pk>/replay/", integrations.connection_replay, name="connection_replay"),
    path("delivery/", delivery.delivery_metrics, name="delivery"),
    path("unmapped/", unmapped.unmapped_list, name="unmapped"),
    path("unmapped/map/", unmapped.map_group, name="unmapped_map"),
    path("map/", servicemap.map_page, name="map"),
    path("map/graph.json", servicemap.graph_json, name="map_graph"),
    path("search/", search.search, name="search"),
    path("live.json", live.live, name="live"),
    path("audit/", audit_log.audit_log, name="audit"),
    path("preferences/times/", preferences.set_times, name="preference_times"),
]
