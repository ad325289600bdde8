"""The desktop GUI on the simulated bench (pytest-qt, offscreen: see conftest)."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from avlab.bench import Bench  # noqa: E402
from avlab.data import ArrayItem, Axis, DataDescription  # noqa: E402
from avlab.events import ChunkWritten  # noqa: E402
from avlab.runner import Runner  # noqa: E402
from avlab.views import CurvesView, ImageView  # noqa: E402
from experiments.scurve import SCurve  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: A short S-curve on the virtual clock (about 0.1 s of wall time).
FAST = {"points": 24, "power_min_W": 0.06, "settle_s": 0.3, "dark_gate_s": 10.0,
        "max_gate_s": 10.0, "meter_averages": 10, "max_refine_points": 30}
#: An S-curve on the real-time clock that takes tens of seconds: there is time to press STOP.
SLOW = {"points": 60, "settle_s": 0.2, "dark_gate_s": 0.2, "max_gate_s": 0.2, "min_gate_s": 0.01,
        "meter_averages": 1, "refine": False}


@pytest.fixture
def make_window(qtbot, tmp_path):
    from avlab.gui.window import MainWindow

    benches: list[Bench] = []
    windows: list[MainWindow] = []

    def make(config, *, answer: bool = True, procedures=None) -> MainWindow:
        bench = Bench(config)
        benches.append(bench)
        window = MainWindow(bench, out_dir=tmp_path / "runs", procedures=procedures)
        window.ask = lambda title, text: answer  # no dialog can be answered offscreen
        window.chooser.setCurrentText("scurve")
        assert window.form.procedure_cls is SCurve
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.ask = lambda title, text: True
        window.close()
    for bench in benches:
        bench.close()


def fill(window, values) -> None:
    for name, value in values.items():
        window.form.set_value(name, value)


def laser_twin(window):
    return window.bench.laser().driver.adapter.device


def test_scurve_from_the_form_shows_points_live_and_stop_switches_the_laser_off(
        make_window, sim_config, qtbot):
    from avlab.gui.liveviews import XYLiveView

    realtime = dataclasses.replace(sim_config, simulation=dataclasses.replace(
        sim_config.simulation, realtime=True))
    window = make_window(realtime)
    fill(window, SLOW)
    qtbot.mouseClick(window.run_now, qtbot_button())
    qtbot.waitUntil(lambda: window.viewset is not None, timeout=10_000)
    xy = window.viewset.view_of(XYLiveView)
    assert xy is not None
    qtbot.waitUntil(lambda: xy.n_points >= 3 and xy.n_draws >= 1, timeout=30_000)
    assert laser_twin(window).emission_requested  # the sweep is under way
    assert not window.instruments.panels["pump_1064"].power.isEnabled()  # controls locked

    qtbot.mouseClick(window.stop_button, qtbot_button())
    assert not laser_twin(window).emission_requested  # off at once, not at the run's end
    qtbot.waitUntil(lambda: not window.queue.running, timeout=20_000)
    entry = window.queue.entries[0]
    assert entry.status == "aborted"
    assert window.last_finished.status == "aborted"
    assert Path(entry.path).exists()
    assert not laser_twin(window).emission_requested
    assert window.instruments.panels["pump_1064"].power.isEnabled()
    # The live view was fed from events: as many points as the run recorded.
    assert xy.n_points == window.last_finished.n_points


def qtbot_button():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_queue_goes_on_after_a_failed_run_and_the_laser_ends_off(make_window, sim_config,
                                                                  qtbot):
    window = make_window(sim_config)
    # 0.05 W is below what the YLR can set: the run fails after starting (dark reference
    # taken, file written), when the sweep sets its first power.
    fill(window, {**FAST, "power_min_W": 0.05})
    assert window.add_to_queue() is not None
    fill(window, FAST)
    assert window.add_to_queue() is not None
    qtbot.mouseClick(window.queue_panel.run, qtbot_button())
    qtbot.waitUntil(lambda: [e.status for e in window.queue.entries] == ["failed", "completed"],
                    timeout=60_000)
    first, second = window.queue.entries
    assert "0.05" in first.message and Path(first.path).exists()
    assert Path(second.path).exists()
    assert not laser_twin(window).emission_requested
    rows = window.log_panel.messages()
    assert any(level == "ERROR" and "0.05" in message for level, _run, message in rows)
    table = window.queue_panel.table
    assert [table.item(r, 3).text() for r in range(2)] == ["failed", "completed"]


def test_queue_halts_after_a_failed_run_when_asked(make_window, sim_config, qtbot):
    window = make_window(sim_config)
    window.queue_panel.keep_going.setChecked(False)
    fill(window, {**FAST, "power_min_W": 0.05})
    window.add_to_queue()
    fill(window, FAST)
    window.add_to_queue()
    window.queue.start()
    qtbot.waitUntil(lambda: window.queue.entries[0].status == "failed" and not window.queue.running,
                    timeout=60_000)
    qtbot.wait(100)
    assert window.queue.entries[1].status == "queued"
    assert not laser_twin(window).emission_requested


def test_queue_reorders_and_removes(make_window, sim_config):
    window = make_window(sim_config)
    for points in (10, 20, 30):
        fill(window, {"points": points})
        window.add_to_queue()
    assert window.queue.move(2, -1) == 1
    window.queue.remove(0)
    assert [e.values["points"] for e in window.queue.entries] == [30, 20]
    fill(window, {"points": 40})  # "Run now" goes ahead of what is still queued
    window.add_to_queue(first=True)
    assert [e.values["points"] for e in window.queue.entries] == [40, 30, 20]


def test_an_error_marks_the_field_it_names_not_fields_inside_that_name(make_window,
                                                                       sim_config):
    form = make_window(sim_config).form
    form.show_general_error("parameter max_refine_points: too many")
    assert "max_refine_points" in form.errors and "points" not in form.errors


def test_form_shows_invalid_values_at_the_field_and_queues_nothing(make_window, sim_config):
    window = make_window(sim_config)
    form = window.form
    form.set_value("points", "3")
    assert "minimum" in form.messages["points"].text()
    assert not form.messages["points"].isHidden()
    assert window.add_to_queue() is None
    form.set_value("points", "12")
    assert form.messages["points"].isHidden()
    form.set_value("power_max_W", "4")  # valid number, but above the laser's configured 3 W
    assert window.add_to_queue() is None
    assert "power_max_W" in form.errors and "limit" in form.errors["power_max_W"]
    assert window.queue.entries == []
    tip = form.editors["settle_s"].toolTip()
    assert "rise time" in tip and "limits: 0 … 3600 s" in tip


def test_emission_on_needs_confirmation(make_window, sim_config, qtbot):
    window = make_window(sim_config, answer=False)
    panel = window.instruments.panels["pump_1064"]
    panel.emission_on.click()
    qtbot.wait(200)
    assert not laser_twin(window).emission_requested
    window.ask = lambda title, text: True
    panel.emission_on.click()
    qtbot.waitUntil(lambda: laser_twin(window).emission_requested, timeout=10_000)
    panel.emission_off.click()
    qtbot.waitUntil(lambda: not laser_twin(window).emission_requested, timeout=10_000)


def test_stop_cancels_a_manual_emission_on_that_is_still_waiting(make_window, sim_config,
                                                                  qtbot):
    """A manual action queued behind another instrument access must not switch the laser on
    after STOP; emission off goes at once, past that queue."""
    window = make_window(sim_config, answer=True)
    panels = window.instruments
    panel = panels.panels["pump_1064"]
    panels._io.acquire()  # an idle poll (or any GUI access) is holding the instruments
    try:
        panel.emission_on.click()
        qtbot.wait(200)
        window.stop_button.click()
    finally:
        panels._io.release()
    qtbot.waitUntil(lambda: any("refused" in m for _l, _r, m in window.log_panel.messages()),
                    timeout=10_000)
    assert not laser_twin(window).emission_requested
    # Emission off does not wait for the instrument queue.
    panels._io.acquire()
    try:
        panel.emission_off.click()
        qtbot.waitUntil(lambda: any("emission off: done" in m
                                    for _l, _r, m in window.log_panel.messages()),
                        timeout=10_000)
    finally:
        panels._io.release()


def test_a_manual_emission_on_still_going_when_a_run_starts_does_not_end_inside_it(
        make_window, sim_config, qtbot):
    """Clicked before Run: the action has passed its check and waits (a real laser's ready
    wait) when the run is prepared. The run starts only after it let go, and it leaves the
    laser off: it must not come on under the procedure's dark reference."""
    import time

    window = make_window(sim_config, answer=True)
    laser = window.bench.laser()
    going, switch_on = threading.Event(), laser.emission_on

    def slow_on(*args, **kwargs):
        going.set()
        time.sleep(0.5)  # a wait that does not listen to the stop request
        switch_on(*args, **kwargs)

    window.instruments.act(laser.role, "emission on (test)", slow_on)
    assert going.wait(5.0)
    emitting_at_start = []
    original_start = Runner.start

    def start(runner, **kwargs):
        emitting_at_start.append(laser_twin(window).emission_requested)
        original_start(runner, **kwargs)

    Runner.start = start
    try:
        fill(window, {"points": 5})
        window.run_now.click()
        qtbot.waitUntil(lambda: bool(emitting_at_start), timeout=10_000)
    finally:
        Runner.start = original_start
    assert emitting_at_start == [False], window.log_panel.messages()
    # the action ended without switching the laser on (its wait stopped, or undone)
    qtbot.waitUntil(lambda: any("emission on (test):" in m and "done" != m.rsplit(" ", 1)[-1]
                                for _l, _r, m in window.log_panel.messages()), timeout=10_000)
    window.stop()
    qtbot.waitUntil(lambda: not window.queue.running, timeout=30_000)
    assert not laser_twin(window).emission_requested


