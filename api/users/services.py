"""Accounts: sign up, sign in, refresh-token rotation and revocation."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from api.activity.models import ActivityAction
from api.activity.services import activity_record
from api.core.throttling import SignInGuard
from api.users.errors import InvalidCredentials, InvalidRefreshToken, TooManyAttempts
from api.users.models import User
from api.users.selectors import user_email_taken, user_get_active, user_username_taken

USERNAME_TAKEN = "A user with that username already exists."
EMAIL_TAKEN = "A user with that email already exists."


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def user_create(*, username: str, email: str, password: str) -> User:
    """A new active user; every broken rule is reported at once, per field (Django ValidationError)."""
    username = User.normalize_username(username)
    email = User.objects.normalize_email(email)
    user = User(username=username, email=email)
    errors = _taken_fields(username=username, email=email)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Lost a race with a concurrent sign-up of the same name or email.
        raise ValidationError(_taken_fields(username=username, email=email) or USERNAME_TAKEN) from None
    return user


def user_login(
    *, username: str, password: str, client_ip: str, request: HttpRequest | None = None
) -> TokenPair:
    """Tokens for valid credentials of an active user.

    Failures are counted per username and per client IP; while either is locked the attempt is
    refused before the password is even checked, so a lockout cannot be used as an oracle.
    """
    guard = SignInGuard(username=username, client_ip=client_ip)
    retry_after = guard.locked_for()
    if retry_after:
        raise TooManyAttempts(retry_after=retry_after)
    # ModelBackend refuses inactive users and hashes anyway for unknown ones (same timing).
    user = authenticate(request, username=username, password=password)
    if user is None:
        guard.record_failure()
        _record_failed_sign_in(username=username, client_ip=client_ip)
        raise InvalidCredentials
    guard.record_success()
    update_last_login(type(user), user)
    activity_record(user=user, action=ActivityAction.SIGN_IN, ip=client_ip)
    return _issue_tokens(user)


def _record_failed_sign_in(*, username: str, client_ip: str) -> None:
    """On the log of the account it named, if one exists (never the password that was tried)."""
    target = User.objects.filter(username__iexact=User.normalize_username(username)).first()
    if target is not None:
        activity_record(user=target, action=ActivityAction.SIGN_IN_FAILED, ip=client_ip)


def refresh_token_rotate(*, raw_refresh: str) -> TokenPair:
    """A new pair for a valid refresh token, which is blacklisted in the same step.

    The blacklist row is unique per token, so of two concurrent uses of one token only one wins.
    """
    refresh = _verified_refresh(raw_refresh)
    user_id = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
    user = None if user_id is None else user_get_active(user_id=user_id)
    if user is None:
        raise InvalidRefreshToken
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=_outstanding(refresh, user=user))
    except IntegrityError:
        raise InvalidRefreshToken from None
    return _issue_tokens(user)


def refresh_token_blacklist(*, raw_refresh: str, client_ip: str | None = None) -> None:
    """Revoke a refresh token (signing out). One that is already unusable (expired, revoked,
    forged) is left alone."""
    try:
        refresh = RefreshToken(raw_refresh)  # type: ignore[arg-type]
    except TokenError:
        return
    refresh.blacklist()
    user_id = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
    user = None if user_id is None else user_get_active(user_id=user_id)
    if user is not None:
        activity_record(user=user, action=ActivityAction.SIGN_OUT, ip=client_ip)


def _taken_fields(*, username: str, email: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if user_username_taken(username=username):
        errors["username"] = [USERNAME_TAKEN]
    if user_email_taken(email=email):
        errors["email"] = [EMAIL_TAKEN]
    return errors


def _issue_tokens(user: User) -> TokenPair:
    refresh = RefreshToken.for_user(user)  # recorded as an outstanding token
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def _verified_refresh(raw_refresh: str) -> RefreshToken:
    try:
        # Signature (pinned algorithm), expiry, token type and the blacklist.
        return RefreshToken(raw_refresh)  # type: ignore[arg-type]
    except TokenError:
        raise InvalidRefreshToken from None


def _outstanding(refresh: RefreshToken, *, user: User) -> OutstandingToken:
    token, _ = OutstandingToken.objects.get_or_create(
        jti=refresh.payload[jwt_settings.JTI_CLAIM],
        defaults={
            "user": user,
            "token": str(refresh),
            "created_at": datetime_from_epoch(refresh.payload["iat"]),
            "expires_at": datetime_from_epoch(refresh.payload["exp"]),
        },
    )
    return token
