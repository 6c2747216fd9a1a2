"""Live streams into the object store, segment by segment, while they are live.

The transcoder keeps writing to local disk (the HLS server serves the live edge from there). This
module follows every stream's folder (`watchfiles`: inotify, no polling) and, each time a playlist
is renamed into place — ffmpeg writes a playlist only after closing the segment it adds —
uploads the segments the playlist lists that the store lacks, then the playlist as it read it,
then the master. A playlist therefore never reaches the store before its segments.

- One `LiveArchiver` per node; its uploads run in one bounded thread pool
  (`STORAGE_UPLOAD_CONCURRENCY` threads, one boto3 client), shared by every stream.
- A pass that fails (the store is down, a timeout) is tried again after a growing pause with jitter
  (`STORAGE_RETRY_MIN_SECONDS` .. `STORAGE_RETRY_MAX_SECONDS`); the transcoder never waits for the
  store, so nothing the publisher sends is delayed or dropped. What is pending is the files on disk,
  not a queue: a pass reconciles the folder with what the store holds.
- At the end of a stream a last pass runs until the store has everything (playlists with
  `#EXT-X-ENDLIST`, the master), a marker `.stored` is written in the stream's folder, the API is
  told, and the local copy is removed `STORAGE_LOCAL_GRACE_SECONDS` later.
- On start (after a crash) every stream folder without the marker is caught up the same way: what
  the store already holds is listed, the rest uploaded; a folder whose playlists are all closed is
  finished as a recording, one with the marker is removed after the grace period.
- A folder left open (the transcoder died with the node: no `#EXT-X-ENDLIST`) is followed until a
  new publish takes it over, the API says its video has ended (it ends a silent stream after the
  heartbeat timeout) or nothing in it changed for `STORAGE_UNFINISHED_IDLE_SECONDS`; then it is
  closed on disk as the transcoder closes a recording (`transcoder.playlists`: every variant
  playlist ends with `#EXT-X-ENDLIST`, the master lists those that exist) and finished as above.

The HLS layout and the object keys come from `tidecast_common.layout` and
`tidecast_common.object_store`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from watchfiles import Change, awatch

from tidecast_common.env import Env
from tidecast_common.layout import (
    PLAYLIST_SUFFIX,
    VARIANT_PLAYLIST,
    HlsLayout,
    is_rendition_name,
    is_video_url,
)
from tidecast_common.object_store import (
    ObjectStore,
    ObjectStoreSettings,
    hls_key,
    master_key,
    video_prefix,
)
from tidecast_common.playback_tokens import PRIVATE_MARKER
from transcoder.playlists import atomic_write_text, ensure_endlist

logger = logging.getLogger(__name__)

STORED_MARKER = ".stored"
ENDLIST = "#EXT-X-ENDLIST"
T = TypeVar("T")

StoredCallback = Callable[[str], Awaitable[bool]]
# Whether the API has the video as ended: True (ended, or no such video), False (live), None
# (the API could not be asked).
EndedCheck = Callable[[str], Awaitable[bool | None]]


class StreamArchiveHook(Protocol):
    """What `transcoder.live.LiveTranscode` tells the archiver."""

    def stream_started(self, video_url: str) -> None: ...

    def stream_ended(self, video_url: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    store: ObjectStoreSettings
    # Uploads in flight at once on this node, all streams together.
    upload_concurrency: int = 8
    # The local copy of a finished recording stays this long after it is complete in the store.
    local_grace_seconds: float = 300.0
    retry_min_seconds: float = 0.5
    retry_max_seconds: float = 10.0
    # Largest playlist read (a long recording's variant playlist grows by ~60 bytes a segment).
    max_playlist_bytes: int = 16 * 1024 * 1024
    # Tries at telling the API a recording is complete in the store.
    report_attempts: int = 5
    # A folder left open by a dead transcoder is closed once idle this long (or its video ended).
    unfinished_idle_seconds: float = 900.0
    # How often such a folder is looked at (and the API asked about its video).
    unfinished_check_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ArchiveSettings | None:
        store = ObjectStoreSettings.from_env(environ)
        if store is None:
            return None
        env = Env(environ)
        return cls(
            store=store,
            upload_concurrency=env.integer("STORAGE_UPLOAD_CONCURRENCY", 8, minimum=1, maximum=256),
            local_grace_seconds=env.number("STORAGE_LOCAL_GRACE_SECONDS", 300.0, maximum=30 * 86400.0),
            retry_min_seconds=env.number("STORAGE_RETRY_MIN_SECONDS", 0.5, minimum=0.01, maximum=60.0),
            retry_max_seconds=env.number("STORAGE_RETRY_MAX_SECONDS", 10.0, minimum=0.1, maximum=600.0),
            unfinished_idle_seconds=env.number(
                "STORAGE_UNFINISHED_IDLE_SECONDS", 900.0, minimum=1.0, maximum=30 * 86400.0
            ),
            unfinished_check_seconds=env.number(
                "STORAGE_UNFINISHED_CHECK_SECONDS", 10.0, minimum=0.1, maximum=3600.0
            ),
        )


def playlist_files(text: str) -> list[str]:
    """The files a media playlist names (segments and an `#EXT-X-MAP` init segment), in order."""
    names: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MAP:"):
            _, _, rest = line.partition('URI="')
            uri = rest.partition('"')[0]
            if uri:
                names.append(uri)
        elif line and not line.startswith("#"):
            names.append(line)
    return names


def remove_media_keeping_marker(folder: Path) -> None:
    """Remove a video's local HLS files but its private marker: the HLS server (and nginx) still
    refuse a private video's plain paths when it plays from the store."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name != PRIVATE_MARKER:
            entry.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()  # empty unless the marker is kept


