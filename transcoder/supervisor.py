"""One external command kept running: spawned, fed on stdin, restarted when it dies, stopped in order.

`SupervisedProcess` knows nothing of media. It starts `command(restart)` with
`asyncio.create_subprocess_exec` (an argv, never a shell) in the minimal environment it is given,
writes to its stdin with `drain()` under a timeout, keeps a bounded tail of its stderr, and:

- when the child exits on its own, calls `on_exit(ProcessExit(..., RESTARTING))`, waits the
  policy's pause and starts it again, `command(True)` this time;
- when the child exits more often than the restart budget allows, or cannot be started at all,
  calls `on_exit(ProcessExit(..., FAILED))` once and stays `failed`: nothing is started again;
- `stop()` closes stdin (the child finishes its work on EOF), then SIGTERM, then SIGKILL, each
  after its timeout, always reaps the child and calls `on_exit(ProcessExit(..., STOPPED))`.

No child outlives its supervisor for long: it runs in a session of its own (a Ctrl-C on the terminal
reaches the parent, which stops it in order), and a parent that dies, even by SIGKILL, closes the
child's stdin, so the child finishes what it was given and exits on EOF. No signal is sent there:
ffmpeg stopped by a signal at its parent's death would lose the recording it was closing.

It is one module of some 300 lines because spawning, writing, watching and stopping share one
child and one state (`ProcessState`); the restart budget is apart (`RestartBudget`), and pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# How long an exited child's last stderr lines get to arrive before its exit is reported.
STDERR_DRAIN_SECONDS = 1.0


class ProcessState(enum.StrEnum):
    IDLE = "idle"  # not started yet
    RUNNING = "running"
    RESTARTING = "restarting"  # exited; started again after the pause
    FAILED = "failed"  # gave up: the restart budget is spent, or the command cannot be started
    STOPPED = "stopped"


class ExitOutcome(enum.StrEnum):
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ProcessExit:
    """What `on_exit` receives. `returncode` is None when the command could not be started."""

    returncode: int | None
    outcome: ExitOutcome
    stderr_tail: tuple[str, ...] = ()


ExitCallback = Callable[[ProcessExit], None]


@dataclass(frozen=True, slots=True)
class ProcessLimits:
    """Restart budget and timeouts of one supervised command."""

    # At most `max_restarts` restarts within `restart_window_seconds`; one exit more and it fails.
    max_restarts: int = 5
    restart_window_seconds: float = 60.0
    restart_pause_seconds: float = 0.2
    # A stdin write the child does not take within this time kills the child (it then restarts).
    write_timeout_seconds: float = 10.0
    # After stdin is closed, how long the child may take to finish before SIGTERM; then SIGKILL.
    finish_timeout_seconds: float = 10.0
    terminate_timeout_seconds: float = 3.0
    stderr_tail_lines: int = 40
    stderr_line_bytes: int = 16 * 1024


class RestartBudget:
    """Allows `max_restarts` restarts within any `window_seconds`; pure, the clock is passed in."""

    def __init__(self, *, max_restarts: int, window_seconds: float) -> None:
        self._max_restarts = max_restarts
        self._window = window_seconds
        self._exits: deque[float] = deque(maxlen=max_restarts + 1)

    def allow(self, now: float) -> bool:
        """Record an exit at `now`; True if the command may be started again."""
        self._exits.append(now)
        recent = sum(1 for moment in self._exits if now - moment < self._window)
        return recent <= self._max_restarts


class SupervisedProcess:
    """A command with stdin fed by the caller, restarted with a pause, stopped in order."""

    def __init__(
        self,
        *,
        name: str,
        command: Callable[[bool], Sequence[str]],
        environment: Mapping[str, str],
        limits: ProcessLimits | None = None,
        on_exit: ExitCallback | None = None,
        on_stderr: Callable[[str], bool] | None = None,
    ) -> None:
        """`command(restart)` gives the argv of each start (restart: not the first one). `on_stderr`
        sees every stderr line first and returns True for those it consumed (kept out of the tail)."""
        self.name = name
        self._command = command
        self._environment = dict(environment)
        self._limits = limits or ProcessLimits()
        self._on_exit = on_exit
        self._on_stderr = on_stderr
        self._budget = RestartBudget(
            max_restarts=self._limits.max_restarts, window_seconds=self._limits.restart_window_seconds
        )
        self._state = ProcessState.IDLE
        self._stopped = False
        self._process: asyncio.subprocess.Process | None = None
        self._spawn_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stderr_tail: deque[str] = deque(maxlen=self._limits.stderr_tail_lines)
        self.runs = 0  # processes started so far; a new number means a fresh stdin
        self.restarts = 0
        self.started_at: float | None = None

    @property
    def state(self) -> ProcessState:
        return self._state

    @property
    def failed(self) -> bool:
        return self._state is ProcessState.FAILED

    @property
    def running(self) -> bool:
        process = self._process
        return process is not None and process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stderr_tail(self) -> list[str]:
        return list(self._stderr_tail)

    async def start(self) -> bool:
        """Start the first process; False if it could not be started (the state is then `failed`)."""
        if self._state is not ProcessState.IDLE:
            return self.running
        self.started_at = time.monotonic()
        await self._spawn(restart=False)
        return self.running

    async def write(self, data: bytes) -> bool:
        """Send `data` to the child's stdin; False if it did not get there (no child, it died, or it
        took no input within the write timeout and was killed)."""
        process = self._process
        stdin = process.stdin if process is not None else None
        if process is None or stdin is None or stdin.is_closing():
            # Between an exit and its restart. Writing to a closing pipe raises RuntimeError
            # under uvloop rather than BrokenPipeError.
            return False
        try:
            stdin.write(data)
            async with asyncio.timeout(self._limits.write_timeout_seconds):
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False  # it died: its watcher restarts it
        except TimeoutError:
            logger.error("%s: %d took no input for %.0f s, killing it", self.name, process.pid,
                         self._limits.write_timeout_seconds)  # fmt: skip
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return False
        return True

    async def stop(self) -> int | None:
        """Close stdin, let the child finish, force it if it hangs; its return code (None: none ran)."""
        async with self._spawn_lock:
            if self._stopped:
                return None
            self._stopped = True
            if self._state is not ProcessState.FAILED:
                self._state = ProcessState.STOPPED
        process, self._process = self._process, None
        returncode = await self._finish(process) if process is not None else None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if returncode is not None and self._on_exit is not None:
            self._on_exit(ProcessExit(returncode, ExitOutcome.STOPPED, tuple(self._stderr_tail)))
        return returncode

    # --- internals -------------------------------------------------------------------------------

    async def _spawn(self, *, restart: bool) -> None:
        async with self._spawn_lock:
            if self._stopped:
                return
            argv: list[str] = []
            try:
                argv = list(self._command(restart))
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    env=self._environment,
                    start_new_session=True,
                    limit=self._limits.stderr_line_bytes,
                )
            except OSError as error:
                logger.error("%s: cannot start %s: %s", self.name, argv[0] if argv else "it", error)
                self._state = ProcessState.FAILED
                if self._on_exit is not None:
                    self._on_exit(ProcessExit(None, ExitOutcome.FAILED, (str(error),)))
                return
            self._process = process
            self._state = ProcessState.RUNNING
            self.runs += 1
            logger.info(
                "%s: %d started (%s)", self.name, process.pid, "restart" if restart else "first start"
            )
            stderr_reader = self._track(self._read_stderr(process))
            self._track(self._watch(process, stderr_reader))

    def _track(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _watch(self, process: asyncio.subprocess.Process, stderr_reader: asyncio.Task[None]) -> None:
        returncode = await process.wait()
        if self._process is not process:
            return  # stopped: stop() reports this exit
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(stderr_reader), timeout=STDERR_DRAIN_SECONDS)
        if self._process is not process:
            return
        self._process = None
        restarting = self._budget.allow(time.monotonic())
        self._state = ProcessState.RESTARTING if restarting else ProcessState.FAILED
        logger.error(
            "%s: %d exited with %s (%s); last output:\n%s",
            self.name,
            process.pid,
            returncode,
            "restarting" if restarting else "too many restarts, giving up",
            "\n".join(self._stderr_tail),
        )
        outcome = ExitOutcome.RESTARTING if restarting else ExitOutcome.FAILED
        if self._on_exit is not None:
            self._on_exit(ProcessExit(returncode, outcome, tuple(self._stderr_tail)))
        if not restarting:
            return
        await asyncio.sleep(self._limits.restart_pause_seconds)
        self.restarts += 1
        await self._spawn(restart=True)

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        stream = process.stderr
        if stream is None:
            return
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: skipped
                continue
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip()
            if not line or (self._on_stderr is not None and self._on_stderr(line)):
                continue
            self._stderr_tail.append(line)
            logger.debug("%s: %s", self.name, line)

    async def _finish(self, process: asyncio.subprocess.Process) -> int:
        """Close stdin so the child finishes on EOF; SIGTERM, then SIGKILL, if it does not. The close
        is inside the first timeout too: a child that reads nothing never lets its pipe flush."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._limits.finish_timeout_seconds):
                if process.stdin is not None:
                    process.stdin.close()
                    with contextlib.suppress(OSError):
                        await process.stdin.wait_closed()
                return await process.wait()
        logger.warning("%s: %d did not finish, terminating it", self.name, process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(process.wait(), timeout=self._limits.terminate_timeout_seconds)
        logger.warning("%s: %d ignored SIGTERM, killing it", self.name, process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return await process.wait()
