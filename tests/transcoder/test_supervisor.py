"""SupervisedProcess with small real commands (cat, sh, sleep) as the child."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from transcoder.supervisor import (
    ExitOutcome,
    ProcessExit,
    ProcessLimits,
    ProcessState,
    RestartBudget,
    SupervisedProcess,
)

ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
FAST = ProcessLimits(
    restart_pause_seconds=0.05,
    write_timeout_seconds=0.3,
    finish_timeout_seconds=0.3,
    terminate_timeout_seconds=0.3,
)


def supervised(argv: list[str], *, limits: ProcessLimits = FAST, **options: object) -> SupervisedProcess:
    return SupervisedProcess(
        name="test", command=lambda restart: argv, environment=ENVIRONMENT, limits=limits, **options
    )  # type: ignore[arg-type]


class Exits(list[ProcessExit]):
    """An `on_exit` callback keeping what it got; `until()` waits for an outcome."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __call__(self, process_exit: ProcessExit) -> None:
        self.append(process_exit)
        self._changed.set()

    async def until(self, outcome: ExitOutcome) -> None:
        async with asyncio.timeout(5.0):
            while not self or self[-1].outcome is not outcome:
                self._changed.clear()
                await self._changed.wait()


def test_restart_budget_allows_max_restarts_per_window() -> None:
    budget = RestartBudget(max_restarts=2, window_seconds=10.0)
    assert budget.allow(0.0)
    assert budget.allow(1.0)
    assert not budget.allow(2.0)  # a third exit within 10 s
    fresh = RestartBudget(max_restarts=2, window_seconds=10.0)
    # 0.0 and 1.0 have left the window by 11.5; the third exit within 10 s is again one too many.
    assert [fresh.allow(t) for t in (0.0, 1.0, 11.5, 12.0, 12.5)] == [True, True, True, True, False]
    assert RestartBudget(max_restarts=2, window_seconds=10.0).allow(0.0)
    assert not RestartBudget(max_restarts=0, window_seconds=10.0).allow(0.0)


async def test_writes_reach_the_child_and_stop_closes_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out"
    exits = Exits()
    process = supervised(["sh", "-c", 'exec cat > "$1"', "sh", str(out)], on_exit=exits)
    assert process.state is ProcessState.IDLE
    assert await process.start()
    assert process.running
    assert process.pid is not None
    assert await process.write(b"hello ")
    assert await process.write(b"world")
    assert await process.stop() == 0
    assert out.read_bytes() == b"hello world"
    assert exits == [ProcessExit(0, ExitOutcome.STOPPED)]
    assert process.state is ProcessState.STOPPED
    assert not process.running
    assert not await process.write(b"late")
    assert await process.stop() is None  # once only


async def test_an_exiting_child_is_restarted_after_the_pause_until_the_budget_is_spent() -> None:
    starts: list[tuple[bool, float]] = []
    exits = Exits()

    def command(restart: bool) -> list[str]:
        starts.append((restart, time.monotonic()))
        return ["sh", "-c", "echo bad input >&2; exit 3"]

    limits = ProcessLimits(max_restarts=2, restart_window_seconds=60.0, restart_pause_seconds=0.2)
    process = SupervisedProcess(
        name="test", command=command, environment=ENVIRONMENT, limits=limits, on_exit=exits
    )
    await process.start()
    await exits.until(ExitOutcome.FAILED)
    await asyncio.sleep(0.4)  # nothing starts after the failure
    assert [restart for restart, _ in starts] == [False, True, True]
    assert all(later - earlier >= 0.2 for (_, earlier), (_, later) in itertools.pairwise(starts))
    assert [(e.returncode, e.outcome) for e in exits] == [
        (3, ExitOutcome.RESTARTING),
        (3, ExitOutcome.RESTARTING),
        (3, ExitOutcome.FAILED),
    ]
    assert exits[-1].stderr_tail[-1] == "bad input"
    assert process.failed
    assert process.restarts == 2
    assert await process.stop() is None
    assert process.state is ProcessState.FAILED  # still says why it ended