def close_unfinished(layout: HlsLayout, video_url: str) -> list[str]:
    """Close a recording a dead transcoder left open, as `transcoder.stream_playlists` closes one
    at the end of a stream: every variant playlist gets #EXT-X-ENDLIST (a low-latency one becomes
    plain VOD, its parts dropped) and the master keeps only the variants that have a playlist.
    Returns the renditions closed."""
    folder = layout.video_dir(video_url)
    closed: list[str] = []
    present: set[str] = set()
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        playlist = entry / VARIANT_PLAYLIST
        if entry.is_dir() and is_rendition_name(entry.name) and playlist.is_file():
            present.add(entry.name)
            if ensure_endlist(playlist):
                closed.append(entry.name)
    master = layout.master(video_url)
    try:
        text = master.read_text(encoding="utf-8")
    except FileNotFoundError:
        if present:
            logger.warning("archive: stream %s has no master playlist to store", video_url)
        return closed
    kept = master_keeping(text, video_url=video_url, present=present)
    if kept != text:
        atomic_write_text(master, kept)
    return closed


def master_keeping(text: str, *, video_url: str, present: set[str]) -> str:
    """The master without the variants (#EXT-X-STREAM-INF and its URI) that have no playlist."""
    lines = text.splitlines()
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#EXT-X-STREAM-INF:") and index + 1 < len(lines):
            uri = lines[index + 1].strip()
            rendition = uri.removeprefix(f"{video_url}/").split("/", 1)[0]
            if rendition in present:
                kept += [line, lines[index + 1]]
            index += 2
            continue
        kept.append(line)
        index += 1
    result = "\n".join(kept) + "\n"
    return result if any(k.startswith("#EXT-X-STREAM-INF:") for k in kept) else text


def is_plain_name(name: str) -> bool:
    """A file name inside the rendition folder: no folders, no way out of it."""
    return bool(name) and "/" not in name and "\\" not in name and name not in {".", ".."}


class Backoff:
    """Growing pauses with full jitter, reset by a success."""

    def __init__(self, *, minimum: float, maximum: float) -> None:
        self._minimum = minimum
        self._maximum = maximum
        self._failures = 0

    def next_pause(self) -> float:
        ceiling = min(self._maximum, self._minimum * (2**self._failures))
        self._failures += 1
        return random.uniform(self._minimum, max(self._minimum, ceiling))  # noqa: S311 - jitter

    def reset(self) -> None:
        self._failures = 0


