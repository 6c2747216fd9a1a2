"""Signatures and secrets, checked against the independent `standardwebhooks` implementation."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.webhooks.secrets import (
    WebhookSecretError,
    webhook_secret_generate,
    webhook_secret_key,
    webhook_secret_open,
    webhook_secret_seal,
)
from api.webhooks.signing import webhook_headers, webhook_signature


def test_a_secret_is_whsec_and_24_random_bytes():
    secret = webhook_secret_generate()
    assert secret.startswith("whsec_")
    assert len(webhook_secret_key(secret)) == 24
    assert webhook_secret_generate() != secret


def test_our_signature_verifies_with_standardwebhooks():
    secret = webhook_secret_generate()
    body = json.dumps({"type": "stream.started", "data": {"video": {"url": "v1"}}}).encode()
    headers = webhook_headers(secret=secret, message_id="msg_1", timestamp=int(time.time()), body=body)
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_secret_generate()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_the_signature_is_the_spec_example():
    # The example of the Standard Webhooks specification (spec/standard-webhooks.md).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        webhook_signature(
            secret=secret, message_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_sealed_secret_opens_for_its_owner_only():
    secret = webhook_secret_generate()
    sealed = webhook_secret_seal(secret, owner_id=7)
    assert secret not in sealed
    assert base64.b64encode(webhook_secret_key(secret)).decode() not in sealed
    assert webhook_secret_open(sealed, owner_id=7) == secret
    with pytest.raises(WebhookSecretError):
        webhook_secret_open(sealed, owner_id=8)
