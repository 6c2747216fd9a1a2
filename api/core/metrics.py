"""`GET /metrics`: the API's Prometheus endpoint, figures read from the database at scrape time.

Access: with METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>`; without it, only
peers on loopback or private networks (the Compose network, a scraper on the host). nginx never
forwards /metrics, so a public client cannot reach it through the proxy either way. The peer is
the socket's address (REMOTE_ADDR), never X-Forwarded-For, which a client can write.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.ingest_hooks.throttling import IngestAuthorizeFailuresCollector
from api.videos.models import Video, VideoStatus

# Video.live_stats key -> (metric, help). Only numbers are exported.
LIVE_STATS_GAUGES = {
    "bitrate_kbps": ("tidecast_stream_ingest_bitrate_kbps", "Bitrate the ingest receives, kbit/s."),
    "fps": ("tidecast_stream_ingest_fps", "Frames per second the ingest receives."),
    "transcoder_speed": ("tidecast_stream_transcoder_speed", "Transcoder speed, multiple of real time."),
}


# Loopback, RFC 1918 and IPv6 unique local addresses (ipaddress's is_private also takes in
# documentation and other reserved ranges).
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(network) for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


class LiveVideosCollector(Collector):
    """Live streams, viewers and each live stream's last heartbeat figures, labelled by video url."""

    def collect(self) -> Iterator[Metric]:
        rows = Video.objects.filter(status=VideoStatus.LIVE).values_list("url", "viewer_count", "live_stats")
        live = GaugeMetricFamily("tidecast_live_streams", "Videos live now.")
        viewers = GaugeMetricFamily("tidecast_viewers", "Viewers of each live video.", labels=["video"])
        stats = {
            key: GaugeMetricFamily(name, documentation, labels=["video"])
            for key, (name, documentation) in LIVE_STATS_GAUGES.items()
        }
        count = 0
        for url, viewer_count, live_stats in rows:
            count += 1
            viewers.add_metric([url], viewer_count)
            figures = live_stats if isinstance(live_stats, dict) else {}
            for key, family in stats.items():
                number = figures.get(key)
                if isinstance(number, int | float) and not isinstance(number, bool):
                    family.add_metric([url], float(number))
        live.add_metric([], count)
        yield live
        yield viewers
        yield from stats.values()


def metrics_allowed(request: HttpRequest) -> bool:
    token: str = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return peer.is_loopback or any(peer in network for network in INTERNAL_NETWORKS)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return JsonResponse(
            {"detail": "Metrics are not served to this client.", "code": "forbidden"}, status=403
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveVideosCollector())
    registry.register(IngestAuthorizeFailuresCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
