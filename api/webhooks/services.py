"""Webhooks: endpoints, the events owed to them, and delivering each one, in order, with retries.

An event (webhook_event_emit, called inside the transaction that changes the video) becomes one
WebhookDelivery per subscribed endpoint, with its body fixed then; a Celery task is queued for each
once that transaction commits. The task (webhook_delivery_attempt) sends the delivery when it is
due and when the previous delivery of the same video to the same endpoint has finished (succeeded,
or given up after its last try), so a receiver always sees a video's events in order. A finished
delivery queues the next one of its chain; a failed try is retried after WEBHOOK_RETRY_DELAYS (with
jitter). The periodic sweep (webhook_deliveries_sweep) picks up whatever a lost message, a dead
worker or a long pause left behind, so no delivery depends on a message surviving for hours.

Each try is recorded (WebhookAttempt). The signing secret is opened only to sign, never logged.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.activity.models import ActivityAction
from api.activity.services import activity_record
from api.core.errors import Conflict, DomainError
from api.core.tasks import QueueUnavailable, task_enqueue, task_enqueue_on_commit
from api.users.models import User
from api.videos.models import Video
from api.videos.serializers import VideoPublicOutputSerializer
from api.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from api.webhooks.secrets import webhook_secret_generate, webhook_secret_open, webhook_secret_seal
from api.webhooks.sender import AttemptOutcome, webhook_post
from api.webhooks.signing import webhook_headers
from api.webhooks.targets import TargetRefused, address_refusal, webhook_target_resolve, webhook_url_check

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"
SWEEP_TASK = "webhooks.sweep"
PRUNE_TASK = "webhooks.prune"
# Retries further off than this are left to the sweep: a message held for hours by a worker (an
# ETA task) is one RabbitMQ may cancel, and one a restart loses on the embedded broker.
COUNTDOWN_MAX_SECONDS = 600
SWEEP_BATCH = 500
# A task arriving this early for its retry still sends (clocks of API and workers differ a little).
DUE_TOLERANCE = timedelta(seconds=1)
JITTER = 0.1  # each pause is drawn from +-10% of its nominal length


class WebhookLimitReached(Conflict):
    code = "too_many_webhooks"


class InvalidWebhookUrl(DomainError):
    code = "invalid_url"


def webhook_tries() -> int:
    """Tries per delivery: the first one, and one after each pause of WEBHOOK_RETRY_DELAYS."""
    return len(settings.WEBHOOK_RETRY_DELAYS) + 1


def _lease() -> timedelta:
    """How long a try under way is presumed alive; after that the sweep takes it as lost."""
    return timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)


def webhook_create(
    *, owner: User, url: str, events: Iterable[str], client_ip: str | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which is returned here and never again."""
    try:
        _, host, _ = webhook_url_check(url)
    except TargetRefused as exc:
        raise InvalidWebhookUrl(str(exc)) from None
    try:  # a literal address can be refused now; a name is checked at every send
        literal = address_refusal(
            ipaddress.ip_address(host), allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
        )
    except ValueError:
        literal = None
    if literal is not None:
        raise InvalidWebhookUrl(f"{host} is {literal}; webhooks are not sent there.")
    chosen = [event.value for event in WebhookEvent if event.value in set(events)]
    if not chosen:
        raise DomainError("Choose at least one event.", code="no_events")
    with transaction.atomic():
        # Locking the user serializes concurrent creations, so the cap holds.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        if WebhookEndpoint.objects.filter(owner=owner).count() >= settings.WEBHOOK_MAX_ENDPOINTS:
            raise WebhookLimitReached(f"An account has at most {settings.WEBHOOK_MAX_ENDPOINTS} webhooks.")
        secret = webhook_secret_generate()
        endpoint = WebhookEndpoint.objects.create(
            owner=owner,
            url=url,
            events=chosen,
            secret_ciphertext=webhook_secret_seal(secret, owner_id=owner.pk),
        )
        activity_record(
            user=owner,
            action=ActivityAction.WEBHOOK_CREATED,
            ip=client_ip,
            detail=f"{host} {' '.join(chosen)}",
        )
    return endpoint, secret


@transaction.atomic
def webhook_delete(*, endpoint: WebhookEndpoint, client_ip: str | None = None) -> None:
    """The endpoint and its deliveries go; a try under way finds nothing to record and stops."""
    host = webhook_url_check(endpoint.url)[1]
    activity_record(user=endpoint.owner, action=ActivityAction.WEBHOOK_DELETED, ip=client_ip, detail=host)
    endpoint.delete()


def _event_body(event: str, video: Video) -> str:
    body = {
        "type": event,
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        "data": {"video": VideoPublicOutputSerializer(video).data},
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def webhook_event_emit(*, event: WebhookEvent | str, video: Video) -> int:
    """Owe `event` about `video` to each of its owner's endpoints that subscribed to it.

    Call it inside the transaction that makes the change (before a deletion): the deliveries are
    created with it and sent once it commits. Returns the number of deliveries created.
    """
    event = WebhookEvent(event)
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(owner_id=video.channel.owner_id)
        if event.value in endpoint.events
    ]
    if not endpoints:
        return 0
    body = _event_body(event.value, video)
    now = timezone.now()
    created = 0
    for endpoint in endpoints:
        pending = WebhookDelivery.objects.filter(endpoint=endpoint, state=DeliveryState.PENDING).count()
        if pending >= settings.WEBHOOK_MAX_PENDING_PER_ENDPOINT:
            logger.warning(
                "webhook %s: %s deliveries pending, %s for video %s dropped",
                endpoint.pk,
                pending,
                event,
                video.url,
            )
            continue
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event=event.value,
            message_id=f"msg_{uuid.uuid4().hex}",
            video_url=video.url,
            body=body,
            next_attempt_at=now,
        )
        task_enqueue_on_commit(DELIVER_TASK, kwargs={"delivery_id": delivery.pk})
        created += 1
    return created


