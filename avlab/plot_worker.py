"""Draw a run's PNG in a second process that loads matplotlib while the run is measured.

Importing matplotlib costs about a third of a second, three times a whole S-curve on the
simulated bench. `avlab run` starts this worker first; it imports matplotlib on the other core
while the main process connects the bench, measures and analyses, and then renders the PNG
from the run as read back (the same `Procedure.plot` call the main process would make). If the
worker cannot be started, or cannot take the job (a procedure that cannot be pickled, a dead
worker), the main process plots itself; an error of the plot itself is reported as it is.
"""

from __future__ import annotations

import logging
import pickle
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

#: How long the main process waits for the worker's PNG before drawing it itself.
PLOT_TIMEOUT_S = 120.0


#: What the worker imports besides matplotlib by default: h5py, as the run arrives as RunData.
RUN_MODULES = ("avlab.storage",)


def _preload(modules: tuple[str, ...] = RUN_MODULES) -> None:
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg
    import matplotlib.figure

    for name in modules:
        importlib.import_module(name)
    # One tiny figure with text: loads the font and fills the text caches (the first real
    # plot would pay ~40 ms for them).
    figure = matplotlib.figure.Figure(figsize=(1, 1))
    matplotlib.backends.backend_agg.FigureCanvasAgg(figure)
    figure.subplots().set_xlabel("x (µm)")
    figure.canvas.draw()


def _render(procedure: Any, run: Any, analysis: Any, png_path: Path) -> Path | None:
    return procedure.plot(run, analysis, png_path)


class PlotWorker:
    """One forked process, warmed up at once; `plot()` renders there or falls back."""

    def __init__(self, modules: tuple[str, ...] = RUN_MODULES) -> None:
        """`modules`: imported by the worker while it waits (what the jobs' arguments need
        to be unpickled there)."""
        self._pool: ProcessPoolExecutor | None = None
        try:
            import multiprocessing
            import threading

            # Forked: the child starts with everything the parent has imported so far and
            # only loads matplotlib (a spawned child re-imports numpy, h5py and avlab, which
            # ate the gain). Forked here, before the bench exists, so it inherits no
            # instrument link or HDF5 file — and only from a single-threaded process, where
            # no other thread can hold a lock the child would need. Elsewhere (a platform
            # without fork, a GUI, a test runner with threads) the PNG is drawn in-process.
            if ("fork" not in multiprocessing.get_all_start_methods()
                    or threading.active_count() > 1):
                return
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context,
                                             initializer=_preload, initargs=(modules,))
            self._pool.submit(int)  # starts the process and its preload now
        except Exception as exc:  # noqa: BLE001 - plotting in-process still works
            log.debug("plot worker not started: %s", exc)
            self.close()

    def plot(self, procedure: Any, run: Any, analysis: Any, png_path: Path) -> Path | None:
        """`procedure.plot(run, analysis, png_path)`, in the worker when there is one."""
        return self.call(_render, procedure, run, analysis, png_path)

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args, **kwargs)` in the worker (a module-level function, picklable
        arguments), or here when the worker is missing or fails."""
        if self._pool is not None:
            try:
                result = self._pool.submit(function, *args, **kwargs).result(PLOT_TIMEOUT_S)
                log.debug("PNG drawn by the plot worker: %s", result)
                return result
            except (BrokenProcessPool, pickle.PicklingError, AttributeError, TypeError) as exc:
                # The worker is gone or the job cannot travel to it: draw here instead. Any
                # other error is the plot's own (drawing again would only repeat it), and a
                # timeout leaves the worker still writing the file: both are raised.
                log.debug("plot worker cannot draw (%s); plotting in-process", exc)
        return function(*args, **kwargs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
