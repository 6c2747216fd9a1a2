"""/admin/login/ counts failures exactly as POST /api/auth/login does: 429 after as many failures."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
API_LOGIN = "/api/auth/login"


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


def admin_sign_in(client: Client, username: str, password: str, address: str = "203.0.113.5"):
    return client.post(
        f"{ADMIN_LOGIN}?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def failures_until_429(sign_in) -> int:
    for failures in range(50):
        if sign_in().status_code == 429:
            return failures
    raise AssertionError("never throttled")


def test_admin_sign_in_is_throttled_after_as_many_failures_as_the_api(staff, client, settings):
    api_failures = failures_until_429(
        lambda: client.post(
            API_LOGIN, {"username": "someone", "password": "wrong"}, content_type="application/json"
        )
    )
    admin_failures = failures_until_429(lambda: admin_sign_in(client, staff.username, "wrong"))
    assert admin_failures == api_failures == 5


def test_a_locked_out_admin_is_refused_even_with_the_right_password(staff, client):
    for _ in range(5):
        response = admin_sign_in(client, staff.username, "wrong")
        assert response.status_code == 200  # the form again, with its error
        assert b"correct username and password" in response.content
    response = admin_sign_in(client, staff.username, TEST_PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    # The username is locked, whatever the address.
    assert admin_sign_in(client, staff.username, TEST_PASSWORD, address="198.51.100.3").status_code == 429


def test_many_usernames_from_one_address_lock_the_address(staff, client):
    for n in range(20):
        assert admin_sign_in(client, f"guess{n}", "wrong").status_code == 200
    assert admin_sign_in(client, staff.username, TEST_PASSWORD).status_code == 429
    assert admin_sign_in(client, staff.username, TEST_PASSWORD, address="198.51.100.3").status_code == 302


def test_right_password_signs_in_and_resets_the_username_count(staff, client):
    for _ in range(4):
        admin_sign_in(client, staff.username, "wrong")
    response = admin_sign_in(client, staff.username, TEST_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    client.logout()
    for _ in range(4):
        assert admin_sign_in(client, staff.username, "wrong").status_code == 200
    assert admin_sign_in(client, staff.username, TEST_PASSWORD).status_code == 302


def test_a_non_staff_account_counts_as_a_failure(client):
    member = UserFactory()
    for _ in range(5):
        assert admin_sign_in(client, member.username, TEST_PASSWORD).status_code == 200
    assert admin_sign_in(client, member.username, TEST_PASSWORD).status_code == 429


def test_the_sign_in_page_itself_still_renders(client):
    response = client.get(ADMIN_LOGIN)
    assert response.status_code == 200
    assert b'name="password"' in response.content
