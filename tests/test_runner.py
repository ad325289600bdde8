"""The runner: every exit path ends with emission off and an honest status in the file."""

from __future__ import annotations

import signal
import threading

import h5py
import numpy as np
import pytest

from avlab.data import ArrayItem
from avlab.errors import ParameterError
from avlab.procedure import Float, Int, Procedure, RunContext
from avlab import runner as runner_module
from avlab.runner import ForegroundGate, Runner
from avlab.storage import Column, read_run


class Ramp(Procedure):
    """A small procedure: emission on, step the power, record counts; optionally fail."""

    name = "ramp"
    title = "test ramp"
    points = Int(20, minimum=1)
    fail_at = Int(-1, doc="raise at this point index")
    power_W = Float(0.5, minimum=0.0, unit="W")
    columns = [Column("index", "", "i8"), Column("counts", "counts", "i8")]
    signal = "counts"
    axes = "index"

    def run(self, ctx: RunContext) -> None:
        laser, detector = ctx.bench.laser(), ctx.bench.detector()
        laser.set_power_W(self.power_W)
        laser.emission_on()  # deliberately no `emitting()` block: the runner must clean up
        for i in range(self.points):
            ctx.wait(0.5)
            if i == self.fail_at:
                raise RuntimeError("detector cable unplugged")
            ctx.record(index=i, counts=detector.count(0.1).counts)
            ctx.progress((i + 1) / self.points)
            if self.after_point is not None:
                self.after_point(i + 1)

    #: Called in the worker after each point with the number of points so far: how a test
    #: acts at an exact point (listeners run on their own threads, some points later).
    after_point = None


def at_point(n, action):
    def hook(done):
        if done == n:
            action()
    return hook


class Listener:
    def __init__(self, action=None, after: int = 5):
        self.rows, self.progress, self.action, self.after = [], [], action, after

    def on_point(self, row):
        self.rows.append(row)
        if self.action and len(self.rows) == self.after:
            self.action()

    def on_progress(self, fraction, message):
        self.progress.append(fraction)


def test_completed_run_has_all_points_status_and_emission_off(bench, sim_laser, tmp_path):
    listener = Listener()
    result = Runner(Ramp(), bench, tmp_path / "r.h5", listeners=[listener]).run()
    assert result.status == "completed"
    assert result.n_points == 20 and len(listener.rows) == 20
    assert listener.progress[-1] == pytest.approx(1.0)
    assert not sim_laser.emission_requested
    data = read_run(tmp_path / "r.h5")
    assert data.status == "completed"
    assert list(data.columns["index"]) == list(range(20))


def test_abort_stops_the_run_with_emission_off_and_status_aborted(bench, sim_laser, tmp_path):
    runner_box = []
    ramp = Ramp()
    ramp.after_point = at_point(5, lambda: runner_box[0].abort("operator pressed stop"))
    runner = Runner(ramp, bench, tmp_path / "r.h5")
    runner_box.append(runner)
    result = runner.run()
    assert result.status == "aborted"
    assert not sim_laser.emission_requested
    data = read_run(tmp_path / "r.h5")
    assert data.status == "aborted"
    assert data.message == "operator pressed stop"
    assert data.n_points == 5  # the abort lands in the next wait


def test_exception_in_the_procedure_fails_the_run_keeping_data(bench, sim_laser, tmp_path):
    result = Runner(Ramp(fail_at=7), bench, tmp_path / "r.h5").run()
    assert result.status == "failed"
    assert "detector cable unplugged" in result.message
    assert not sim_laser.emission_requested
    data = read_run(tmp_path / "r.h5")
    assert data.status == "failed"
    assert "RuntimeError: detector cable unplugged" in data.message
    assert data.n_points == 7


def test_ctrl_c_aborts_with_emission_off(bench, sim_laser, tmp_path):
    """SIGINT reaches the main thread (as a real Ctrl-C does) while the worker measures."""
    def press_ctrl_c():
        signal.raise_signal(signal.SIGINT)
        # The main thread may notice the signal only at its next wake-up; hold the worker
        # until the abort arrives so the run cannot finish first.
        assert bench.stop_event.wait(10.0)

    ramp = Ramp(points=200)
    ramp.after_point = at_point(4, press_ctrl_c)
    result = Runner(ramp, bench, tmp_path / "r.h5").run()
    assert result.status == "aborted"
    assert "Ctrl-C" in result.message
    assert not sim_laser.emission_requested
    data = read_run(tmp_path / "r.h5")
    assert data.status == "aborted"
    assert 4 <= data.n_points < 200


