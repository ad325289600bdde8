"""Run a procedure: worker thread, streaming storage, run events, abort, guaranteed shutdown.

The runner owns everything around the measurement so procedures don't have to: it creates
the run file before the first point, writes and flushes each point, line or histogram as it
is recorded, then publishes it as a run event (avlab.events) to listeners that each have
their own queue and thread (CLI progress bar, GUI, scripts), and — whatever happens:
completion, abort, an exception in the procedure, Ctrl-C — switches every laser off and
writes the run's final status. Analysis runs after the file is closed, so a failing fit never
costs data; a listener that raises or lags never costs the run anything.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from drivers.errors import InstrumentConnectionError, InstrumentTimeoutError

from . import __version__
from .bench import Bench, ShutdownReport
from .errors import InstrumentFaultError, RunAborted, SafetyLimitError
from .events import (
    ChunkWritten,
    EventHub,
    EventIterator,
    LogMessage,
    MeasurementRecorded,
    PointRecorded,
    Progress,
    RunEvent,
    RunFinished,
    RunLogHandler,
    STATUS_LOGGER,
    RunStarted,
    Subscription,
)
from .health import RunGuard
from .procedure import AnalysisResult, Procedure, RunContext
from .storage import RunData, RunWriter, read_run

log = logging.getLogger(__name__)
#: Procedure status messages, already published as events by the runner.
status_log = logging.getLogger(STATUS_LOGGER)

#: After an abort, how long the main thread lets the worker finish before switching the
#: lasers off itself (the worker may be stuck in instrument I/O).
ABORT_GRACE_S = 10.0


#: At the end of a run, how long listeners may still catch up before their backlog (all but
#: the start and finish events) is dropped: at most this fraction of the run's wall time, and
#: at most MAX_DRAIN_S, so a stalled listener cannot hold a run (or a queue of runs) up.
DRAIN_FRACTION = 0.03
#: How often (wall time) a worker writing array chunks hands the GIL to other threads.
YIELD_EVERY_S = 0.003
#: Failures that name their cause, and where asking every role for its health before the
#: pumps go off would do harm: a flooded detector counted again with the pump on, a hung or
#: lost link waited for once more.
_CAUSE_KNOWN = (InstrumentFaultError, SafetyLimitError, InstrumentConnectionError,
                InstrumentTimeoutError, TimeoutError, ConnectionError)
MAX_DRAIN_S = 1.0


class RunListener(Protocol):
    """The simple listener form: points and progress only (see avlab.events for all events).
    Called from the listener's own dispatch thread, never from the worker."""

    def on_point(self, row: Mapping[str, Any]) -> None: ...
    def on_progress(self, fraction: float, message: str) -> None: ...


def _as_callback(listener: Any) -> Callable[[RunEvent], None]:
    """An event callback for a callable, or for an object with on_point/on_progress."""
    if callable(listener) and not hasattr(listener, "on_point"):
        return listener

    def callback(event: RunEvent) -> None:
        if isinstance(event, PointRecorded):
            listener.on_point(event.values)
        elif isinstance(event, Progress):
            listener.on_progress(event.fraction, event.message)
        elif isinstance(event, RunFinished) and hasattr(listener, "on_finished"):
            listener.on_finished(event)

    callback.__qualname__ = type(listener).__name__
    return callback


@dataclass
class RunResult:
    status: str  # completed | aborted | failed
    path: Path
    message: str
    n_points: int
    shutdown: ShutdownReport
    analysis: AnalysisResult | None = None
    analysis_error: str = ""
    duration_s: float = 0.0
    bench_time_s: float = 0.0
    data: RunData | None = None  # the file as read back for the analysis (None if no points)
    #: Events each listener lost because it could not keep up (name -> count).
    dropped_events: dict[str, int] = field(default_factory=dict)
    run_id: str = ""


class ForegroundGate:
    """Lets a GUI thread have the interpreter to itself for a redraw.

    Worker and GUI share one interpreter lock. A repaint hands it back and forth hundreds of
    times (every Qt call releases it), and against a busy worker each take-back waits, so a
    10 ms paint stretched to 25-50 ms. While the GUI holds the gate (`with gate.held():`),
    workers pause at their next yield point (every few ms, see YIELD_EVERY_S) until it is
    released, at most `max_pause_s`: acquisition itself never waits on the screen for long
    (hardware buffers the samples meanwhile)."""

    def __init__(self, max_pause_s: float = 0.05) -> None:
        self.max_pause_s = max_pause_s
        self._open = threading.Event()
        self._open.set()

    @contextmanager
    def held(self) -> Iterator[None]:
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    def pause_point(self) -> None:
        """Called by a worker: wait while the gate is held (bounded), else just offer the
        interpreter lock to other threads."""
        if self._open.is_set():
            time.sleep(0)
        else:
            self._open.wait(self.max_pause_s)