def test_manual_power_respects_the_configured_limit(make_window, sim_config, qtbot):
    window = make_window(sim_config)
    panel = window.instruments.panels["pump_1064"]
    assert panel.power.maximum() == pytest.approx(3.0)
    panel.power.setValue(1.25)
    window.instruments.act("pump_1064", "too much", lambda: window.bench.laser().set_power_W(4))
    qtbot.waitUntil(lambda: any("too much" in m and level == "ERROR"
                                for level, _r, m in window.log_panel.messages()),
                    timeout=10_000)
    panel.controls[1].click()  # "Set"
    qtbot.waitUntil(lambda: window.bench.laser().last_readings.get("power_setpoint_W") == 1.25,
                    timeout=10_000)
    qtbot.waitUntil(lambda: "power setpoint 1.25 W" in panel.readings.text(), timeout=5_000)


def test_browser_replots_a_finished_file_with_its_analysis(bench, tmp_path, qtbot):
    from avlab.gui.browser import DataBrowser
    from avlab.gui.liveviews import ReadoutLiveView, XYLiveView

    path = tmp_path / "s.h5"
    result = Runner(SCurve(**FAST), bench, path).run()
    assert result.status == "completed" and result.analysis is not None
    browser = DataBrowser()
    qtbot.addWidget(browser)
    assert browser.open(path)
    xy = browser.views.view_of(XYLiveView)
    assert xy.n_points == result.n_points
    s_max = result.analysis.scalars["s_max"][0]
    assert xy.markers["threshold_s_peak_kW_cm2"] == pytest.approx(
        result.analysis.scalars["threshold_s_peak_kW_cm2"][0])
    readout = browser.views.view_of(ReadoutLiveView)
    assert readout.labels["s_max"].text() == f"{s_max:.4g}"
    assert "completed" in browser.title.text()
    assert not browser.open(tmp_path / "missing.h5")


