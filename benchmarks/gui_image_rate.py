"""Live image view of the GUI while a 512 × 512 confocal frame streams in line by line.

Runs the whole GUI (main window, run queue, live views) on the simulated confocal bench
(experiments/labs/confocal_sim.toml) with the confocal procedure (`avlab run confocal`): the
pump at the intensity of maximal S, the lines written through `ctx.write` as the scanner
delivers them (file first, then a ChunkWritten event). Prints, measured in the same run:

* the image view's update rate while lines arrive (redraws per second of streaming);
* the longest time the GUI thread was blocked, from a 5 ms QTimer heartbeat (the largest gap
  between two beats, less the 5 ms period);
* lines per second delivered, and events the GUI lost (should be 0).

Targets (issue 14): at least 20 updates/s, no block longer than 50 ms. Never asserted.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_image_rate.py [--pixels 512]
        [--dwell-us 10] [--particles 100] [--field-um 16] [--relative-intensity 1] [--png FILE]

At 10 µs a single ANP gives a fraction of a count per pixel (it emits ~10⁴ photons/s, and
near threshold it needs ~0.2 s to light up): the default frame measures speed, not a
picture. The README's screenshot: --pixels 128 --dwell-us 10000 --field-um 8 --particles 12
--relative-intensity 4 (saturated, bright ~200 nm spots).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
warnings.filterwarnings("ignore", category=FutureWarning)

from avlab.bench import Bench  # noqa: E402
from avlab.config import load_config  # noqa: E402
from experiments.confocal.procedure import Confocal  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "labs" / "confocal_sim.toml"


def _run_event_loop(condition, timeout_s: float) -> bool:
    """Run Qt's own event loop (as `avlab gui` does with app.exec()) until `condition()`
    holds: a polling loop of processEvents() and sleeps would add its sleeps to the gaps the
    heartbeat measures."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    check = QTimer()
    check.setInterval(20)
    check.timeout.connect(lambda: loop.quit() if condition() else None)
    check.start()
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    check.stop()
    return condition()


