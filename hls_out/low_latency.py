"""The HTTP side of Low-Latency HLS: what `hls_out.app`'s handler hands over.

Two kinds of request come here: a playlist request with `_HLS_` parameters (held by
`hls_out.blocking`, then answered from the playlist cache, as a delta update when asked), and a
request for a part that is not there yet (held when it is the hinted one, else 404). Plain
requests never pass through this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from hls_out.app import HlsFileResponse, MemoryFileResponse, error_response, serve_from_memory
from hls_out.blocking import LowLatency, LowLatencyError, folder_of, parse_query
from hls_out.file_cache import FileCache, read_cached_file
from hls_out.metrics import Traffic
from hls_out.paths import HlsPathError, hls_relative_path, resolve_hls_file
from tidecast_common.layout import PLAYLIST_SUFFIX

LowLatencyHandler = Callable[[web.BaseRequest, str], Awaitable[web.StreamResponse]]


def build_low_latency_handler(
    *,
    hls_root: Path,
    blocking: LowLatency,
    playlists: FileCache,
    segments: FileCache,
    traffic: Traffic,
    send_timeout: float,
) -> LowLatencyHandler:
    base = hls_root.resolve()

    async def handle(request: web.BaseRequest, path: str) -> web.StreamResponse:
        try:
            if path.endswith(PLAYLIST_SUFFIX):
                return await playlist(request, path)
            return await hinted_part(request, path)
        except LowLatencyError as error:
            return error_response(error.status, str(error))
        except HlsPathError as error:
            return error_response(error.status, str(error))

    async def playlist(request: web.BaseRequest, path: str) -> web.StreamResponse:
        query = parse_query(request.query)
        file_path, _info = resolve_hls_file(base, path)
        await blocking.hold_playlist(file_path, query)
        file_path, info = resolve_hls_file(base, path)  # the newest version, renamed into place
        if query.skip:
            cached = playlists.get(file_path, info)
            if cached is None:
                cached = read_cached_file(file_path, max_bytes=playlists.max_file_bytes)
                if cached is not None:
                    playlists.put(file_path, cached)
            delta = blocking.delta(file_path, cached) if cached is not None else None
            if delta is not None:
                return MemoryFileResponse(body=delta, send_timeout=send_timeout)
        return await serve_from_memory(request, playlists, file_path, info, send_timeout=send_timeout)

    async def hinted_part(request: web.BaseRequest, path: str) -> web.StreamResponse:
        relative = hls_relative_path(path)
        folder = folder_of(base, relative)
        if not await blocking.hold_part(folder, relative.rpartition("/")[2]):
            return error_response(404, "no such file")
        file_path, info = resolve_hls_file(base, path)
        if segments.admits(info):
            return await serve_from_memory(request, segments, file_path, info, send_timeout=send_timeout)
        return HlsFileResponse(file_path, send_timeout=send_timeout, traffic=traffic)

    return handle
