from django.urls import path

from api.users.apis import LoginApi, LogoutApi, RefreshApi, SignupApi

urlpatterns = [
    path("auth/signup", SignupApi.as_view(), name="auth-signup"),
    path("auth/login", LoginApi.as_view(), name="auth-login"),
    path("auth/refresh", RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", LogoutApi.as_view(), name="auth-logout"),
]
