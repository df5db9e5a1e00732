from django.contrib.auth import views as auth_views
from django.urls import path

from changetrack.web import views

app_name = "web"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.service_list, name="services"),
    path("services/<int:pk>/", views.service_detail, name="service"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("changes/<int:pk>/", views.change_detail, name="change"),
]
