"""Run a procedure: worker thread, streaming storage, progress, abort, guaranteed shutdown.

The runner owns everything around the measurement so procedures don't have to: it creates
the run file before the first point, writes and flushes each point as it is recorded, fans
points and progress out to listeners (CLI progress bar, GUI), and — whatever happens:
completion, abort, an exception in the procedure, Ctrl-C — switches every laser off and
writes the run's final status. Analysis runs after the file is closed, so a failing fit never
costs data.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .bench import Bench, ShutdownReport
from .errors import RunAborted
from .procedure import Procedure, RunContext
from .storage import RunData, RunWriter, read_run

log = logging.getLogger(__name__)

#: After an abort, how long the main thread lets the worker finish before switching the
#: lasers off itself (the worker may be stuck in instrument I/O).
ABORT_GRACE_S = 10.0


class RunListener(Protocol):
    """Receives run events. Called from the worker thread: GUIs must marshal to their own."""

    def on_point(self, row: Mapping[str, Any]) -> None: ...
    def on_progress(self, fraction: float, message: str) -> None: ...


@dataclass
class RunResult:
    status: str  # completed | aborted | failed
    path: Path
    message: str
    n_points: int
    shutdown: ShutdownReport
    analysis: Any = None
    analysis_error: str = ""
    duration_s: float = 0.0
    bench_time_s: float = 0.0
    data: RunData | None = None  # the file as read back for the analysis (None if no points)


class Runner:
    """Executes one procedure on a bench, writing one run file."""

    def __init__(self, procedure: Procedure, bench: Bench, out_path: str | Path, *,
                 listeners: Iterable[RunListener] = (), flush_every: int = 1) -> None:
        self.procedure = procedure
        self.bench = bench
        self.out_path = Path(out_path)
        self.listeners = list(listeners)
        self.flush_every = flush_every
        self._thread: threading.Thread | None = None
        self._writer: RunWriter | None = None
        self._result: RunResult | None = None
        self._abort_reason = ""
        self._grace_timer: threading.Timer | None = None
        self._n_points = 0
        # Completion is signalled by an Event, not Thread.join()/is_alive(): a
        # KeyboardInterrupt landing inside Thread.join() can leave the thread's state
        # inconsistent (CPython gh-90882), and callers of join() may not be the main thread.
        self._done = threading.Event()

    # --- control -------------------------------------------------------------------------------
    def start(self) -> None:
        """Check parameters against the bench, create the run file, start the worker."""
        if self._thread is not None:
            raise RuntimeError("a Runner runs once; make a new one")
        self.procedure.check(self.bench)
        self.bench.stop_event.clear()
        self._writer = RunWriter(
            self.out_path,
            procedure=self.procedure.name,
            columns=self.procedure.columns,
            signal=self.procedure.signal,
            axes=self.procedure.axes,
            parameters=self.procedure.values(),
            config_text=self.bench.config.text,
            instruments=self.bench.identities(),
            software_version=__version__,
            sample=self._sample_description(),
            measurements=self.procedure.measurements,
            flush_every=self.flush_every,
        )
        self._t0 = time.perf_counter()
        self._bench_t0 = self.bench.now()
        self._thread = threading.Thread(target=self._work, name=f"avlab-{self.procedure.name}",
                                        daemon=True)
        self._thread.start()

    def abort(self, reason: str = "aborted by the user") -> None:
        """Ask the procedure to stop; waits and gates end at the next check.

        Whoever asks (Ctrl-C, a GUI button, a script), a procedure stuck in instrument I/O
        must not keep the pump on: if the worker has not finished ABORT_GRACE_S after the
        first request, the lasers are switched off from a timer thread.
        """
        if not self._abort_reason:
            self._abort_reason = reason
            if self._thread is not None and not self._done.is_set():
                self._grace_timer = threading.Timer(ABORT_GRACE_S, self._grace_over)
                self._grace_timer.daemon = True
                self._grace_timer.start()
        self.bench.stop_event.set()

    def _grace_over(self) -> None:
        if not self._done.is_set():
            log.error("procedure did not stop within %g s; switching lasers off", ABORT_GRACE_S)
            self.bench.shutdown()

    def join(self, timeout: float | None = None) -> RunResult | None:
        """Wait for the worker; the result, or None if still running after `timeout`."""
        if self._thread is None:
            raise RuntimeError("the run was not started")
        self._done.wait(timeout)
        return self._result if self._done.is_set() else None

    def run(self) -> RunResult:
        """Start and wait in the calling thread; Ctrl-C aborts the run cleanly.

        In the main thread SIGINT (and SIGTERM, SIGHUP) are taken over for the whole run,
        start included: a first signal asks the procedure to stop, a second switches the lasers
        off at once while the worker still gets to write its data. A flag rather than
        KeyboardInterrupt, because an asynchronous exception can land anywhere, e.g. inside
        Thread.start() waiting for the worker, where nothing would abort the worker that is
        already measuring; and SIGTERM/SIGHUP would otherwise kill the process with the pump on.
        """
        with _interruptions() as interrupts:
            self.start()
            shut_down = False
            while not self._done.is_set():
                if interrupts.names:
                    self.abort(f"interrupted ({interrupts.names[0]})")
                if len(interrupts.names) >= 2 and not shut_down:
                    self.bench.shutdown()  # pressed again: lasers off now, keep waiting for data
                    shut_down = True
                self._done.wait(0.05)
        assert self._result is not None
        return self._result

    # --- worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            self._measure_and_store()
        finally:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            self._done.set()

    def _measure_and_store(self) -> None:
        assert self._writer is not None
        status, message = "failed", ""
        ctx = RunContext(self.bench, record=self._record, measurement=self._measurement,
                         progress=self._progress)
        try:
            self.procedure.run(ctx)
            status = "completed"
        except RunAborted as exc:
            status, message = "aborted", self._abort_reason or str(exc)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the file
            log.exception("procedure %s failed", self.procedure.name)
            status, message = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            shutdown = self.bench.shutdown()
            if not shutdown.ok:
                message = f"{message}; SHUTDOWN PROBLEM: {shutdown.outcomes}".lstrip("; ")
            try:
                self._writer.finish(status, message)
            except Exception:  # the data points are already on disk
                log.exception("could not write the final status")
        result = RunResult(status, self.out_path, message, self._n_points, shutdown,
                           duration_s=time.perf_counter() - self._t0,
                           bench_time_s=self.bench.now() - self._bench_t0)
        if self._n_points:
            self._analyse(result)
        self._result = result

    def _analyse(self, result: RunResult) -> None:
        assert self._writer is not None
        try:
            data = result.data = read_run(self.out_path)
            measured = {k: v for k, (v, _u) in data.results.get("measurements", {}).items()}
            analysis = self.procedure.analyse(data.columns, measured, self.bench)
            if analysis is None:
                return
            result.analysis = analysis
            arrays = analysis.as_arrays() if hasattr(analysis, "as_arrays") else None
            self._writer.add_results("analysis", analysis.as_records(), arrays)
        except Exception as exc:  # noqa: BLE001 - analysis never costs the run
            log.warning("analysis of %s failed: %s", self.out_path, exc)
            result.analysis_error = f"{type(exc).__name__}: {exc}"

    def _record(self, row: Mapping[str, Any]) -> None:
        assert self._writer is not None
        self._writer.append(row)
        self._n_points += 1
        for listener in self.listeners:
            listener.on_point(row)

    def _measurement(self, name: str, value: float) -> None:
        assert self._writer is not None
        self._writer.set_measurement(name, value)

    def _progress(self, fraction: float, message: str) -> None:
        for listener in self.listeners:
            listener.on_progress(fraction, message)

    def _sample_description(self) -> dict[str, object] | None:
        world = self.bench.world
        if world is None:
            return None
        return world.sample.describe()


#: Signals that stop a run cleanly instead of killing the process, with the names the run's
#: status message uses ("Ctrl-C" is what the CLI maps to exit code 130).
_STOP_SIGNALS = {"SIGINT": "Ctrl-C", "SIGTERM": "SIGTERM", "SIGHUP": "SIGHUP"}


class _Interruptions:
    """The stop signals received since the run started, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, signum: int, frame: object) -> None:
        self.names.append(_STOP_SIGNALS[signal.Signals(signum).name])


@contextmanager
def _interruptions() -> Iterator[_Interruptions]:
    """Record stop signals instead of raising or dying, then restore the old handlers.

    Only the main thread may install signal handlers; elsewhere (a GUI's worker, a test
    thread) no KeyboardInterrupt can arrive either, so nothing is ever recorded there.
    """
    received = _Interruptions()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {}
    for name in _STOP_SIGNALS:
        if hasattr(signal, name):
            signum = getattr(signal, name)
            previous[signum] = signal.signal(signum, received)
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