def test_browser_follows_a_file_still_being_written(tmp_path, qtbot):
    from avlab.gui.browser import DataBrowser
    from avlab.gui.liveviews import XYLiveView
    from avlab.storage import RunWriter

    procedure = SCurve()
    writer = RunWriter(tmp_path / "live.h5", procedure="scurve", columns=SCurve.columns,
                       signal=SCurve.signal, axes=SCurve.axes, parameters=procedure.values(),
                       config_text="", instruments={}, software_version="test")
    row = {c.name: 1.0 for c in SCurve.columns}
    try:
        for i in range(3):
            writer.append({**row, "intensity_kW_cm2": 1.0 + i, "signal_cps": 10.0 ** i})
        writer.flush()
        browser = DataBrowser()
        qtbot.addWidget(browser)
        assert browser.open(tmp_path / "live.h5")  # opened in SWMR mode while being written
        assert browser.run.status == "running" and browser.timer.isActive()
        assert browser.views.view_of(XYLiveView).n_points == 3
        writer.append({**row, "intensity_kW_cm2": 5.0, "signal_cps": 1e4})
        writer.flush()
        qtbot.waitUntil(lambda: browser.views.view_of(XYLiveView).n_points == 4, timeout=10_000)
    finally:
        writer.finish("completed")
    qtbot.waitUntil(lambda: not browser.timer.isActive(), timeout=10_000)  # stops following
    assert browser.run.status == "completed"


def test_image_view_from_streamed_lines(qtbot):
    from avlab.gui.liveviews import ViewSet

    nx, ny = 40, 30
    description = DataDescription(
        arrays=(ArrayItem("counts", "counts", (ny, nx), axes=("y_um", "x_um"),
                          interpretation="image"),),
        axes=(Axis("y_um", "um", values=tuple(np.linspace(-3, 3, ny))),
              Axis("x_um", "um", values=tuple(np.linspace(-4, 4, nx)))))
    views = ViewSet((ImageView("confocal", item="counts"),), description)
    qtbot.addWidget(views)
    image = views.widgets[0]
    for iy in range(10):
        views.feed(ChunkWritten("r", iy + 1, 0.0, item="counts", index=(iy,),
                                values=np.full(nx, 100.0 + iy)))
    assert views.refresh() == 1 and views.refresh() == 0  # drawn once per change
    assert not image.measured[10:].any() and image.measured[:10].all()
    assert image.buffer[9, 0] == 109
    assert tuple(image.image.levels) == (100, 109)  # auto levels over measured pixels only
    image.show_cursor(0.0, image.y_um[9])
    assert "µm" in image.readout.text() and "109 counts" in image.readout.text()
    x, y = image.profile_curve.getData()
    assert len(x) == nx and np.allclose(y, 109)
    image.show_cursor(0.0, image.y_um[20])
    assert "not measured yet" in image.readout.text()


