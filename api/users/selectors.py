"""Reads about users."""

from __future__ import annotations

from api.users.models import User


def user_username_taken(*, username: str) -> bool:
    return User.objects.filter(username__iexact=username).exists()


def user_email_taken(*, email: str) -> bool:
    return User.objects.filter(email__iexact=email).exists()


def user_get_active(*, user_id: int | str) -> User | None:
    try:
        return User.objects.filter(pk=user_id, is_active=True).first()
    except (TypeError, ValueError):  # not an id at all
        return None
