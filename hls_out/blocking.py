"""Low-Latency HLS requests: blocking playlist reloads, delta playlists and preload-hinted parts.

- `?_HLS_msn=<n>[&_HLS_part=<p>]` holds the request until the playlist lists that segment (or
  part), then it is answered at once; more than two segments beyond the last one is 400, and a
  request still waiting after three target durations gets 503 (RFC 8216bis 6.2.5.2).
- `_HLS_skip=YES` (or `v2`) answers with the delta update (`tidecast_common.llhls.delta_playlist`).
- A GET for the part a playlist hints at (`#EXT-X-PRELOAD-HINT`), or the one after it, waits
  until the packager has renamed it into place, and is then served like any part.

No request polls. Each server process has one inotify instance (`asyncinotify`): a rendition
folder is watched while someone waits on it (and a little longer), and when the packager renames
a new playlist into place it is read once, into the playlist cache, and only the waiters it
satisfies are woken. A waiting request is a future in a list: thousands of them cost memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from asyncinotify import Inotify, Mask, Watch

from hls_out.file_cache import CachedFile, FileCache, read_cached_file
from tidecast_common.layout import VARIANT_PLAYLIST, parse_part_name
from tidecast_common.llhls import PlaylistState, delta_playlist, playlist_state

logger = logging.getLogger(__name__)

QUERY_MSN = "_HLS_msn"
QUERY_PART = "_HLS_part"
QUERY_SKIP = "_HLS_skip"
SKIP_VALUES = ("YES", "v2")
MAX_SEGMENTS_AHEAD = 2
TIMEOUT_TARGET_DURATIONS = 3.0
DEFAULT_TARGET_DURATION = 2.0
MAX_QUERY_NUMBER = 10**9
DELTA_CACHE_ENTRIES = 1024


class LowLatencyError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True, slots=True)
class BlockingQuery:
    msn: int | None
    part: int | None
    skip: bool


def parse_query(query: dict[str, str] | object) -> BlockingQuery:
    """The `_HLS_` parameters of a playlist request; LowLatencyError(400) when they are malformed."""
    values = query if isinstance(query, dict) else dict(query)  # type: ignore[call-overload]
    msn = _number(values.get(QUERY_MSN), QUERY_MSN)
    part = _number(values.get(QUERY_PART), QUERY_PART)
    if part is not None and msn is None:
        raise LowLatencyError(400, f"{QUERY_PART} needs {QUERY_MSN}")
    skip_value = values.get(QUERY_SKIP)
    if skip_value is not None and skip_value not in SKIP_VALUES:
        raise LowLatencyError(400, f"{QUERY_SKIP} must be YES or v2")
    return BlockingQuery(msn=msn, part=part, skip=skip_value is not None)


def _number(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 10 or int(raw) > MAX_QUERY_NUMBER:
        raise LowLatencyError(400, f"{name} must be a non-negative integer")
    return int(raw)


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future[None]
    msn: int
    part: int | None


@dataclass(slots=True)
class _Folder:
    """One watched rendition folder: its playlist's state and who waits on it."""

    path: str
    watch: Watch | None = None
    state: PlaylistState | None = None
    playlists: list[_Waiter] = field(default_factory=list)
    files: dict[str, list[asyncio.Future[None]]] = field(default_factory=dict)
    users: int = 0
    refreshing: bool = False
    dirty: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    linger: asyncio.TimerHandle | None = None


