"""The admin's sign-in page behind the same failure counting as the API's login (SignInGuard).

A locked username or address gets 429 with Retry-After before the password is checked; a POST
that does not end signed in (wrong password, not a staff account) counts as a failure.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from api.core.throttling import SignInGuard, client_ip


@sensitive_post_parameters()
@csrf_protect
@never_cache
def admin_login(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return admin.site.login(request)
    guard = SignInGuard(username=str(request.POST.get("username", "")), client_ip=client_ip(request))
    retry_after = guard.locked_for()
    if retry_after:
        response = HttpResponse(
            f"Too many failed sign-ins; try again in {retry_after} s.\n",
            status=429,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(retry_after)
        return response
    response = admin.site.login(request)
    if request.user.is_authenticated and request.user.is_staff:
        guard.record_success()
    else:
        guard.record_failure()
    return response