class CtrlCWhileStarting(Ramp):
    """Ctrl-C pressed while the runner is still starting (checking, creating the file)."""

    def check(self, bench) -> None:
        super().check(bench)
        signal.raise_signal(signal.SIGINT)

    def run(self, ctx: RunContext) -> None:
        # Hold the worker until the abort arrives, so the run cannot simply finish first.
        assert ctx.bench.stop_event.wait(10.0)
        super().run(ctx)


def test_ctrl_c_during_start_still_aborts_the_worker(bench, sim_laser, tmp_path):
    # Regression: a KeyboardInterrupt landing inside start() (in Thread.start() waiting for
    # the worker) escaped run() and left a measuring worker that nothing would stop.
    result = Runner(CtrlCWhileStarting(points=200), bench, tmp_path / "r.h5").run()
    assert result.status == "aborted"
    assert "Ctrl-C" in result.message
    assert not sim_laser.emission_requested
    assert read_run(tmp_path / "r.h5").n_points < 200


def test_the_previous_signal_handlers_are_restored(bench, tmp_path):
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = [signal.getsignal(s) for s in signals]
    Runner(Ramp(points=2), bench, tmp_path / "r.h5").run()
    assert [signal.getsignal(s) for s in signals] == before


class StuckInIO(Ramp):
    """Emission on, then stuck in 'instrument I/O' that never looks at the stop flag."""

    def __init__(self, release: threading.Event, **values) -> None:
        super().__init__(**values)
        self.release, self.stuck = release, threading.Event()

    def run(self, ctx: RunContext) -> None:
        ctx.bench.laser().set_power_W(self.power_W)
        ctx.bench.laser().emission_on()
        self.stuck.set()
        self.release.wait(30.0)
        ctx.check_stop()  # back from I/O: the next check sees the stop request


def test_an_abort_from_any_caller_switches_lasers_off_after_the_grace_time(
        bench, sim_laser, tmp_path, monkeypatch):
    # Not only Ctrl-C: a GUI's stop button calls abort() from another thread, and a worker
    # stuck in I/O must not keep the pump on until it returns.
    monkeypatch.setattr(runner_module, "ABORT_GRACE_S", 0.2)
    release = threading.Event()
    procedure = StuckInIO(release)
    runner = Runner(procedure, bench, tmp_path / "r.h5")
    runner.start()
    try:
        assert procedure.stuck.wait(10.0)
        assert sim_laser.emission_requested
        runner.abort("stop button")
        assert runner.join(0.1) is None  # still stuck
        for _ in range(200):
            if not sim_laser.emission_requested:
                break
            threading.Event().wait(0.05)
        assert not sim_laser.emission_requested  # switched off while the worker is stuck
    finally:
        release.set()
    result = runner.join(10.0)
    assert result is not None and result.status == "aborted"
    assert result.message == "stop button"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_termination_signals_abort_the_run_like_ctrl_c(bench, sim_laser, tmp_path, signame):
    # `kill` or a dropped SSH session would otherwise end the process with the pump on.
    signum = getattr(signal, signame)

    def send_signal():
        signal.raise_signal(signum)
        assert bench.stop_event.wait(10.0)

    ramp = Ramp(points=200)
    ramp.after_point = at_point(3, send_signal)
    result = Runner(ramp, bench, tmp_path / "r.h5").run()
    assert result.status == "aborted"
    assert result.message == f"interrupted ({signame})"
    assert not sim_laser.emission_requested
    assert read_run(tmp_path / "r.h5").status == "aborted"


def test_points_are_on_disk_while_the_run_is_going(bench, tmp_path):
    path = tmp_path / "r.h5"
    seen = []

    def peek():
        with h5py.File(path, "r", swmr=True) as f:
            seen.append(f["entry/data/counts"].shape[0])

    runner = Runner(Ramp(), bench, path)
    runner.subscribe(Listener(action=peek, after=6), keep_backlog=True)
    runner.run()
    assert runner.join_listeners(30.0)
    assert len(seen) == 1 and seen[0] >= 6  # the file is written before the event


def test_existing_file_is_never_overwritten(bench, tmp_path):
    from avlab.storage import RunFileExistsError

    path = tmp_path / "r.h5"
    path.write_bytes(b"precious data")
    with pytest.raises(RunFileExistsError):
        Runner(Ramp(), bench, path).run()
    assert path.read_bytes() == b"precious data"


