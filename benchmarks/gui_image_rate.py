"""Live image view of the GUI while a 512 × 512 confocal frame streams in line by line.

Runs the whole GUI (main window, run queue, live views) on the simulated confocal bench
(experiments/labs/confocal_sim.toml) with a small confocal procedure defined here: the pump
at the intensity of maximal S, the scanner role's `scan_lines`, each line written through
`ctx.write` (file first, then a ChunkWritten event). Prints, measured in the same run:

* the image view's update rate while lines arrive (redraws per second of streaming);
* the longest time the GUI thread was blocked, from a 5 ms QTimer heartbeat (the largest gap
  between two beats, less the 5 ms period);
* lines per second delivered, and events the GUI lost (should be 0).

Targets (issue 14): at least 20 updates/s, no block longer than 50 ms. Never asserted.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_image_rate.py [--pixels 512]
        [--dwell-us 10] [--particles 100] [--png FILE]
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
from avlab.data import ArrayItem, Axis  # noqa: E402
from avlab.procedure import Float, Int, Procedure, RunContext  # noqa: E402
from avlab.views import ImageView  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "labs" / "confocal_sim.toml"


class ConfocalFrame(Procedure):
    """One confocal frame: photon counts per pixel, streamed line by line."""

    name = "confocal_frame"
    title = "Confocal frame"
    pixels = Int(512, minimum=2, maximum=4096, doc="pixels per line and lines per frame")
    field_um = Float(20.0, minimum=0.1, maximum=100.0, unit="um", doc="frame width and height")
    dwell_s = Float(10e-6, minimum=1e-6, unit="s", doc="time per pixel")
    power_W = Float(1.0, minimum=0.0, unit="W", doc="pump laser output")
    arrays = [ArrayItem("counts", "counts", shape=("pixels", "pixels"), dtype="f8",
                        axes=("y_um", "x_um"), interpretation="image",
                        description="photons per pixel")]
    default_plot = "counts"

    def array_axes(self) -> list[Axis]:
        centres = np.linspace(-self.field_um / 2, self.field_um / 2, self.pixels)
        return [Axis("x_um", "um", "fast axis", values=centres),
                Axis("y_um", "um", "slow axis", values=centres)]

    def views(self):
        return (ImageView("Confocal frame", item="counts", colormap="inferno"),)

    def run(self, ctx: RunContext) -> None:
        from drivers.scanning import RasterFrame

        laser, scanner = ctx.bench.laser(), ctx.bench.scanner()
        frame = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=self.field_um,
                            height_um=self.field_um, pixels_x=self.pixels,
                            pixels_y=self.pixels, dwell_s=self.dwell_s, flyback_pixels=16)
        laser.set_power_W(self.power_W)
        with laser.emitting():
            for line in scanner.scan_lines(frame):
                ctx.write("counts", (line.index,), line.counts)
                ctx.progress((line.index + 1) / self.pixels, f"line {line.index + 1}")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, default=512)
    parser.add_argument("--dwell-us", type=float, default=10.0)
    parser.add_argument("--particles", type=int, default=100)
    parser.add_argument("--png", metavar="FILE", help="save the window after the frame")
    args = parser.parse_args()

    from PySide6.QtCore import QTimer

    from avlab.gui.app import _dispose, application, wait_until
    from avlab.gui.liveviews import ImageLiveView
    from avlab.gui.window import MainWindow

    app = application()
    config = load_config(CONFIG)
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=7))
    with Bench(config) as bench, tempfile.TemporaryDirectory() as tmp:
        world = bench.world
        rng = np.random.default_rng(1)
        world.sample.particle_positions_um = rng.uniform(-8.0, 8.0, (args.particles, 2))
        _s_max, intensity = world.emission_table().s_max()
        laser = bench.laser()  # the intensity per watt, measured the way the twin sees it
        laser.set_power_W(1.0)
        laser.emission_on()
        world.clock.sleep(3.5)
        power_W = intensity / world.peak_intensity_kW_cm2()  # pump at maximal S
        bench.shutdown()

        window = MainWindow(bench, procedures={"confocal_frame": ConfocalFrame}, out_dir=tmp)
        window.show()
        window.resize(1300, 860)
        for name, value in {"pixels": args.pixels, "dwell_s": args.dwell_us * 1e-6,
                            "power_W": power_W}.items():
            window.form.set_value(name, value)

        beats: list[float] = []
        heartbeat = QTimer()
        heartbeat.setInterval(5)
        heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
        lines: list[float] = []  # when the GUI thread received each line
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
        heartbeat.start()
        window.run_now.click()
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
              f"{args.dwell_us:g} µs; {len(lines)} lines reached the GUI in {streaming_s:.2f} s "
              f"({len(lines) / streaming_s:.0f} lines/s); events lost: "
              f"{window.last_finished.dropped_events}")
        print(f"image view updates while streaming: {draws} in {streaming_s:.2f} s = "
              f"{draws / streaming_s:.1f} updates/s  (target >= 20)")
        print(f"longest GUI-thread block: {longest_streaming_ms:.1f} ms while streaming, "
              f"{longest_ms:.1f} ms over the whole run incl. start and analysis (target <= 50)")
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
