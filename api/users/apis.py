"""Sign up, sign in, refresh and sign out. These endpoints take no access token: a stale cookie
must never stand between a user and the login form."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import (
    MinimumLengthValidator,
    NumericPasswordValidator,
    get_default_password_validators,
    password_validators_help_texts,
)
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.middleware.csrf import get_token, rotate_token
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.core.authentication import enforce_csrf
from api.core.fields import StrictCharField
from api.core.schema import NO_NUL_PATTERN, error_response
from api.core.throttling import SignupRateThrottle, client_ip
from api.users.cookies import auth_cookies_clear, auth_cookies_set
from api.users.services import (
    TokenPair,
    refresh_token_blacklist,
    refresh_token_rotate,
    user_create,
    user_login,
)

# Generous enough for passphrases, small enough that hashing it is no denial of service.
PASSWORD_MAX_LENGTH = 256


def _password_min_length() -> int:
    lengths = [
        validator.min_length
        for validator in get_default_password_validators()
        if isinstance(validator, MinimumLengthValidator)
    ]
    return max(lengths, default=1)


def _password_pattern() -> str:
    """No NUL character, and not only digits when Django's NumericPasswordValidator is on."""
    if any(
        isinstance(validator, NumericPasswordValidator) for validator in get_default_password_validators()
    ):
        return r"^[^\x00]*[^\d\x00][^\x00]*$"
    return NO_NUL_PATTERN


@extend_schema_field(
    {
        "type": "string",
        "writeOnly": True,
        "minLength": _password_min_length(),
        "maxLength": PASSWORD_MAX_LENGTH,
        "pattern": _password_pattern(),
        "description": " ".join(password_validators_help_texts()),
    }
)
class NewPasswordField(StrictCharField):
    """A new password; Django's password validators check it in user_create."""

    def __init__(self) -> None:
        super().__init__(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True)


class TokenPairOutputSerializer(serializers.Serializer[TokenPair]):
    access = serializers.CharField()
    refresh = serializers.CharField()


class PublicAuthApi(APIView):
    """JSON bodies only: a page on another site can post a form (or text/plain) here, never JSON
    without a CORS preflight, so it cannot sign a browser in to an account of its choosing."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes = (JSONParser,)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if response.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response


class SignupApi(PublicAuthApi):
    throttle_classes = (SignupRateThrottle,)

    class SignupInputSerializer(serializers.Serializer[Any]):
        username = StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()])
        email = serializers.EmailField(max_length=254)
        password = NewPasswordField()

    class SignupOutputSerializer(serializers.Serializer[Any]):
        id = serializers.IntegerField()
        username = serializers.CharField()
        email = serializers.EmailField()

    @extend_schema(
        operation_id="auth_signup",
        summary="Create an account",
        request=SignupInputSerializer,
        responses={
            201: SignupOutputSerializer,
            400: error_response("Invalid input, a weak password, or a username or email already in use."),
            429: error_response("Too many sign-ups from this address."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.SignupInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(**serializer.validated_data)
        return Response(self.SignupOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginApi(PublicAuthApi):
    class LoginInputSerializer(serializers.Serializer[Any]):
        username = StrictCharField(max_length=150)
        password = StrictCharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True)

    @extend_schema(
        operation_id="auth_login",
        summary="Sign in: a token pair in the body and in HttpOnly cookies",
        request=LoginInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            400: error_response("Invalid input."),
            401: error_response("Wrong username or password, or an inactive account."),
            429: error_response("Too many failed attempts for this username or address."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.LoginInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tokens = user_login(
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
            client_ip=client_ip(request),
            request=request._request,
        )
        response = Response(TokenPairOutputSerializer(tokens).data)
        auth_cookies_set(response, request=request._request, tokens=tokens)
        # A new CSRF secret for the new session; the middleware sets the csrftoken cookie.
        rotate_token(request._request)
        return response


class RefreshTokenInputSerializer(serializers.Serializer[Any]):
    refresh = StrictCharField(required=False)


# API clients send the refresh token in the body; the web pages' browsers send the cookie instead.
RefreshTokenRequestSchema = inline_serializer(
    "RefreshTokenInput",
    {
        "refresh": StrictCharField(
            help_text=f"The refresh token; a browser may leave the body empty and send the "
            f"{settings.JWT_COOKIE_REFRESH} cookie with the X-CSRFToken header instead."
        )
    },
)


def _refresh_token_from(request: Request) -> str:
    """The refresh token of the body, else of the cookie, which (being sent by the browser on its
    own) then needs the CSRF check."""
    serializer = RefreshTokenInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    raw = serializer.validated_data.get("refresh")
    if raw:
        return str(raw)
    raw = request.COOKIES.get(settings.JWT_COOKIE_REFRESH)
    if not raw:
        raise exceptions.ValidationError({"refresh": ["This field is required."]})
    enforce_csrf(request)
    return raw


class RefreshApi(PublicAuthApi):
    @extend_schema(
        operation_id="auth_refresh",
        summary="Exchange a refresh token (body or cookie) for a new pair; the old one is revoked",
        request=RefreshTokenRequestSchema,
        responses={
            200: TokenPairOutputSerializer,
            400: error_response("No refresh token in the body or the cookie."),
            401: error_response("The refresh token is invalid, expired, revoked or already used."),
            403: error_response("Cookie-based refresh without a valid CSRF token."),
        },
    )
    def post(self, request: Request) -> Response:
        tokens = refresh_token_rotate(raw_refresh=_refresh_token_from(request))
        response = Response(TokenPairOutputSerializer(tokens).data)
        auth_cookies_set(response, request=request._request, tokens=tokens)
        get_token(request._request)  # keep the csrftoken cookie in place
        return response


class LogoutApi(PublicAuthApi):
    @extend_schema(
        operation_id="auth_logout",
        summary="Revoke the refresh token (body or cookie) and clear the cookies",
        request=RefreshTokenRequestSchema,
        responses={
            204: OpenApiResponse(description="Signed out."),
            400: error_response("No refresh token in the body or the cookie."),
            403: error_response("Cookie-based logout without a valid CSRF token."),
        },
    )
    def post(self, request: Request) -> Response:
        refresh_token_blacklist(raw_refresh=_refresh_token_from(request), client_ip=client_ip(request))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        auth_cookies_clear(response)
        return response
