"""Failed publish authorizations: a lockout per publisher address, an alert across all of them.

Per address (IPv6 by /64) the lockout is checked before the key is tried, so a locked-out
address is refused even with a valid key: guessing from one place stops there. Across every
address the failures are only counted and reported, never used to refuse: a refusal there would
let anyone with a few addresses lock every honest streamer out. Crossing the threshold logs a
warning once per window, and `/metrics` exports the figure (IngestAuthorizeFailuresCollector).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rest_framework.exceptions import Throttled

from api.core.throttling import FailureCounter
from tidecast_common.addresses import address_group

logger = logging.getLogger(__name__)

PER_CLIENT_SCOPE = "ingest_authorize"
ALERT_SCOPE = "ingest_authorize_global"
_ALL_ADDRESSES = "all"


def authorize_attempt_check(*, client_ip: str) -> None:
    """Raise Throttled (429) while this address (or its IPv6 /64) has failed too often."""
    wait = FailureCounter.from_settings(PER_CLIENT_SCOPE).locked_for(address_group(client_ip))
    if wait:
        raise Throttled(wait=wait, detail="Too many failed publish attempts; try again later.")


def authorize_failure_record(*, client_ip: str) -> None:
    FailureCounter.from_settings(PER_CLIENT_SCOPE).record_failure(address_group(client_ip))
    overall = FailureCounter.from_settings(ALERT_SCOPE)
    if overall.record_failure(_ALL_ADDRESSES) == overall.limit:
        logger.warning(
            "ingest authorize: %s failed publish attempts from all addresses within %s s; "
            "stream keys may be under a distributed guessing attack",
            overall.limit,
            overall.window_seconds,
        )


class IngestAuthorizeFailuresCollector(Collector):
    """The failures across all addresses in the current window, and whether they crossed the alert."""

    def collect(self) -> Iterator[Metric]:
        overall = FailureCounter.from_settings(ALERT_SCOPE)
        failures = overall.failures(_ALL_ADDRESSES)
        recent = GaugeMetricFamily(
            "tidecast_ingest_authorize_failures_recent",
            "Failed publish authorizations from all addresses in the current alert window.",
        )
        recent.add_metric([], failures)
        alert = GaugeMetricFamily(
            "tidecast_ingest_authorize_failures_alert",
            "1 while the failed publish authorizations reach THROTTLE_INGEST_AUTHORIZE_GLOBAL.",
        )
        alert.add_metric([], 1 if failures >= overall.limit else 0)
        yield recent
        yield alert
