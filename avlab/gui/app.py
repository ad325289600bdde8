"""Start the GUI: the Qt application, the bench, the window; and the headless screenshots."""

from __future__ import annotations

import dataclasses
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from ..bench import Bench
from ..config import ConfigError, load_config
from ..errors import AvlabError
from .window import MainWindow

log = logging.getLogger(__name__)

#: The interpreter's thread switch interval while the GUI runs (s); Python's default is 5 ms.
GUI_SWITCH_INTERVAL_S = 0.0005

#: A short S-curve for the screenshots: the simulated bench's virtual clock makes it take
#: about a second of wall time.
#: The simulated world's seed for screenshots (when the config sets none): same pictures
#: every time.
SCREENSHOT_SEED = 2


def application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "avlab", "-style", "Fusion"])
        app.setApplicationName("avlab")
        # The GUI thread shares the interpreter with the run's worker (and, on the simulated
        # bench, with the instrument simulation). PySide releases the GIL around Qt calls and
        # takes it back afterwards; against a busy worker each take-back waits up to the
        # switch interval (5 ms by default), and a repaint makes hundreds of them. A shorter
        # interval keeps the window responsive (benchmarks/gui_image_rate.py).
        sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
        warm_up()
    assert isinstance(app, QApplication)
    return app


#: Heavy libraries that analyses import lazily: imported by the warm-up while the window
#: waits for the user, not by a run's worker at the end of a run — an import holds the
#: interpreter lock for tens of ms at a time and froze the window for 70 ms then.
WARM_UP_MODULES = ("scipy.optimize", "scipy.ndimage", "scipy.stats", "scipy.integrate",
                   "scipy.signal")


def warm_up() -> None:
    """Pay one-time costs off the GUI thread: pyqtgraph's colour-map menu (part of every
    image view's level control) lists matplotlib's maps, which imports matplotlib — seconds
    the first time, which would otherwise freeze the window when the first image run starts;
    and the WARM_UP_MODULES."""
    import importlib
    import threading

    def load() -> None:
        try:
            import pyqtgraph as pg

            pg.colormap.listMaps(source="matplotlib")
        except Exception:  # noqa: BLE001 - only a speed-up; the view works without it
            pass
        for name in WARM_UP_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:  # only a speed-up
                pass

    threading.Thread(target=load, name="avlab-gui-warm-up", daemon=True).start()


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Process Qt events until `condition()` holds or `timeout_s` passed."""
    app = application()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.005)
    return True


def run_app(config_path: str | None, screenshots: Path | None, *,
            quit_after_s: float | None = None) -> int:
    try:
        config = load_config(config_path)
    except (ConfigError, AvlabError, OSError) as exc:
        print(f"avlab gui: {exc}", file=sys.stderr)
        return 2
    if screenshots is not None and config.uses_simulation and config.simulation.seed is None:
        config = dataclasses.replace(config, simulation=dataclasses.replace(
            config.simulation, seed=SCREENSHOT_SEED))
    app = application()
    bench = Bench(config, keep_going=True)  # roles that fail are shown, not fatal
    code = 0
    try:
        if screenshots is not None:
            with tempfile.TemporaryDirectory(prefix="avlab-gui-") as out_dir:
                window = MainWindow(bench, out_dir=out_dir)
                window.show()
                try:
                    code = render_screenshots(window, screenshots)
                finally:
                    window.close_without_asking()
                    _dispose(window)
            return code
        window = MainWindow(bench)
        window.show()
        if quit_after_s is not None:
            QTimer.singleShot(int(quit_after_s * 1000), window.close_without_asking)
        code = app.exec()
        _dispose(window)
        return code
    finally:
        bench.close()


def _dispose(window: QWidget) -> None:
    """Delete the window's Qt objects before the interpreter exits (some PySide6 builds abort
    at exit when a window holding pyqtgraph views is still alive)."""
    window.deleteLater()
    application().processEvents()
    application().sendPostedEvents(None, 0)


def _save(widget: QWidget, path: Path) -> Path:
    application().processEvents()
    pixmap = widget.grab()
    if not pixmap.save(str(path)):
        raise OSError(f"could not write {path}")
    print(f"wrote {path} ({pixmap.width()}x{pixmap.height()})")
    return path


def _demo_procedure(window: MainWindow) -> tuple[str, dict]:
    """(name, settings) of the procedure the screenshots demonstrate (see render_screenshots)."""
    for name, cls in window.procedures.items():
        demo = dict(getattr(cls, "demo_values", {}) or {})
        if not demo:
            continue
        try:
            cls(**demo).check(window.bench)
        except Exception:  # noqa: BLE001 - not runnable on this bench: try the next one
            continue
        return name, demo
    return window.chooser.currentText(), {}


def render_screenshots(window: MainWindow, out: Path) -> int:
    """Run a short demonstration from the form and save each main view as a PNG in `out`.

    The procedure is the first registered one that declares `demo_values` (a short run's
    settings) and whose check passes on this bench; the GUI names none itself."""
    out.mkdir(parents=True, exist_ok=True)
    wait_until(lambda: False, 0.3)  # let the first idle poll fill the instrument readings
    name, demo = _demo_procedure(window)
    window.chooser.setCurrentText(name)
    for key, value in demo.items():
        window.form.set_value(key, value)
    _save(window, out / "procedure_form.png")
    window.run_now.click()
    if not wait_until(lambda: window.last_finished is not None and not window.queue.running,
                      120.0):
        print("avlab gui: the screenshot run did not finish in 120 s", file=sys.stderr)
        return 1
    wait_until(lambda: False, 0.5)
    window.refresh()
    window.tabs.setCurrentWidget(window.live)
    _save(window, out / f"live_{name}.png")
    window.tabs.setCurrentIndex(0)
    _save(window, out / "queue.png")
    assert window.last_finished is not None
    window.browser.open(window.last_finished.path)
    window.tabs.setCurrentWidget(window.browser)
    _save(window, out / "data_browser.png")
    window.tabs.setCurrentWidget(window.log_panel)
    _save(window, out / "log.png")
    _save(window.instruments, out / "instruments.png")
    return 0
