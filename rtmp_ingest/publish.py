"""The publish lifecycle of one RTMP connection, as a pure state machine (no sockets, no clock).

    CONNECTED --publish(valid key)--> AUTHORIZING --granted--> PUBLISHING --stop / lost--> CLOSED
        |  \\--publish(bad key)--> CLOSED         \\--denied / lost / stop--> CLOSED

The adapter feeds events in with `PublishSession.handle(event)` and carries out the outputs it gets
back, in order. Every transition is one row of `_TRANSITIONS`; anything else raises
`PublishStateError`. A grant that arrives after the connection is gone still has to be ended at
the API, so (CLOSED, granted) is a real transition that reports the end.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from rtmp_ingest.api_client import PublishGrant
from rtmp_ingest.stream_keys import InvalidStreamKey, validate_stream_key


class State(enum.Enum):
    CONNECTED = "connected"
    AUTHORIZING = "authorizing"
    PUBLISHING = "publishing"
    CLOSED = "closed"


# --- events (what happened) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishRequested:
    stream_name: object  # raw, from the wire: validated by the machine


@dataclass(frozen=True, slots=True)
class AuthorizationGranted:
    grant: PublishGrant


@dataclass(frozen=True, slots=True)
class AuthorizationDenied:
    reason: str


@dataclass(frozen=True, slots=True)
class StopRequested:
    reason: str  # key_rotated, ended (by the API), shutdown


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    pass


Event = PublishRequested | AuthorizationGranted | AuthorizationDenied | StopRequested | ConnectionLost


# --- outputs (what the adapter must do) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authorize:
    stream_key: str


@dataclass(frozen=True, slots=True)
class RejectPublish:
    """Send onStatus level=error with this code and description, then close the connection."""

    code: str
    description: str


@dataclass(frozen=True, slots=True)
class StartPublishing:
    """Send NetStream.Publish.Start, open the media sink, start heartbeats."""

    grant: PublishGrant


@dataclass(frozen=True, slots=True)
class StopMedia:
    """Stop heartbeats and stop the sink cleanly (playlists end)."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: str


@dataclass(frozen=True, slots=True)
class ReportEnd:
    publish_id: str


Output = Authorize | RejectPublish | StartPublishing | StopMedia | Disconnect | ReportEnd


class PublishStateError(RuntimeError):
    """An event that is not allowed in the current state (e.g. a second publish)."""


BAD_NAME = "NetStream.Publish.BadName"
DENIAL_DESCRIPTIONS = {
    "invalid_key": "Invalid stream key",
    "unknown_key": "Stream key not recognised",
    "already_live": "This channel is already live",
    "throttled": "Too many attempts, try again later",
    "at_capacity": "This ingest is at capacity, try again later",
}
UNAVAILABLE_DESCRIPTION = "Publishing is unavailable right now, try again"


class _Trigger(enum.Enum):
    PUBLISH = "publish"
    BAD_KEY = "bad_key"
    GRANTED = "granted"
    DENIED = "denied"
    STOP = "stop"
    LOST = "lost"


_Action = Callable[["PublishSession", Event], list[Output]]


def _authorize(session: PublishSession, event: Event) -> list[Output]:
    assert isinstance(event, PublishRequested)  # noqa: S101 - guaranteed by _trigger
    session.stream_key = validate_stream_key(event.stream_name)
    return [Authorize(session.stream_key)]


def _reject_bad_key(session: PublishSession, event: Event) -> list[Output]:
    return [RejectPublish(BAD_NAME, DENIAL_DESCRIPTIONS["invalid_key"])]


def _reject_denied(session: PublishSession, event: Event) -> list[Output]:
    assert isinstance(event, AuthorizationDenied)  # noqa: S101 - guaranteed by _trigger
    return [RejectPublish(BAD_NAME, DENIAL_DESCRIPTIONS.get(event.reason, UNAVAILABLE_DESCRIPTION))]


def _start(session: PublishSession, event: Event) -> list[Output]:
    assert isinstance(event, AuthorizationGranted)  # noqa: S101 - guaranteed by _trigger
    session.grant = event.grant
    return [StartPublishing(event.grant)]


def _stop_publishing(session: PublishSession, event: Event) -> list[Output]:
    assert isinstance(event, StopRequested)  # noqa: S101 - guaranteed by _trigger
    assert session.grant is not None  # noqa: S101 - set on entering PUBLISHING
    return [StopMedia(), Disconnect(event.reason), ReportEnd(session.grant.publish_id)]


def _lost_while_publishing(session: PublishSession, event: Event) -> list[Output]:
    assert session.grant is not None  # noqa: S101 - set on entering PUBLISHING
    return [StopMedia(), ReportEnd(session.grant.publish_id)]


def _disconnect(session: PublishSession, event: Event) -> list[Output]:
    assert isinstance(event, StopRequested)  # noqa: S101 - guaranteed by _trigger
    return [Disconnect(event.reason)]


def _end_late_grant(session: PublishSession, event: Event) -> list[Output]:
    assert isinstance(event, AuthorizationGranted)  # noqa: S101 - guaranteed by _trigger
    return [ReportEnd(event.grant.publish_id)]


def _nothing(session: PublishSession, event: Event) -> list[Output]:
    return []


C, A, P, X = State.CONNECTED, State.AUTHORIZING, State.PUBLISHING, State.CLOSED
_TRANSITIONS: dict[tuple[State, _Trigger], tuple[State, _Action]] = {
    (C, _Trigger.PUBLISH): (A, _authorize),
    (C, _Trigger.BAD_KEY): (X, _reject_bad_key),
    (C, _Trigger.STOP): (X, _disconnect),
    (C, _Trigger.LOST): (X, _nothing),
    (A, _Trigger.GRANTED): (P, _start),
    (A, _Trigger.DENIED): (X, _reject_denied),
    (A, _Trigger.STOP): (X, _disconnect),
    (A, _Trigger.LOST): (X, _nothing),
    (P, _Trigger.STOP): (X, _stop_publishing),
    (P, _Trigger.LOST): (X, _lost_while_publishing),
    # The authorize call was in flight when the connection went: the API made the video live.
    (X, _Trigger.GRANTED): (X, _end_late_grant),
    (X, _Trigger.DENIED): (X, _nothing),
    (X, _Trigger.STOP): (X, _nothing),
    (X, _Trigger.LOST): (X, _nothing),
}
del C, A, P, X


def _trigger(event: Event) -> _Trigger:
    if isinstance(event, PublishRequested):
        try:
            validate_stream_key(event.stream_name)
        except InvalidStreamKey:
            return _Trigger.BAD_KEY
        return _Trigger.PUBLISH
    if isinstance(event, AuthorizationGranted):
        return _Trigger.GRANTED
    if isinstance(event, AuthorizationDenied):
        return _Trigger.DENIED
    if isinstance(event, StopRequested):
        return _Trigger.STOP
    return _Trigger.LOST


class PublishSession:
    """The lifecycle of one connection. Holds the validated key and, once granted, the grant."""

    def __init__(self) -> None:
        self.state = State.CONNECTED
        self.stream_key: str | None = None
        self.grant: PublishGrant | None = None

    def handle(self, event: Event) -> list[Output]:
        trigger = _trigger(event)
        try:
            next_state, action = _TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise PublishStateError(f"{trigger.value} is not allowed in state {self.state.value}") from None
        outputs = action(self, event)
        self.state = next_state
        return outputs

    @property
    def publishing(self) -> bool:
        return self.state is State.PUBLISHING
