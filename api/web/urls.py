from django.urls import path

from api.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("watch/<str:url>", views.watch, name="watch"),
    path("c/<str:name>", views.channel, name="channel"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("login/", views.login, name="login"),
    path("signup/", views.signup, name="signup"),
]