class Runner:
    """Executes one procedure on a bench, writing one run file."""

    def __init__(self, procedure: Procedure, bench: Bench, out_path: str | Path, *,
                 listeners: Iterable[RunListener] = (), flush_every: int = 1,
                 reserved: bool = False, entry: str = "entry",
                 after_each: Callable[[], None] | None = None,
                 gate: ForegroundGate | None = None) -> None:
        """`gate`: a GUI's ForegroundGate, at which the worker pauses while the GUI redraws.
        `entry` other than "entry" stores the run as a further NXentry of an existing run
        file (how a series keeps every inner run in its own file); `after_each` is called in
        the worker thread after every recorded point or array write (a series samples the
        cryostat there, without a second thread talking to the instruments)."""
        self.procedure = procedure
        self.entry = entry
        self._after_each = after_each
        self.gate = gate
        self.bench = bench
        self.out_path = Path(out_path)
        self.flush_every = flush_every
        #: The run file was claimed empty beforehand (avlab.outputs); the writer takes it over.
        self.reserved = reserved
        self.run_id = uuid.uuid4().hex[:12]
        self.hub = EventHub(self.run_id)
        #: Instrument health before every point or chunk (avlab.health): trips end the run,
        #: conditions that may clear suspend it; adds the sample temperature column.
        self.guard = RunGuard(bench, procedure, self._log)
        self.description = self.guard.describe(procedure.describe_data())
        self.views = procedure.checked_views(self.description)
        self._log_handler: RunLogHandler | None = None
        self._thread: threading.Thread | None = None
        self._writer: RunWriter | None = None
        self._result: RunResult | None = None
        self._abort_reason = ""
        self._grace_timer: threading.Timer | None = None
        self._n_points = 0
        self._n_writes = 0
        self._last_yield = 0.0
        # Completion is signalled by an Event, not Thread.join()/is_alive(): a
        # KeyboardInterrupt landing inside Thread.join() can leave the thread's state
        # inconsistent (CPython gh-90882), and callers of join() may not be the main thread.
        self._done = threading.Event()
        for listener in listeners:
            self.subscribe(listener)

    # --- listeners -----------------------------------------------------------------------------
    def subscribe(self, listener: Any, *, name: str = "", capacity: int = 10_000,
                  keep_backlog: bool = False) -> Subscription:
        """Add a listener before start: a callable taking each RunEvent, or an object with
        on_point(row) / on_progress(fraction, message). It runs on its own thread.

        By default what a lagging listener has not taken when the run ends is dropped after a
        short drain (a live view wants the end, not the backlog); `keep_backlog=True` keeps
        delivering it after the run, for scripts that need every event — wait for them with
        `join_listeners()`."""
        if self._thread is not None:
            raise RuntimeError("subscribe before start(): a listener must see RunStarted")
        return self.hub.subscribe(_as_callback(listener), name=name, capacity=capacity,
                                  keep_backlog=keep_backlog)

    def join_listeners(self, timeout_s: float | None = None) -> bool:
        """Wait until every listener has taken its last event; True if all did in time."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        done = True
        for sub in self.hub.subscriptions:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            done = sub.join(left) and done
        return done

    def events(self) -> EventIterator:
        """Iterate this run's events from another thread (or after run()): ends with
        RunFinished. Subscribe before start()."""
        iterator = EventIterator()
        self.subscribe(iterator, name="iterator", keep_backlog=True)
        return iterator

    # --- control -------------------------------------------------------------------------------
    def start(self, *, clear_stop: bool = True) -> None:
        """Check parameters against the bench, create the run file, start the worker.

        A stop asked before (abort()) stays in force; otherwise the bench's stop request is
        cleared, unless `clear_stop` is False (an inner run: the outer run's stop holds)."""
        if self._thread is not None:
            raise RuntimeError("a Runner runs once; make a new one")
        try:
            self.procedure.check(self.bench)
            self._writer = RunWriter(
                self.out_path,
                procedure=self.procedure.name,
                description=self.description,  # the description RunStarted carries
                parameters=self.procedure.values(),
                config_text=self.bench.config.text,
                instruments=self.bench.identities(),
                software_version=__version__,
                sample=self._sample_description(),
                flush_every=self.flush_every,
                reserved=self.reserved,
                **({"entry": self.entry, "add_to_file": True} if self.entry != "entry"
                   else {}),
            )
        except BaseException:
            self.hub.close(drain_s=0.0)  # the listeners' threads end; no run, no file
            raise
        if self._abort_reason:
            self.bench.stop_event.set()
        elif clear_stop:
            self.bench.stop_event.clear()
        guarded = False
        try:
            self.guard.begin()
            guarded = True
            self._t0 = time.perf_counter()
            self._bench_t0 = self.bench.now()
            worker_name = f"avlab-{self.procedure.name}-{self.run_id}"
            self.hub.publish(RunStarted, procedure=self.procedure.name,
                             title=self.procedure.title or self.procedure.name,
                             path=str(self.out_path), parameters=self.procedure.values(),
                             description=self.description, views=self.views,
                             instruments=self.bench.identities())
            self._log_handler = RunLogHandler(self.hub, worker_name)
            logging.getLogger().addHandler(self._log_handler)
            self._thread = threading.Thread(target=self._work, name=worker_name, daemon=True)
            self._thread.start()
        except BaseException as exc:
            # The file exists: it must say the run failed (and why) rather than stay
            # "running"; nothing was measured and no laser was switched on.
            if self._log_handler is not None:
                logging.getLogger().removeHandler(self._log_handler)
            message = f"could not start: {type(exc).__name__}: {exc}"
            try:
                if guarded:
                    self.guard.end()
                self._writer.finish("failed", message)
            except Exception:  # noqa: BLE001 - the original error is the one to report
                log.exception("could not record the failed start in %s", self.out_path)
            self.hub.publish(RunFinished, status="failed", message=message,
                             path=str(self.out_path), n_points=0)
            self.hub.close(drain_s=0.0)
            raise

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
            try:
                if self._grace_timer is not None:
                    self._grace_timer.cancel()
                if self._log_handler is not None:
                    logging.getLogger().removeHandler(self._log_handler)
                self._finish_events()
            finally:
                self._done.set()  # whatever failed above, run() and join() must return

    def _finish_events(self) -> None:
        """Publish RunFinished and give listeners a short, bounded time to catch up."""
        result = self._result
        if result is None:  # the worker itself broke; still tell the listeners
            self.hub.publish(RunFinished, status="failed", message="runner error",
                             path=str(self.out_path), n_points=self._n_points)
            self.hub.close(drain_s=0.0)
            return
        analysis = result.analysis
        self.hub.publish(
            RunFinished, status=result.status, message=result.message,
            path=str(result.path), n_points=result.n_points,
            summary=tuple(analysis.summary) if analysis is not None else (),
            scalars=dict(analysis.scalars) if analysis is not None else {},
            analysis_error=result.analysis_error)
        elapsed = time.perf_counter() - self._t0
        result.dropped_events = self.hub.close(
            drain_s=min(MAX_DRAIN_S, DRAIN_FRACTION * elapsed))
        for name, n in result.dropped_events.items():
            if n:
                log.warning("run %s: listener %s could not keep up and lost %d events",
                            self.run_id, name, n)

    def _measure_and_store(self) -> None:
        assert self._writer is not None
        status, message = "failed", ""
        ctx = RunContext(self.bench, record=self._record, measurement=self._measurement,
                         progress=self._progress, write=self._write, log=self._log,
                         sub_run=self._sub_run, record_rows=self._record_rows)
        try:
            self.procedure.run(ctx)
            status = "completed"
        except RunAborted as exc:
            status, message = "aborted", self._abort_reason or str(exc)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the file
            log.exception("procedure %s failed", self.procedure.name)
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            # --- health hook: a symptom (a refused command, a nonsense reading) names the
            # fault a role reports now, before the pumps go off.
            cause = "" if isinstance(exc, _CAUSE_KNOWN) else self.guard.explain()
            if cause:
                message = f"InstrumentFaultError: {cause} (then {message})"
        finally:
            shutdown = self.bench.shutdown()  # first: nothing below may keep a pump on
            try:
                self.guard.end()
            except Exception:  # noqa: BLE001 - the run's data and status come first
                log.exception("run %s: ending the health checks failed", self.run_id)
            if not shutdown.ok:
                message = f"{message}; SHUTDOWN PROBLEM: {shutdown.outcomes}".lstrip("; ")
            try:
                self._writer.finish(status, message)
            except Exception:  # the data points are already on disk
                log.exception("could not write the final status")
        result = RunResult(status, self.out_path, message, self._n_points, shutdown,
                           duration_s=time.perf_counter() - self._t0,
                           bench_time_s=self.bench.now() - self._bench_t0,
                           run_id=self.run_id)
        if self._n_points or self._n_writes:
            self._analyse(result)
        self._result = result

    def _analyse(self, result: RunResult) -> None:
        assert self._writer is not None
        try:
            data = result.data = read_run(self.out_path, entry=self.entry)
            analysis = self.procedure.analyse(data)
            if analysis is None:
                return
            if not isinstance(analysis, AnalysisResult):
                raise TypeError(f"{self.procedure.name}.analyse() must return an "
                                f"AnalysisResult, got {type(analysis).__name__}")
            result.analysis = analysis
            if analysis.scalars or analysis.arrays:
                self._writer.add_results("analysis", analysis.scalars, analysis.arrays)
        except Exception as exc:  # noqa: BLE001 - analysis never costs the run
            log.warning("analysis of %s failed: %s", self.out_path, exc)
            result.analysis_error = f"{type(exc).__name__}: {exc}"

    def _record(self, row: Mapping[str, Any]) -> None:
        assert self._writer is not None
        # --- health hook: nothing from a tripped instrument reaches the file; a point
        # measured during a suspension is discarded.
        admitted = self.guard.admit_point(row)
        if admitted is None:
            return
        row = admitted
        self._writer.append(row)
        index = self._n_points
        self._n_points += 1
        self.hub.publish(PointRecorded, index=index, values=dict(row))
        if self._after_each is not None:
            self._after_each()

    def _record_rows(self, rows: list[Mapping[str, Any]]) -> None:
        assert self._writer is not None
        admitted = self.guard.admit_rows(rows)  # --- health hook, once for the batch
        if admitted is None:
            return
        self._writer.append_rows(admitted)
        for row in admitted:
            index = self._n_points
            self._n_points += 1
            self.hub.publish(PointRecorded, index=index, values=dict(row))
        if self._after_each is not None:
            self._after_each()

    def _write(self, item: str, index: tuple[int, ...], values: Any) -> None:
        assert self._writer is not None
        if not self.guard.admit_chunk():  # --- health hook, as in _record
            return
        self._writer.write(item, index, values)
        self._n_writes += 1
        self.hub.publish(ChunkWritten, item=item, index=index, values=np.array(values))
        # Offer the GIL now and then: on the virtual clock a scan produces lines as fast as
        # the CPU allows, and without a pause a GUI thread in the same process waits behind
        # the worker. Every few ms is enough for a 30 Hz view; after every line would halve
        # the write rate (each hand-over costs about as much as writing a line).
        now = time.perf_counter()
        if now - self._last_yield >= YIELD_EVERY_S:
            if self.gate is not None:
                self.gate.pause_point()
            else:
                time.sleep(0)
            self._last_yield = time.perf_counter()
        if self._after_each is not None:
            self._after_each()

    def _sub_run(self, procedure: Procedure, entry: str,
                 after_each: Callable[[], None] | None = None) -> RunResult:
        """Run another procedure to the end as entry `entry` of this run's file (a full run:
        data, status, analysis), from this worker; this run's writer is suspended meanwhile.

        Its lasers are off when it returns, whatever happened (the inner runner's shutdown).
        A stop request ends the inner run as "aborted" and then raises RunAborted here, so
        the outer run ends too; an inner failure is returned, for the caller to judge.
        """
        assert self._writer is not None
        self.bench.wait(0.0)  # a stop asked before the step: do not start it
        inner = Runner(procedure, self.bench, self.out_path, entry=entry, after_each=after_each,
                       gate=self.gate)
        self._writer.suspend()
        try:
            inner.start(clear_stop=False)  # a stop asked meanwhile holds for the inner run
            if self._abort_reason:
                inner.abort(self._abort_reason)  # its file says why
            inner._done.wait()
        finally:
            self._writer.resume()
            self.guard.begin()  # the inner run's guard reset the roles' run-relative state
        result = inner._result
        if result is None:
            raise RuntimeError(f"inner run {entry} ended without a result (runner error)")
        if self._abort_reason or result.status == "aborted":
            raise RunAborted(self._abort_reason or result.message)
        return result

    def _measurement(self, name: str, value: float) -> None:
        assert self._writer is not None
        self._writer.set_measurement(name, value)
        self.hub.publish(MeasurementRecorded, name=name, value=float(value),
                         unit=self.description.measurements.get(name, ""))

    def _progress(self, fraction: float, message: str) -> None:
        elapsed = time.perf_counter() - self._t0
        remaining = elapsed * (1.0 - fraction) / fraction if fraction >= 0.02 else None
        self.hub.publish(Progress, fraction=fraction, message=message, elapsed_s=elapsed,
                         remaining_s=remaining, bench_elapsed_s=self.bench.now() - self._bench_t0)

    def _log(self, message: str, level: int) -> None:
        # Published directly: a procedure's status line must reach the listeners whatever
        # the logging configuration; the log gets it too, under a name the run's log
        # handler skips so listeners do not see it twice.
        self.hub.publish(LogMessage, level=level, logger=self.procedure.name, message=message)
        status_log.log(level, "run %s: %s", self.run_id, message)

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
