"""The publish lifecycle: every transition of the table, and the ones that must raise."""

from __future__ import annotations

import pytest

from rtmp_ingest.api_client import PublishGrant
from rtmp_ingest.publish import (
    BAD_NAME,
    UNAVAILABLE_DESCRIPTION,
    AuthorizationDenied,
    AuthorizationGranted,
    Authorize,
    ConnectionLost,
    Disconnect,
    PublishRequested,
    PublishSession,
    PublishStateError,
    RejectPublish,
    ReportEnd,
    StartPublishing,
    State,
    StopMedia,
    StopRequested,
)

KEY = "tc_valid-key_0123456789"
GRANT = PublishGrant(
    publish_id="7d8e6c1a-7a59-4a8e-9a51-5f0b3f1e2a11",
    video_url="abcdefgh01234567",
    channel="demo",
    ladder=(),
    segment_seconds=2,
    heartbeat_interval=2.0,
)


def session_in(state: State) -> PublishSession:
    session = PublishSession()
    if state is State.CONNECTED:
        return session
    session.handle(PublishRequested(KEY))
    if state is State.AUTHORIZING:
        return session
    if state is State.PUBLISHING:
        session.handle(AuthorizationGranted(GRANT))
        return session
    session.handle(ConnectionLost())
    return session


def test_valid_publish_asks_for_authorization() -> None:
    session = PublishSession()
    assert session.handle(PublishRequested(KEY)) == [Authorize(KEY)]
    assert session.state is State.AUTHORIZING
    assert session.stream_key == KEY


@pytest.mark.parametrize("name", ["../x", "a/b", "k\x00", "k" * 257, "", None])
def test_malformed_key_is_rejected_without_authorization(name: object) -> None:
    session = PublishSession()
    outputs = session.handle(PublishRequested(name))
    assert outputs == [RejectPublish(BAD_NAME, "Invalid stream key")]
    assert session.state is State.CLOSED
    assert session.stream_key is None


def test_grant_starts_publishing() -> None:
    session = session_in(State.AUTHORIZING)
    assert session.handle(AuthorizationGranted(GRANT)) == [StartPublishing(GRANT)]
    assert session.state is State.PUBLISHING
    assert session.publishing


@pytest.mark.parametrize(
    ("reason", "description"),
    [
        ("unknown_key", "Stream key not recognised"),
        ("already_live", "This channel is already live"),
        ("throttled", "Too many attempts, try again later"),
        ("unavailable", UNAVAILABLE_DESCRIPTION),
        ("bad_response", UNAVAILABLE_DESCRIPTION),
    ],
)
def test_denial_rejects_with_a_description_and_closes(reason: str, description: str) -> None:
    session = session_in(State.AUTHORIZING)
    assert session.handle(AuthorizationDenied(reason)) == [RejectPublish(BAD_NAME, description)]
    assert session.state is State.CLOSED
    assert KEY not in description


def test_stop_while_publishing_stops_media_disconnects_and_reports_end() -> None:
    session = session_in(State.PUBLISHING)
    outputs = session.handle(StopRequested("key_rotated"))
    assert outputs == [StopMedia(), Disconnect("key_rotated"), ReportEnd(GRANT.publish_id)]
    assert session.state is State.CLOSED


def test_connection_lost_while_publishing_stops_media_and_reports_end() -> None:
    session = session_in(State.PUBLISHING)
    assert session.handle(ConnectionLost()) == [StopMedia(), ReportEnd(GRANT.publish_id)]
    assert session.state is State.CLOSED


@pytest.mark.parametrize("state", [State.CONNECTED, State.AUTHORIZING])
def test_stop_before_publishing_only_disconnects(state: State) -> None:
    session = session_in(state)
    assert session.handle(StopRequested("shutdown")) == [Disconnect("shutdown")]
    assert session.state is State.CLOSED


@pytest.mark.parametrize("state", [State.CONNECTED, State.AUTHORIZING])
def test_connection_lost_before_publishing_does_nothing_else(state: State) -> None:
    session = session_in(state)
    assert session.handle(ConnectionLost()) == []
    assert session.state is State.CLOSED


def test_grant_arriving_after_close_is_ended_at_the_api() -> None:
    session = session_in(State.AUTHORIZING)
    session.handle(StopRequested("shutdown"))
    assert session.handle(AuthorizationGranted(GRANT)) == [ReportEnd(GRANT.publish_id)]
    assert session.state is State.CLOSED


@pytest.mark.parametrize(
    "event", [AuthorizationDenied("unknown_key"), StopRequested("shutdown"), ConnectionLost()]
)
def test_closed_absorbs_late_events(event: object) -> None:
    session = session_in(State.CLOSED)
    assert session.handle(event) == []  # type: ignore[arg-type]
    assert session.state is State.CLOSED


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (State.CONNECTED, AuthorizationGranted(GRANT)),
        (State.CONNECTED, AuthorizationDenied("unknown_key")),
        (State.AUTHORIZING, PublishRequested(KEY)),
        (State.AUTHORIZING, PublishRequested("../bad")),
        (State.PUBLISHING, PublishRequested(KEY)),
        (State.PUBLISHING, AuthorizationGranted(GRANT)),
        (State.PUBLISHING, AuthorizationDenied("unknown_key")),
        (State.CLOSED, PublishRequested(KEY)),
        (State.CLOSED, PublishRequested("../bad")),
    ],
)
def test_invalid_transitions_raise_and_keep_the_state(state: State, event: object) -> None:
    session = session_in(state)
    with pytest.raises(PublishStateError):
        session.handle(event)  # type: ignore[arg-type]
    assert session.state is state
