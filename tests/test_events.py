"""Run events: typed, ordered per run, delivered off the worker thread; listeners can neither
fail nor slow a run."""

from __future__ import annotations

import logging
import threading
import time

import h5py
import pytest

from avlab.events import (
    EventHub,
    LogMessage,
    MeasurementRecorded,
    PointRecorded,
    Progress,
    RunFinished,
    RunStarted,
)
from avlab.procedure import Int, Procedure, RunContext
from avlab.runner import Runner
from avlab.data import Column


class Steps(Procedure):
    """Counts at a fixed power, with a run-level measurement and a status message."""

    name = "steps"
    title = "test steps"
    points = Int(40, minimum=1)
    columns = [Column("index", "", "i8"), Column("counts", "counts", "i8")]
    signal = "counts"
    axes = "index"
    measurements = {"dark_rate_cps": "counts/s"}

    def run(self, ctx: RunContext) -> None:
        detector = ctx.bench.detector()
        ctx.measurement("dark_rate_cps", detector.count(1.0).rate_cps)
        ctx.log("dark reference taken")
        for i in range(self.points):
            ctx.wait(0.2)
            ctx.record(index=i, counts=detector.count(0.05).counts)
            ctx.progress((i + 1) / self.points, f"point {i}")


def test_a_listener_that_raises_on_every_event_leaves_the_run_completed(bench, tmp_path,
                                                                        caplog):
    calls = []

    def broken(event):
        calls.append(event)
        raise ValueError("plot widget exploded")

    with caplog.at_level(logging.ERROR, logger="avlab.events"):
        result = Runner(Steps(), bench, tmp_path / "r.h5", listeners=[broken]).run()
    assert result.status == "completed" and result.n_points == 40
    assert calls and isinstance(calls[0], RunStarted)
    reports = [r for r in caplog.records if "plot widget exploded" in r.getMessage()]
    # Once per kind of error and kind of event, each naming the run.
    kinds = {(r.args[2], r.args[3]) for r in reports}
    assert len(reports) == len(kinds) >= 3
    assert all(r.args[0] == result.run_id for r in reports)


def test_a_slow_listener_does_not_slow_the_measurement(bench, tmp_path):
    baseline = Runner(Steps(points=300), bench, tmp_path / "a.h5").run()
    received = []
    worker_done = threading.Event()

    def slow(event):
        received.append((event, worker_done.is_set()))
        time.sleep(1.0)

    t0 = time.perf_counter()
    result = Runner(Steps(points=300), bench, tmp_path / "b.h5", listeners=[slow]).run()
    wall = time.perf_counter() - t0
    worker_done.set()
    assert result.status == "completed" and result.n_points == 300
    # Coupled, the run would take >= 300 s; decoupled it costs at most the bounded end-of-run
    # drain (3 % of the run) plus machine noise.
    assert wall < 1.05 * baseline.duration_s + 0.5
    # The listener saw the start, at most a few events, and its drops are counted.
    assert sum(result.dropped_events.values()) > 250


def test_events_arrive_in_run_order_and_describe_the_data(bench, tmp_path):
    runner = Runner(Steps(points=25), bench, tmp_path / "r.h5")
    events = runner.events()
    result = runner.run()
    seen = list(events)
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
    assert {e.run_id for e in seen} == {result.run_id}
    assert isinstance(seen[0], RunStarted) and isinstance(seen[-1], RunFinished)
    started, finished = seen[0], seen[-1]
    assert [c.name for c in started.description.columns] == ["index", "counts"]
    assert started.description.signal == "counts"
    assert started.parameters["points"] == (25, "")
    points = [e for e in seen if isinstance(e, PointRecorded)]
    assert [p.index for p in points] == list(range(25))
    assert [p.values["index"] for p in points] == list(range(25))
    measured = [e for e in seen if isinstance(e, MeasurementRecorded)]
    assert measured[0].name == "dark_rate_cps" and measured[0].unit == "counts/s"
    assert any(isinstance(e, LogMessage) and "dark reference taken" in e.message for e in seen)
    progress = [e for e in seen if isinstance(e, Progress)]
    assert progress[-1].fraction == pytest.approx(1.0)
    assert progress[-1].remaining_s == pytest.approx(0.0, abs=1e-9)
    assert all(p.remaining_s is not None and p.remaining_s >= 0 for p in progress[5:])
    assert finished.status == "completed" and finished.n_points == 25
    assert finished.path == str(tmp_path / "r.h5")


def test_a_point_event_never_announces_data_that_is_not_on_disk(bench, tmp_path):
    path = tmp_path / "r.h5"
    behind = []

    def check(event):
        if isinstance(event, PointRecorded):
            with h5py.File(path, "r", swmr=True) as f:
                if f["entry/data/counts"].shape[0] <= event.index:
                    behind.append(event.index)

    Runner(Steps(points=30), bench, path, listeners=[check]).run()
    assert behind == []


def test_progress_coalesces_and_other_events_are_counted_when_a_queue_is_full():
    hub = EventHub("r1")
    gate = threading.Event()
    got = []

    def blocked(event):
        gate.wait(10)
        got.append(event)

    sub = hub.subscribe(blocked, capacity=4)
    hub.publish(RunStarted, procedure="p", title="p", path="f.h5", parameters={},
                description=Steps().describe_data())
    time.sleep(0.05)  # the dispatcher has taken RunStarted and waits in the listener
    for i in range(3):
        hub.publish(PointRecorded, index=i, values={"index": i})
    for f in (0.1, 0.2, 0.3):  # the queue is full after the first: the newest replaces it
        hub.publish(Progress, fraction=f, message="", elapsed_s=0.0, remaining_s=None,
                    bench_elapsed_s=0.0)
    for i in range(3, 8):  # full: dropped and counted
        hub.publish(PointRecorded, index=i, values={"index": i})
    hub.publish(RunFinished, status="completed", message="", path="f.h5", n_points=10)
    gate.set()
    hub.close(drain_s=5.0)
    assert sub.join(5.0)
    kinds = [type(e).__name__ for e in got]
    assert kinds == ["RunStarted", "PointRecorded", "PointRecorded", "PointRecorded",
                     "Progress", "RunFinished"]
    assert got[4].fraction == 0.3
    assert got[-1].dropped_events == sub.dropped == 5


def test_a_listener_that_keeps_its_backlog_gets_every_event_after_the_run(bench, tmp_path):
    got = []

    def slow(event):
        time.sleep(0.002)
        got.append(event)

    runner = Runner(Steps(points=60), bench, tmp_path / "r.h5")
    runner.subscribe(slow, keep_backlog=True)
    result = runner.run()  # returns without waiting for the slow listener
    assert runner.join_listeners(30.0)
    points = [e for e in got if isinstance(e, PointRecorded)]
    assert [p.index for p in points] == list(range(60))
    assert isinstance(got[-1], RunFinished) and got[-1].dropped_events == 0
    assert result.status == "completed"