def test_curves_view_highlights_the_newest_histogram(qtbot):
    from avlab.gui.liveviews import ViewSet

    description = DataDescription(
        arrays=(ArrayItem("rise", "counts", (50,), stacked=True, axes=("power_W", "t_s")),),
        axes=(Axis("power_W", "W"), Axis("t_s", "s", values=tuple(np.arange(50) * 1e-3))))
    views = ViewSet((CurvesView("rise histograms", item="rise", newest=3),), description)
    qtbot.addWidget(views)
    curves = views.widgets[0]
    for k in range(5):
        views.feed(ChunkWritten("r", 2 * k + 1, 0.0, item="power_W", index=(k,),
                                values=np.array(0.1 * (k + 1))))
        views.feed(ChunkWritten("r", 2 * k + 2, 0.0, item="rise", index=(k,),
                                values=np.arange(50.0) * (k + 1)))
    views.refresh()
    drawn = [c for c in curves.curves if c.getData()[0] is not None and len(c.getData()[0])]
    assert len(drawn) == 3
    assert "0.5 W" in curves.plot.titleLabel.text
    assert np.allclose(drawn[-1].getData()[1], np.arange(50.0) * 5)


def test_warnings_from_any_thread_reach_the_log_panel(make_window, sim_config, qtbot):
    window = make_window(sim_config)
    worker = threading.Thread(target=lambda: logging.getLogger("avlab.test").warning(
        "from a worker thread"))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: any(m == "from a worker thread"
                                for _l, _r, m in window.log_panel.messages()), timeout=5_000)


def test_closing_during_a_run_asks_then_aborts_with_the_laser_off(make_window, sim_config,
                                                                  qtbot):
    realtime = dataclasses.replace(sim_config, simulation=dataclasses.replace(
        sim_config.simulation, realtime=True))
    window = make_window(realtime, answer=False)
    fill(window, SLOW)
    window.run_now.click()
    qtbot.waitUntil(lambda: laser_twin(window).emission_requested, timeout=30_000)
    assert not window.close()  # the user said no: the run goes on
    assert window.queue.running and laser_twin(window).emission_requested
    window.ask = lambda title, text: True
    assert window.close()
    assert not laser_twin(window).emission_requested
    assert window.queue.entries[0].status in ("running", "aborted")
    runner = window.queue.runner
    assert runner is not None and runner.join(0).status == "aborted"  # close waited for it


def test_a_headless_close_during_a_run_stops_it_without_asking(make_window, sim_config,
                                                                qtbot):
    """`--screenshots` timing out, `--quit-after`: nobody can answer the question, so the
    run is stopped as by STOP, and the window closes with the laser off."""
    realtime = dataclasses.replace(sim_config, simulation=dataclasses.replace(
        sim_config.simulation, realtime=True))
    window = make_window(realtime)
    fill(window, SLOW)
    window.run_now.click()
    qtbot.waitUntil(lambda: laser_twin(window).emission_requested, timeout=30_000)

    def no_dialog(title, text):
        raise AssertionError("a headless close must not ask")

    window.ask = no_dialog
    window.close_without_asking()
    assert not window.isVisible()
    assert not laser_twin(window).emission_requested
    qtbot.waitUntil(lambda: not window.queue.running, timeout=30_000)
    assert window.queue.entries[0].status == "aborted"


def _gui_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def test_gui_starts_and_exits_cleanly_in_a_subprocess(tmp_path):
    done = subprocess.run([sys.executable, "-m", "avlab.cli", "gui", "--quit-after", "1.5"],
                          env=_gui_env(QT_QPA_PLATFORM="offscreen"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_gui_without_a_display_says_how_to_run_it(tmp_path):
    done = subprocess.run([sys.executable, "-m", "avlab.cli", "gui"], env=_gui_env(),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "QT_QPA_PLATFORM=offscreen" in done.stderr and "--screenshots" in done.stderr
    assert "plugin" not in done.stderr.lower()


def test_has_display():
    from avlab.gui import has_display

    assert not has_display({}, "linux")
    assert has_display({"DISPLAY": ":0"}, "linux")
    assert has_display({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert has_display({}, "win32")


def test_cli_help_does_not_import_qt():
    code = ("import sys, contextlib, io\nfrom avlab import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: cli.main(['--help'])\n    except SystemExit: pass\n"
            "print(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env=_gui_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
