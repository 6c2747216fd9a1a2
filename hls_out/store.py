"""Playlists and segments from the object store, for what is no longer (or never was) on local disk.

The ingest copies every stream into the store and removes its local copy after a grace period
(`transcoder.archive`); VOD renditions may live only there. A request the HLS root cannot answer
is looked up in the store by the same key layout (`tidecast_common.object_store`). Objects are
read in a small thread pool (boto3 blocks), at most `max_object_bytes` each, and kept in a
bounded LRU: segments and closed playlists never change; a playlist still growing is kept for
a second only. Concurrent requests for one object share one read.

A plain path reads the public prefix only: a private video's objects sit below their own prefix,
so a node that has not (yet) its private marker still refuses them (404). A tokenized path reads
the private prefix first, then the public one (a visibility change may be moving the objects).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tidecast_common.layout import PLAYLIST_SUFFIX, SERVABLE_PATH, URL_PREFIX
from tidecast_common.object_store import ObjectStore, ObjectStoreSettings, hls_key

logger = logging.getLogger(__name__)

ENDLIST = b"#EXT-X-ENDLIST"
LIVE_PLAYLIST_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class StoredFile:
    body: bytes
    etag: str
    expires: float  # monotonic time; inf for what never changes


class StoreFallback:
    def __init__(
        self,
        store: ObjectStore,
        *,
        cache_bytes: int = 64 * 1024 * 1024,
        max_object_bytes: int = 64 * 1024 * 1024,
        threads: int = 8,
    ) -> None:
        self._store = store
        self._cache_bytes = cache_bytes
        self._max_object_bytes = max_object_bytes
        self._cache: OrderedDict[str, StoredFile] = OrderedDict()
        self._cached_bytes = 0
        self._reading: dict[str, asyncio.Future[StoredFile | None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hls-store")

    @classmethod
    def from_settings(
        cls, settings: ObjectStoreSettings, *, cache_bytes: int, max_object_bytes: int
    ) -> StoreFallback:
        return cls(ObjectStore(settings), cache_bytes=cache_bytes, max_object_bytes=max_object_bytes)

    async def get(self, request_path: str, *, tokenized: bool = False) -> StoredFile | None:
        """The object a servable request path names, or None (not a servable path, not stored, or
        the store unreachable: the caller answers 404). `tokenized`: the path came with a valid
        playback token, so a private video's objects may be read."""
        if not SERVABLE_PATH.fullmatch(request_path):
            return None
        relative = request_path[len(URL_PREFIX) :]
        if tokenized:
            found = await self._get(hls_key(relative, private=True))
            if found is not None:
                return found
        return await self._get(hls_key(relative))

    async def _get(self, key: str) -> StoredFile | None:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached.expires > now:
            self._cache.move_to_end(key)
            return cached
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.get_running_loop().create_future()
            self._reading[key] = reading
            try:
                found = await asyncio.get_running_loop().run_in_executor(self._pool, self._read, key)
                reading.set_result(found)
            except Exception as error:
                logger.warning("store: %s could not be read: %s", key, str(error)[:200])
            finally:
                if not reading.done():  # failed or cancelled: the others answer 404 too
                    reading.set_result(None)
                del self._reading[key]
        found = await asyncio.shield(reading)
        if found is not None:
            self._keep(key, found)
        return found

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _read(self, key: str) -> StoredFile | None:
        body = self._store.get_bytes(key, max_bytes=self._max_object_bytes)
        if body is None:
            return None
        growing = key.endswith(PLAYLIST_SUFFIX) and ENDLIST not in body
        expires = time.monotonic() + LIVE_PLAYLIST_SECONDS if growing else float("inf")
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        return StoredFile(body=body, etag=etag, expires=expires)

    def _keep(self, key: str, found: StoredFile) -> None:
        if len(found.body) > self._cache_bytes // 4:
            return
        previous = self._cache.pop(key, None)
        if previous is not None:
            self._cached_bytes -= len(previous.body)
        self._cache[key] = found
        self._cached_bytes += len(found.body)
        while self._cached_bytes > self._cache_bytes and self._cache:
            _, oldest = self._cache.popitem(last=False)
            self._cached_bytes -= len(oldest.body)
