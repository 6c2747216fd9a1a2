"""Several HLS server processes on one port, and one viewer count for all of them.

Each worker binds the port with SO_REUSEPORT, so the kernel spreads connections over them. A
player's connections may land on different workers, and the API's viewers hook *sets* counts,
so workers must not report on their own: every second each worker hands the sessions it saw to
the parent over a pipe, and the parent alone keeps the ViewerTracker and reports it.

The parent restarts a worker that dies, stops all of them on SIGINT/SIGTERM (each finishes its
responses in flight), and a worker whose parent is gone stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

from hls_out.server import HlsServer, new_tracker, start_viewer_reports
from hls_out.settings import HlsSettings
from hls_out.viewers import Touch, TouchBatch
from tidecast_common.logs import configure_logging

logger = logging.getLogger(__name__)

HAND_OVER_SECONDS = 1.0
SUPERVISE_SECONDS = 1.0
RESTART_PAUSE_SECONDS = 1.0
SHUTDOWN_GRACE_SECONDS = 5.0


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop, or on asyncio's own loop where uvloop is not installed.

    uvloop's C transports cost a fraction of asyncio's per request and write a large body without
    copying it; it has no sendfile, so web.FileResponse (segments too large for the cache, ranges)
    reads the file in FALLBACK_CHUNK_BYTES chunks instead.
    """
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def serve_one(settings: HlsSettings) -> None:
    """A single process: serve, count and report viewers, until SIGINT/SIGTERM."""
    server = HlsServer(settings)
    await server.start()
    logger.info("serving %s on http://%s:%d/hls-live/", settings.hls_root, settings.host, server.port)
    await _until_signalled()
    await server.stop(grace_seconds=SHUTDOWN_GRACE_SECONDS)


async def serve_workers(settings: HlsSettings, count: int) -> None:
    """The parent: `count` worker processes, their viewer sessions merged and reported from here."""
    loop = asyncio.get_running_loop()
    tracker = new_tracker(settings)
    context = multiprocessing.get_context("spawn")
    workers: list[tuple[SpawnProcess, Connection] | None] = [None] * count

    def receive(pipe: Connection) -> None:
        try:
            touches: list[Touch] = pipe.recv()
        except (EOFError, OSError):  # the worker is gone; supervise() starts another
            loop.remove_reader(pipe.fileno())
            return
        now = loop.time()
        for video_url, session, client in touches:
            tracker.touch(video_url=video_url, session=session, client=client, now=now)

    def start(index: int) -> None:
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(
            target=worker_main, args=(settings, writer), name=f"hls-worker-{index}", daemon=True
        )
        process.start()
        writer.close()
        loop.add_reader(reader.fileno(), receive, reader)
        workers[index] = (process, reader)

    def retire(index: int) -> None:
        worker = workers[index]
        if worker is not None:
            process, reader = worker
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(reader.fileno())
            reader.close()
            process.close()
            workers[index] = None

    async def supervise() -> None:
        while True:
            await asyncio.sleep(SUPERVISE_SECONDS)
            for index, worker in enumerate(workers):
                if worker is not None and not worker[0].is_alive():
                    logger.warning(
                        "HLS worker %d exited with %s; starting another", index, worker[0].exitcode
                    )
                    retire(index)
                    await asyncio.sleep(RESTART_PAUSE_SECONDS)
                    start(index)

    _check_port_free(settings)
    for index in range(count):
        start(index)
    logger.info(
        "serving %s on http://%s:%d/hls-live/ with %d workers",
        settings.hls_root,
        settings.host,
        settings.port,
        count,
    )
    tasks = [asyncio.create_task(supervise()), *start_viewer_reports(settings, tracker)]
    try:
        await _until_signalled()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running = [worker[0] for worker in workers if worker is not None]
        for process in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker stops accepting and finishes its responses
        await asyncio.to_thread(_reap, running, SHUTDOWN_GRACE_SECONDS + 2)
        for index in range(count):
            retire(index)


def _check_port_free(settings: HlsSettings) -> None:
    """Fail at once, not in every worker over and over, if the port is taken by another program."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as error:
            raise SystemExit(f"hls_out: cannot listen on {settings.host}:{settings.port}: {error}") from None


def _reap(processes: list[SpawnProcess], timeout: float) -> None:
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()


def worker_main(settings: HlsSettings, pipe: Connection) -> None:
    """A worker process's entry point (spawned: nothing is inherited but the arguments)."""
    configure_logging(settings.log_level, settings.log_format)
    run(_worker(settings, pipe))


async def _worker(settings: HlsSettings, pipe: Connection) -> None:
    batch = TouchBatch(max_sessions=settings.max_viewer_sessions)
    server = HlsServer(settings, viewers=batch)
    await server.start(reuse_port=True)
    parent = os.getppid()
    stopped = asyncio.create_task(_until_signalled())
    try:
        while not stopped.done():
            await asyncio.wait([stopped], timeout=HAND_OVER_SECONDS)
            if os.getppid() != parent:
                logger.warning("the HLS parent process is gone; stopping")
                break
            touches = batch.take()
            if touches:
                try:
                    await asyncio.to_thread(pipe.send, touches)
                except (BrokenPipeError, OSError):
                    break
    finally:
        stopped.cancel()
        await server.stop(grace_seconds=SHUTDOWN_GRACE_SECONDS)
        pipe.close()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