class LowLatency:
    """The blocking part of the HLS server, one per process; `start()` inside the running loop."""

    def __init__(self, *, playlists: FileCache, max_waiters: int, linger_seconds: float = 10.0) -> None:
        self._cache = playlists
        self._max_waiters = max_waiters
        self._linger = linger_seconds
        self._folders: dict[str, _Folder] = {}
        self._by_watch: dict[Watch, _Folder] = {}
        self._inotify: Inotify | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting = 0
        self._deltas: OrderedDict[str, tuple[tuple[int, int, int, int], bytes]] = OrderedDict()

    @property
    def waiting(self) -> int:
        return self._waiting

    def start(self) -> None:
        if self._inotify is None:
            self._inotify = Inotify()
            self._reader = asyncio.create_task(self._read_events())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._inotify is not None:
            self._inotify.close()
        self._inotify = self._reader = None

    # --- what the handler calls -------------------------------------------------------------

    async def hold_playlist(self, playlist_path: str, query: BlockingQuery) -> None:
        """Return once the playlist at `playlist_path` has what `query` asks for (at once without
        `_HLS_msn`, or for a playlist that is not low-latency or has ended)."""
        if query.msn is None:
            return
        folder = await self._use(playlist_path.rpartition("/")[0])
        try:
            state = folder.state
            if state is None or state.can_skip_until is None or state.has(query.msn, query.part):
                return
            if query.msn > state.last_msn + MAX_SEGMENTS_AHEAD:
                raise LowLatencyError(400, f"segment {query.msn} is more than two segments ahead")
            waiter = _Waiter(asyncio.get_running_loop().create_future(), query.msn, query.part)
            await self._wait(folder, waiter.future, folder.playlists, waiter, state)
        finally:
            self._release(folder)

    async def hold_part(self, folder_path: str, name: str) -> bool:
        """Wait for the hinted part `name` in `folder_path`; False when it is no part worth waiting
        for (not the hinted one or the next, or the stream has ended)."""
        number = parse_part_name(name)
        # Only a live rendition's folder is watched: a made-up path costs one stat and nothing kept.
        if number is None or not _exists(f"{folder_path}/{VARIANT_PLAYLIST}"):
            return False
        folder = await self._use(folder_path)
        try:
            state = folder.state
            hinted = parse_part_name(state.preload_hint or "") if state is not None else None
            if state is None or state.ended or hinted is None or not hinted <= number <= hinted + 1:
                return False
            if _exists(f"{folder_path}/{name}"):  # renamed into place since the request missed it
                return True
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiting = folder.files.setdefault(name, [])
            try:
                await self._wait(folder, future, waiting, future, state)
            finally:
                if not waiting:
                    folder.files.pop(name, None)
            return True
        finally:
            self._release(folder)

    def delta(self, path: str, cached: CachedFile) -> bytes | None:
        """The delta update of a cached live playlist, computed once per version of it."""
        entry = self._deltas.get(path)
        if entry is not None and entry[0] == cached.identity:
            self._deltas.move_to_end(path)
            return entry[1] or None
        text = delta_playlist(cached.body.decode("utf-8", "replace"))
        body = text.encode() if text is not None else b""
        self._deltas[path] = (cached.identity, body)
        while len(self._deltas) > DELTA_CACHE_ENTRIES:
            self._deltas.popitem(last=False)
        return body or None

    # --- internals ----------------------------------------------------------------------------

    async def _wait(
        self,
        folder: _Folder,
        future: asyncio.Future[None],
        waiting: list,  # type: ignore[type-arg]
        entry: object,
        state: PlaylistState,
    ) -> None:
        if self._waiting >= self._max_waiters:
            raise LowLatencyError(503, "too many blocking requests")
        target = state.target_duration or DEFAULT_TARGET_DURATION
        waiting.append(entry)
        self._waiting += 1
        try:
            async with asyncio.timeout(TIMEOUT_TARGET_DURATIONS * target):
                await future
        except TimeoutError:
            raise LowLatencyError(503, "not there within three target durations") from None
        finally:
            self._waiting -= 1
            with contextlib.suppress(ValueError):
                waiting.remove(entry)

    async def _use(self, path: str) -> _Folder:
        folder = self._folders.get(path)
        if folder is None:
            folder = self._folders[path] = _Folder(path)
            self._start_watch(folder)
            self._refresh(folder)
        folder.users += 1
        if folder.linger is not None:
            folder.linger.cancel()
            folder.linger = None
        await folder.ready.wait()
        return folder

    def _release(self, folder: _Folder) -> None:
        folder.users -= 1
        if folder.users == 0 and folder.linger is None:
            folder.linger = asyncio.get_running_loop().call_later(self._linger, self._forget, folder)

    def _forget(self, folder: _Folder) -> None:
        folder.linger = None
        if folder.users or self._folders.get(folder.path) is not folder:
            return
        del self._folders[folder.path]
        if folder.watch is not None:
            self._by_watch.pop(folder.watch, None)
            if self._inotify is not None:
                with contextlib.suppress(OSError):
                    self._inotify.rm_watch(folder.watch)

    def _start_watch(self, folder: _Folder) -> None:
        self.start()
        if self._inotify is None:
            return
        try:
            folder.watch = self._inotify.add_watch(
                folder.path, Mask.MOVED_TO | Mask.CLOSE_WRITE | Mask.ONLYDIR
            )
        except OSError as error:
            logger.debug("cannot watch %s: %s", folder.path, error)
            return
        self._by_watch[folder.watch] = folder

    def _refresh(self, folder: _Folder) -> None:
        """Read the playlist again (once, whatever the number of events meanwhile)."""
        if folder.refreshing:
            folder.dirty = True
            return
        folder.refreshing = True
        asyncio.get_running_loop().create_task(self._read_playlist(folder))

    async def _read_playlist(self, folder: _Folder) -> None:
        path = f"{folder.path}/{VARIANT_PLAYLIST}"
        try:
            while True:
                folder.dirty = False
                cached = await asyncio.to_thread(read_cached_file, path, max_bytes=self._cache.max_file_bytes)
                if cached is not None:
                    self._cache.put(path, cached)
                    try:
                        folder.state = playlist_state(cached.body.decode("utf-8", "replace"))
                    except ValueError as error:
                        logger.warning("unreadable playlist %s: %s", path, error)
                if not folder.dirty:
                    break
        finally:
            folder.refreshing = False
            folder.ready.set()
        self._wake_playlists(folder)

    def _wake_playlists(self, folder: _Folder) -> None:
        state = folder.state
        if state is None:
            return
        for waiter in folder.playlists:
            if not waiter.future.done() and state.has(waiter.msn, waiter.part):
                waiter.future.set_result(None)

    async def _read_events(self) -> None:
        inotify = self._inotify
        if inotify is None:
            return
        async for event in inotify:
            if event.mask & Mask.Q_OVERFLOW:  # events were lost: every folder reads its playlist again
                for folder in self._folders.values():
                    self._refresh(folder)
                    for futures in folder.files.values():
                        for future in futures:
                            if not future.done():
                                future.set_result(None)
                continue
            watched = self._by_watch.get(event.watch) if event.watch is not None else None
            if watched is None or event.name is None:
                continue
            folder = watched
            name = str(event.name)
            if name == VARIANT_PLAYLIST:
                self._refresh(folder)
            for future in folder.files.get(name, ()):
                if not future.done():
                    future.set_result(None)


def folder_of(base: Path, relative: str) -> str:
    """The rendition folder of a request path below the HLS root (already checked for shape)."""
    return str(base / relative.rpartition("/")[0])


def _exists(path: str) -> bool:
    try:
        os.stat(path)  # noqa: PTH116 - one stat, as the path resolver makes
    except OSError:
        return False
    return True