async def test_stop_during_the_restart_pause_starts_nothing() -> None:
    starts: list[bool] = []

    def command(restart: bool) -> list[str]:
        starts.append(restart)
        return ["sh", "-c", "exit 1"]

    exits = Exits()
    limits = ProcessLimits(restart_pause_seconds=5.0)
    process = SupervisedProcess(
        name="test", command=command, environment=ENVIRONMENT, limits=limits, on_exit=exits
    )
    await process.start()
    await exits.until(ExitOutcome.RESTARTING)
    assert process.state is ProcessState.RESTARTING
    await asyncio.wait_for(process.stop(), timeout=2)
    await asyncio.sleep(0.1)
    assert starts == [False]
    assert process.state is ProcessState.STOPPED


async def test_the_stderr_tail_is_bounded_and_consumed_lines_stay_out() -> None:
    script = "for i in $(seq 1 50); do echo line $i >&2; echo progress=continue >&2; done; exit 1"
    seen: list[str] = []

    def consume(line: str) -> bool:
        seen.append(line)
        return line.startswith("progress=")

    limits = ProcessLimits(max_restarts=0, stderr_tail_lines=5)
    exits = Exits()
    process = supervised(["sh", "-c", script], limits=limits, on_stderr=consume, on_exit=exits)
    await process.start()
    await exits.until(ExitOutcome.FAILED)
    assert process.stderr_tail() == [f"line {i}" for i in range(46, 51)]
    assert exits[0].stderr_tail == tuple(process.stderr_tail())
    assert len(seen) == 100


async def test_stop_terminates_a_child_that_ignores_eof() -> None:
    process = supervised(["sleep", "30"])
    await process.start()
    started = time.monotonic()
    assert await process.stop() == -signal.SIGTERM
    assert time.monotonic() - started < 2.0


async def test_stop_is_bounded_while_a_write_is_stuck_in_the_pipe() -> None:
    process = supervised(["sleep", "30"], limits=replace(FAST, write_timeout_seconds=30.0))
    await process.start()
    stuck = asyncio.create_task(process.write(b"x" * (4 * 1024 * 1024)))
    await asyncio.sleep(0.1)
    assert not stuck.done()
    assert await asyncio.wait_for(process.stop(), timeout=3.0) == -signal.SIGTERM
    assert not await asyncio.wait_for(stuck, timeout=3.0)


async def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    process = supervised(["sh", "-c", 'trap "" TERM; echo ready >&2; while :; do sleep 0.05; done'])
    await process.start()
    await asyncio.sleep(0.2)  # the trap is set
    started = time.monotonic()
    assert await process.stop() == -signal.SIGKILL
    assert time.monotonic() - started < 2.0


async def test_a_child_that_takes_no_input_is_killed_after_the_write_timeout() -> None:
    exits = Exits()
    limits = ProcessLimits(max_restarts=0, write_timeout_seconds=0.3)
    process = supervised(["sleep", "30"], limits=limits, on_exit=exits)
    await process.start()
    started = time.monotonic()
    assert not await process.write(b"x" * (4 * 1024 * 1024))  # far more than a pipe holds
    assert 0.25 <= time.monotonic() - started < 2.0
    await exits.until(ExitOutcome.FAILED)
    assert [(e.returncode, e.outcome) for e in exits] == [(-signal.SIGKILL, ExitOutcome.FAILED)]


async def test_a_command_that_cannot_start_fails_at_once(tmp_path: Path) -> None:
    exits = Exits()
    process = supervised([str(tmp_path / "missing")], on_exit=exits)
    assert not await process.start()
    assert process.failed
    assert len(exits) == 1
    assert exits[0].returncode is None
    assert exits[0].outcome is ExitOutcome.FAILED


async def test_the_child_gets_only_the_environment_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_SHARED_SECRET", "parent-secret")
    dump = tmp_path / "environ"
    process = SupervisedProcess(
        name="test",
        command=lambda restart: ["sh", "-c", 'tr "\\0" "\\n" < /proc/$$/environ > "$1"', "sh", str(dump)],
        environment={"PATH": "/usr/bin:/bin", "ONLY": "this"},
    )
    await process.start()
    await process.stop()
    assert sorted(dump.read_text().splitlines()) == ["ONLY=this", "PATH=/usr/bin:/bin"]