def _earlier_pending(delivery: WebhookDelivery) -> bool:
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        video_url=delivery.video_url,
        state=DeliveryState.PENDING,
        id__lt=delivery.pk,
    ).exists()


def _lock_chain(delivery_id: int) -> WebhookDelivery | None:
    """The delivery, with its endpoint row locked: the claims and completions of one endpoint's
    deliveries are serialized, so a delivery never waits on one whose completion missed it."""
    endpoint_id = WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
    if endpoint_id is None:
        return None
    if WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first() is None:
        return None
    return WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()


def _send(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> AttemptOutcome:
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        target = webhook_target_resolve(
            endpoint.url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS, timeout=timeout
        )
    except TargetRefused as exc:
        return AttemptOutcome(status_code=None, error=str(exc), response_excerpt="", duration_ms=0)
    secret = webhook_secret_open(endpoint.secret_ciphertext, owner_id=endpoint.owner_id)
    body = delivery.body.encode()
    headers = webhook_headers(
        secret=secret, message_id=delivery.message_id, timestamp=int(timezone.now().timestamp()), body=body
    )
    return webhook_post(target=target, headers=headers, body=body, timeout=timeout)


def _pause_after(try_number: int) -> float:
    nominal = float(settings.WEBHOOK_RETRY_DELAYS[try_number - 1])
    return nominal * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (jitter, not a secret)


def _queue_next_of_chain(delivery: WebhookDelivery) -> None:
    following = (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            video_url=delivery.video_url,
            state=DeliveryState.PENDING,
            id__gt=delivery.pk,
        )
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if following is not None:
        task_enqueue_on_commit(DELIVER_TASK, kwargs={"delivery_id": following})


def webhook_delivery_attempt(*, delivery_id: int) -> str:
    """Try `delivery_id` once if it is due and first in its chain; returns what happened.

    Idempotent: a duplicate or early message finds the delivery claimed, finished or not due and
    does nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        delivery = _lock_chain(delivery_id)
        if delivery is None:
            return "gone"
        if delivery.state != DeliveryState.PENDING:
            return "finished"
        if delivery.next_attempt_at > now + DUE_TOLERANCE:
            return "not_due"
        if _earlier_pending(delivery):
            return "waiting"
        delivery.attempts += 1
        delivery.next_attempt_at = now + _lease()
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    try_number = delivery.attempts
    outcome = _send(delivery, delivery.endpoint)
    with transaction.atomic():
        current = _lock_chain(delivery_id)
        if current is None:
            return "gone"  # the endpoint was deleted meanwhile
        WebhookAttempt.objects.create(
            delivery=current,
            number=try_number,
            status_code=outcome.status_code,
            error=outcome.error,
            response_excerpt=outcome.response_excerpt,
            duration_ms=outcome.duration_ms,
        )
        finished_at = timezone.now()
        if outcome.succeeded:
            current.state = DeliveryState.SUCCEEDED
        elif try_number >= webhook_tries():
            current.state = DeliveryState.FAILED
        else:
            pause = _pause_after(try_number)
            current.next_attempt_at = finished_at + timedelta(seconds=pause)
            current.save(update_fields=["next_attempt_at"])
            if pause <= COUNTDOWN_MAX_SECONDS:
                task_enqueue_on_commit(DELIVER_TASK, kwargs={"delivery_id": current.pk}, countdown=pause)
            logger.info(
                "webhook delivery %s try %s failed (%s); next in %.1f s",
                current.message_id,
                try_number,
                outcome.error,
                pause,
            )
            return "retrying"
        current.finished_at = finished_at
        current.save(update_fields=["state", "finished_at"])
        _queue_next_of_chain(current)
    logger.info("webhook delivery %s %s after %s tries", current.message_id, current.state, try_number)
    return str(current.state)


def webhook_deliveries_sweep(*, now: datetime | None = None) -> int:
    """Queue every due delivery that heads its chain (retries, lost messages, dead workers)."""
    now = now or timezone.now()
    due = (
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .order_by("id")
        .values_list("id", "endpoint_id", "video_url")[:SWEEP_BATCH]
    )
    heads: dict[tuple[int, str], int] = {}
    for delivery_id, endpoint_id, video_url in due:
        heads.setdefault((endpoint_id, video_url), delivery_id)
    queued = 0
    for delivery_id in heads.values():
        try:
            task_enqueue(DELIVER_TASK, kwargs={"delivery_id": delivery_id})
        except QueueUnavailable:
            break
        queued += 1
    return queued


def webhook_deliveries_prune(*, now: datetime | None = None) -> int:
    """Forget finished deliveries (and their tries) older than WEBHOOK_DELIVERY_RETENTION_DAYS."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            WebhookDelivery.objects.exclude(state=DeliveryState.PENDING)
            .filter(finished_at__lt=cutoff)
            .values_list("id", flat=True)[:SWEEP_BATCH]
        )
        if not ids:
            return deleted
        WebhookDelivery.objects.filter(id__in=ids).delete()
        deleted += len(ids)