@dataclass
class StreamState:
    """What the store holds of one stream, as far as this node knows."""

    video_url: str
    uploaded: set[str] = field(default_factory=set)  # segment keys
    playlists: dict[str, str] = field(default_factory=dict)  # key -> text last stored
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False
    listed: bool | None = None  # the prefix (private or not) whose objects were listed, once each
    task: asyncio.Task[None] | None = None
    # Left open by a dead transcoder: closed by `_close_when_over` unless a publish takes it over.
    closer: asyncio.Task[None] | None = None


class LiveArchiver:
    """Every live stream of one node into the object store (see the module docstring)."""

    def __init__(
        self,
        *,
        settings: ArchiveSettings,
        hls_root: Path,
        store: ObjectStore | None = None,
        on_stored: StoredCallback | None = None,
        on_segment_stored: Callable[[str, float], None] | None = None,
        is_ended: EndedCheck | None = None,
    ) -> None:
        self._settings = settings
        self._layout = HlsLayout(Path(hls_root))
        self._store = store or ObjectStore(settings.store)
        self._on_stored = on_stored
        self._is_ended = is_ended
        # Tests and the bench: (key, monotonic time it became readable).
        self._on_segment_stored = on_segment_stored
        self._pool = ThreadPoolExecutor(max_workers=settings.upload_concurrency, thread_name_prefix="archive")
        self._slots = asyncio.Semaphore(settings.upload_concurrency)
        self._streams: dict[str, StreamState] = {}
        self._removals: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    # --- the transcoder's hook -----------------------------------------------------------------

    def stream_started(self, video_url: str) -> None:
        if not is_video_url(video_url) or self._closing:
            return
        removal = self._removals.pop(video_url, None)
        if removal is not None:
            removal.cancel()
        self._layout.video_dir(video_url).joinpath(STORED_MARKER).unlink(missing_ok=True)
        state = self._streams.get(video_url)
        if state is not None and state.closer is not None:
            state.closer.cancel()  # a new publish goes on with the folder
            state.closer = None
        if state is not None and state.task is not None and not state.task.done():
            state.ended = False
            state.dirty.set()
            return
        self._follow(StreamState(video_url=video_url))

    def stream_ended(self, video_url: str) -> None:
        state = self._streams.get(video_url)
        if state is None:
            if not is_video_url(video_url) or self._closing:
                return
            state = StreamState(video_url=video_url)
            self._follow(state)
        state.ended = True
        state.dirty.set()

    # --- the node's lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Create the bucket if it is missing, then catch up on what a previous run left: every
        stream folder below the HLS root."""
        try:
            await self._call(self._store.ensure_bucket)
        except Exception as error:  # the store may come up later: uploads retry until it does
            logger.warning("archive: the bucket could not be checked or created: %s", _describe(error))
        root = self._layout.root
        if not root.is_dir():
            return
        for entry in sorted(root.iterdir()):
            if not entry.is_dir() or not is_video_url(entry.name) or entry.name in self._streams:
                continue
            if (entry / STORED_MARKER).exists():
                age = time.time() - (entry / STORED_MARKER).stat().st_mtime
                self._schedule_removal(entry.name, max(0.0, self._settings.local_grace_seconds - age))
                continue
            state = StreamState(video_url=entry.name)
            # A folder whose playlists are all closed is a finished recording; one that is not may
            # be taken over by a new publish (which calls stream_started), else it is stored as is.
            state.ended = self._all_closed(entry.name)
            logger.info("archive: catching up on stream %s", entry.name)
            self._follow(state)
            if not state.ended:
                state.closer = asyncio.get_running_loop().create_task(self._close_when_over(state))

    async def close(self, *, drain_seconds: float = 10.0) -> None:
        """Let ended streams finish their last pass (bounded), then stop everything."""
        self._closing = True
        finishing = [s.task for s in self._streams.values() if s.ended and s.task is not None]
        if finishing:
            await asyncio.wait(finishing, timeout=drain_seconds)
        tasks = [s.task for s in self._streams.values() if s.task is not None]
        tasks += [s.closer for s in self._streams.values() if s.closer is not None]
        tasks += list(self._removals.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def stored(self, video_url: str) -> bool:
        """True once the stream's recording is complete in the store."""
        return self._layout.video_dir(video_url).joinpath(STORED_MARKER).exists()

    # --- one stream ----------------------------------------------------------------------------

    def _follow(self, state: StreamState) -> None:
        self._streams[state.video_url] = state
        state.dirty.set()
        state.task = asyncio.get_running_loop().create_task(self._run(state))

    async def _run(self, state: StreamState) -> None:
        folder = self._layout.video_dir(state.video_url)
        folder.mkdir(parents=True, exist_ok=True)
        watcher = asyncio.get_running_loop().create_task(self._watch(state, folder))
        backoff = Backoff(minimum=self._settings.retry_min_seconds, maximum=self._settings.retry_max_seconds)
        try:
            while True:
                await state.dirty.wait()
                state.dirty.clear()
                ending = state.ended
                try:
                    await self._sync(state)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the store is down or refused: try again later
                    pause = backoff.next_pause()
                    logger.warning("archive: stream %s: upload failed (%s); again in %.1f s",
                                   state.video_url, _describe(error), pause)  # fmt: skip
                    await asyncio.sleep(pause)
                    state.dirty.set()
                    continue
                backoff.reset()
                if ending and state.ended and not state.dirty.is_set():
                    break
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await self._stored(state)

    async def _close_when_over(self, state: StreamState) -> None:
        """A folder a dead transcoder left open: close it once its video has ended or it has been
        idle long enough, then let the stream's last pass store it as a recording."""
        video_url = state.video_url
        settings = self._settings
        while True:
            idle = await asyncio.to_thread(self._idle_seconds, video_url)
            over = idle >= settings.unfinished_idle_seconds
            if not over and self._is_ended is not None:
                with contextlib.suppress(Exception):  # the API is down: ask again later
                    over = await self._is_ended(video_url) is True
            if over:
                break
            await asyncio.sleep(min(settings.unfinished_check_seconds,
                                    max(0.1, settings.unfinished_idle_seconds - idle)))  # fmt: skip
        if state.closer is not asyncio.current_task():
            return  # taken over by a publish meanwhile
        closed = await asyncio.to_thread(close_unfinished, self._layout, video_url)
        logger.info("archive: stream %s was left open (idle %.0f s); closed %s", video_url, idle,
                    ", ".join(closed) or "nothing")  # fmt: skip
        state.closer = None
        state.ended = True
        state.dirty.set()

    def _idle_seconds(self, video_url: str) -> float:
        """Seconds since anything of the stream's folder last changed."""
        folder = self._layout.video_dir(video_url)
        paths = [folder, self._layout.master(video_url)]
        with contextlib.suppress(FileNotFoundError):
            for entry in folder.iterdir():
                paths.append(entry)
                if entry.is_dir():
                    paths += entry.glob(f"*{PLAYLIST_SUFFIX}")
        newest = 0.0
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, path.stat().st_mtime)
        return max(0.0, time.time() - newest)

    async def _watch(self, state: StreamState, folder: Path) -> None:
        def playlists_only(_change: Change, path: str) -> bool:
            return path.endswith(PLAYLIST_SUFFIX)

        async for _changes in awatch(
            folder,
            watch_filter=playlists_only,
            debounce=20,
            step=10,
            rust_timeout=1000,
            yield_on_timeout=False,
        ):
            state.dirty.set()

    async def _sync(self, state: StreamState) -> None:
        """One pass: every rendition's new segments, then its playlist; then the master."""
        video_url = state.video_url
        folder = self._layout.video_dir(video_url)
        # A private video's objects go below their own prefix (never a public object); the marker
        # is kept by the API in the folder. A visibility change moves what was stored before.
        private = await asyncio.to_thread((folder / PRIVATE_MARKER).exists)
        if state.listed is not private:  # listed once per prefix (False/True), None before
            prefix = video_prefix(video_url, private=private)
            keys = await self._call(lambda: [o.key for o in self._store.list_prefix(prefix)])
            state.uploaded.update(key for key in keys if not key.endswith(PLAYLIST_SUFFIX))
            state.listed = private
        renditions = await asyncio.to_thread(
            lambda: (
                sorted(p.name for p in folder.iterdir() if p.is_dir() and is_rendition_name(p.name))
                if folder.is_dir()
                else []
            )
        )
        await asyncio.gather(*(self._sync_rendition(state, name, private=private) for name in renditions))
        master = self._layout.master(video_url)
        text = await asyncio.to_thread(self._read_text, master)
        key = master_key(video_url, private=private)
        if text is not None and state.playlists.get(key) != text:
            await self._call(lambda: self._store.put_bytes(key, text.encode()))
            state.playlists[key] = text

    async def _sync_rendition(self, state: StreamState, rendition: str, *, private: bool) -> None:
        video_url = state.video_url
        playlist = self._layout.variant_playlist(video_url, rendition)
        text = await asyncio.to_thread(self._read_text, playlist)
        if text is None:
            return
        playlist_key = hls_key(f"{video_url}/{rendition}/{VARIANT_PLAYLIST}", private=private)
        if state.playlists.get(playlist_key) == text:
            return
        folder = self._layout.rendition_dir(video_url, rendition)
        missing = [
            (hls_key(f"{video_url}/{rendition}/{name}", private=private), folder / name)
            for name in playlist_files(text)
            if is_plain_name(name)
            and hls_key(f"{video_url}/{rendition}/{name}", private=private) not in state.uploaded
        ]
        results = await asyncio.gather(
            *(self._upload_segment(state, key, path) for key, path in missing), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        await self._call(lambda: self._store.put_bytes(playlist_key, text.encode()))
        state.playlists[playlist_key] = text

    async def _upload_segment(self, state: StreamState, key: str, path: Path) -> None:
        try:
            await self._call(lambda: self._store.put_file(key, path))
        except FileNotFoundError:
            logger.warning("archive: %s is gone from the disk before it was stored", path)
        state.uploaded.add(key)
        if self._on_segment_stored is not None:
            self._on_segment_stored(key, time.monotonic())

    async def _stored(self, state: StreamState) -> None:
        """The recording is complete in the store: mark it, tell the API, remove it later."""
        video_url = state.video_url
        self._streams.pop(video_url, None)
        folder = self._layout.video_dir(video_url)
        if not folder.is_dir():
            return
        (folder / STORED_MARKER).touch()
        logger.info("archive: stream %s is complete in the store", video_url)
        if self._on_stored is not None:
            await self._report(video_url, self._on_stored)
        self._schedule_removal(video_url, self._settings.local_grace_seconds)

    async def _report(self, video_url: str, on_stored: StoredCallback) -> None:
        backoff = Backoff(minimum=self._settings.retry_min_seconds, maximum=self._settings.retry_max_seconds)
        for _attempt in range(self._settings.report_attempts):
            with contextlib.suppress(Exception):
                if await on_stored(video_url):
                    return
            await asyncio.sleep(backoff.next_pause())
        logger.warning("archive: could not tell the API that %s is stored", video_url)

    def _schedule_removal(self, video_url: str, delay: float) -> None:
        previous = self._removals.pop(video_url, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.get_running_loop().create_task(self._remove_later(video_url, delay))
        self._removals[video_url] = task

    async def _remove_later(self, video_url: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if video_url in self._streams:
            return  # live again
        folder = self._layout.video_dir(video_url)
        master = self._layout.master(video_url)
        await asyncio.to_thread(remove_media_keeping_marker, folder)
        master.unlink(missing_ok=True)
        self._removals.pop(video_url, None)
        logger.info("archive: local copy of %s removed; it plays from the store", video_url)

    # --- helpers -------------------------------------------------------------------------------

    async def _call(self, work: Callable[[], T]) -> T:
        """Blocking store work in the node's pool, at most `upload_concurrency` at a time."""
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def _read_text(self, path: Path) -> str | None:
        try:
            with path.open("rb") as handle:
                data = handle.read(self._settings.max_playlist_bytes + 1)
        except FileNotFoundError:
            return None
        if len(data) > self._settings.max_playlist_bytes:
            raise ValueError(f"{path} is larger than {self._settings.max_playlist_bytes} bytes")
        return data.decode("utf-8", errors="replace")

    def _all_closed(self, video_url: str) -> bool:
        folder = self._layout.video_dir(video_url)
        playlists = [p / VARIANT_PLAYLIST for p in folder.iterdir() if p.is_dir()]
        closed = [p for p in playlists if p.exists() and ENDLIST in (self._read_text(p) or "")]
        return bool(playlists) and len(closed) == len(playlists)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:300]