def test_a_runner_runs_once(bench, tmp_path):
    runner = Runner(Ramp(points=1), bench, tmp_path / "r.h5")
    runner.run()
    with pytest.raises(RuntimeError):
        runner.start()


def test_a_failure_while_starting_leaves_the_file_failed_not_running(bench, tmp_path,
                                                                      monkeypatch):
    def broken(**_):
        raise RuntimeError("health checks cannot begin")

    monkeypatch.setattr(bench, "begin_health", broken)
    path = tmp_path / "r.h5"
    with pytest.raises(RuntimeError, match="cannot begin"):
        Runner(Ramp(), bench, path).run()
    data = read_run(path)
    assert data.status == "failed"
    assert "could not start: RuntimeError: health checks cannot begin" in data.message


class Lines(Procedure):
    """Writes `n` lines of an image as fast as it can (a scan on the virtual clock)."""

    name = "lines"
    n = Int(400, minimum=1)
    arrays = [ArrayItem("img", "counts", shape=("n", 8), interpretation="image")]

    def run(self, ctx: RunContext) -> None:
        for j in range(self.n):
            ctx.write("img", (j,), np.full(8, j))


def test_a_held_foreground_gate_pauses_the_worker_until_released(bench, tmp_path):
    """A GUI holding the gate (for a redraw) has the interpreter: the worker stops at its
    next yield point, and goes on when the gate opens."""
    gate = ForegroundGate(max_pause_s=30.0)
    runner = Runner(Lines(), bench, tmp_path / "gate.h5", gate=gate)
    with gate.held():
        runner.start()
        threading.Event().wait(0.5)
        paused_at = runner._n_writes
        threading.Event().wait(0.2)
        assert runner._n_writes == paused_at < 400  # nothing written while held
    result = runner.join()
    assert result.status == "completed" and result.data.arrays["img"].read()[-1][0] == 399


def test_a_gate_never_released_delays_a_run_only_boundedly(bench, tmp_path):
    """A GUI that hangs holding the gate costs each yield point at most max_pause_s."""
    gate = ForegroundGate(max_pause_s=0.002)
    with gate.held():
        result = Runner(Lines(n=50), bench, tmp_path / "held.h5", gate=gate).run()
    assert result.status == "completed"


def test_an_abort_asked_before_the_start_holds(bench, sim_laser, tmp_path):
    runner = Runner(Ramp(points=5), bench, tmp_path / "early.h5")
    runner.abort("asked before the start")
    result = runner.run()
    assert result.status == "aborted" and result.message == "asked before the start"
    assert result.n_points == 0
    assert not sim_laser.emission_requested


def test_a_start_that_fails_leaves_no_listener_thread_behind(bench, tmp_path):
    """A refused check, three times: the listeners' dispatch threads end with it."""

    class Refused(Ramp):
        def check(self, bench):
            raise ParameterError("refused")

    before = threading.active_count()
    for k in range(3):
        runner = Runner(Refused(), bench, tmp_path / f"refused{k}.h5")
        runner.subscribe(lambda event: None, name="listener")
        with pytest.raises(ParameterError):
            runner.start()
    for thread in threading.enumerate():
        if thread.name.startswith("avlab-events"):
            thread.join(5.0)
    assert threading.active_count() == before


@pytest.mark.parametrize("error", ["overload", "timeout"])
def test_a_failure_that_names_its_cause_goes_straight_to_shutdown(bench, sim_laser, tmp_path,
                                                                  monkeypatch, error):
    """A flooded detector or a hung instrument: no health round (which would count again
    with the pump on, or wait for the hung link once more) before the pumps go off."""
    from avlab.errors import DetectorOverloadError
    from drivers.errors import InstrumentTimeoutError

    exc = (DetectorOverloadError("detector: flooded") if error == "overload"
           else InstrumentTimeoutError("laser: no answer"))

    class Failing(Ramp):
        def run(self, ctx):
            ctx.bench.laser().emission_on()
            raise exc

    runner = Runner(Failing(), bench, tmp_path / "f.h5")
    asked = []
    monkeypatch.setattr(runner.guard, "explain", lambda: asked.append(1) or "")
    result = runner.run()
    assert result.status == "failed" and str(exc) in result.message
    assert asked == [] and not sim_laser.emission_requested