def bare_pyqtgraph_rate(pixels: int, updates: int = 60) -> float:
    """Anchor measured in the same run: updates/s of a bare pyqtgraph image item (new data,
    then the widget rendered at once) with no worker, no events and no avlab view around it."""
    import pyqtgraph as pg
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    widget = pg.GraphicsLayoutWidget()
    widget.resize(800, 800)
    item = pg.ImageItem()
    widget.addPlot().addItem(item)
    widget.show()
    frames = np.random.default_rng(0).poisson(5.0, (4, pixels, pixels)).astype(float)
    item.setImage(frames[0])
    widget.grab()
    start = time.perf_counter()
    for k in range(updates):
        item.setImage(frames[k % 4], autoLevels=False, levels=(0.0, 20.0))
        QApplication.sendPostedEvents(None, QEvent.Type.MetaCall)  # the scene's dirty items
        widget.grab()  # renders the whole widget now
    rate = updates / (time.perf_counter() - start)
    widget.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, default=512)
    parser.add_argument("--dwell-us", type=float, default=10.0)
    parser.add_argument("--particles", type=int, default=100)
    parser.add_argument("--field-um", type=float, default=16.0)
    parser.add_argument("--relative-intensity", type=float, default=1.0,
                        help="pump intensity in units of the S-peak intensity")
    parser.add_argument("--frames", type=int, default=1,
                        help="passes of the frame, summed (frame_averages)")
    parser.add_argument("--virtual-clock", action="store_true",
                        help="as fast as the simulation goes (the twin computes a frame ahead "
                             "and the lines arrive in one burst) instead of at the scan's "
                             "real pace")
    parser.add_argument("--png", metavar="FILE", help="save the window after the frame")
    args = parser.parse_args()

    from PySide6.QtCore import QTimer

    from avlab.gui.app import _dispose, application, wait_until
    from avlab.gui.liveviews import ImageLiveView
    from avlab.gui.window import MainWindow

    app = application()
    config = load_config(CONFIG)
    # At the scan's real pace by default (the bench's clock follows the wall clock): lines
    # arrive as the sample clock makes them, as on hardware, for the whole frame time.
    config = dataclasses.replace(config, simulation=dataclasses.replace(
        config.simulation, seed=7, realtime=not args.virtual_clock))
    with Bench(config) as bench, tempfile.TemporaryDirectory() as tmp:
        world = bench.world
        rng = np.random.default_rng(1)
        world.sample.particle_positions_um = rng.uniform(-0.45 * args.field_um, 0.45 * args.field_um,
                                                             (args.particles, 2))
        _s_max, intensity = world.emission_table().s_max()

        window = MainWindow(bench, procedures={"confocal": Confocal}, out_dir=tmp)
        window.show()
        window.resize(1300, 860)
        for name, value in {"field_um": args.field_um, "pixels_x": args.pixels,
                            "pixels_y": args.pixels, "dwell_s": args.dwell_us * 1e-6,
                            "intensity_kW_cm2": intensity * args.relative_intensity,
                            "frame_averages": args.frames,
                            "settle_s": 0.0}.items():
            window.form.set_value(name, value)

        beats: list[float] = []
        heartbeat = QTimer()
        heartbeat.setInterval(5)
        heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
        lines: list[float] = []  # when the GUI thread received each chunk of lines
        draw_times: list[float] = []  # when the image view redrew
        original_draw = ImageLiveView.draw

        def timed_draw(view_self) -> None:
            draw_times.append(time.perf_counter())
            original_draw(view_self)

        ImageLiveView.draw = timed_draw
        window.queue.event.connect(
            lambda e: lines.append(time.perf_counter()) if getattr(e, "item", "") == "counts"
            else None)
        # as a user would: the window has been up a few seconds (one-time warm-up done)
        wait_until(lambda: not any(t.name == "avlab-gui-warm-up" for t in threading.enumerate()),
                   30.0)
        wait_until(lambda: False, 0.5)
        bare_rate = bare_pyqtgraph_rate(args.pixels)
        heartbeat.start()
        clicked = time.perf_counter()
        window.run_now.click()  # builds the run's views and starts it, on the GUI thread
        click_ms = (time.perf_counter() - clicked) * 1e3
        finished = _run_event_loop(lambda: window.last_finished is not None
                                   and not window.queue.running, 300.0)
        wait_until(lambda: False, 0.2)
        heartbeat.stop()
        if not finished:
            raise SystemExit("the frame did not finish within 300 s")
        view = window.viewset.view_of(ImageLiveView)
        assert isinstance(view, ImageLiveView)

        # Redraws while lines were arriving (not the final full-frame draw after the last).
        streaming_s = lines[-1] - lines[0] if len(lines) > 1 else float("nan")
        draws = sum(1 for t in draw_times if lines[0] <= t <= lines[-1])
        gaps = np.diff(np.asarray(beats))
        streaming = (np.asarray(beats[1:]) >= lines[0]) & (np.asarray(beats[:-1]) <= lines[-1])
        longest_ms = (float(gaps.max()) - 0.005) * 1e3
        longest_streaming_ms = (float(gaps[streaming].max()) - 0.005) * 1e3 \
            if streaming.any() else float("nan")
        print(f"frame {args.pixels} x {args.pixels}, {args.particles} particles, dwell "
              f"{args.dwell_us:g} µs, {args.frames} pass(es); {args.pixels * args.frames} lines "
              f"reached the GUI in {len(lines)} chunks "
              f"(one per counter read) in {streaming_s:.2f} s "
              f"({args.pixels * args.frames / streaming_s:.0f} lines/s); events lost: "
              f"{window.last_finished.dropped_events}")
        print(f"image view updates while streaming: {draws} in {streaming_s:.2f} s = "
              f"{draws / streaming_s:.1f} updates/s  (target >= 20); pyqtgraph alone, same "
              f"run: {bare_rate:.0f} updates/s (the view asks for one update per 33 ms tick)")
        print(f"longest GUI-thread block: {longest_streaming_ms:.1f} ms while streaming, "
              f"{longest_ms:.1f} ms over the whole run after the click, incl. its analysis "
              "(target <= 50)")
        print(f"the Run click itself (views built, first paint, run file created): "
              f"{click_ms:.0f} ms, once, before the first line")
        print(f"image complete: {int(view.measured.sum())} of {args.pixels ** 2} "
              f"pixels, run {window.last_finished.status}")
        if args.png:
            window.tabs.setCurrentWidget(window.live)
            # a cursor read-out and line profile through the brightest pixel, as a user sees it
            iy, ix = np.unravel_index(np.argmax(view.buffer), view.buffer.shape)
            view.show_cursor(float(view.x_um[ix]), float(view.y_um[iy]))
            app.processEvents()
            window.grab().save(args.png)
            print(f"wrote {args.png}")
        window.close()
        _dispose(window)


if __name__ == "__main__":
    main()
