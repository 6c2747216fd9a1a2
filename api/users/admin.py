from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserCreationForm as DjangoUserCreationForm
from django.http import HttpRequest, HttpResponse

from api.activity.models import ActivityAction
from api.activity.services import activity_record
from api.core.throttling import client_ip
from api.users.models import User


class UserCreationForm(DjangoUserCreationForm):  # type: ignore[type-arg]
    class Meta(DjangoUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):  # type: ignore[type-arg]
    add_form = UserCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ("username", "email", "is_active", "is_staff", "date_joined", "last_login")
    search_fields = ("username", "email")

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        """Django's form; a password set by an admin goes on the account's activity log."""
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            target = self.get_object(request, unquote(id))
            if target is not None:
                activity_record(
                    user=target,
                    action=ActivityAction.PASSWORD_CHANGED,
                    ip=client_ip(request),
                    detail=f"set by the administrator {request.user.get_username()}",
                )
        return response
