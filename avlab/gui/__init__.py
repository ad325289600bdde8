"""The lab desktop GUI (`avlab gui`): instruments, procedures, a run queue, live views, files.

Qt (PySide6) and pyqtgraph are imported only inside this package's submodules, and only when
the GUI starts, so `avlab --help` and every other command work without them. Install them
with the `gui` extra (`pip install avlab[gui]`).

Nothing here knows a particular procedure: forms come from the typed parameters, live views
from the views a procedure declares (avlab.views), data from run events.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["has_display", "main"]

#: What `avlab gui` prints when there is nowhere to show a window.
NO_DISPLAY_HELP = """\
avlab gui: no display found (DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM are all unset).
  - on a desktop session, start it from a terminal of that session;
  - over ssh, use `ssh -X` (X forwarding);
  - to run without any display, set QT_QPA_PLATFORM=offscreen
    (e.g. `QT_QPA_PLATFORM=offscreen avlab gui --quit-after 5`), or render the views to PNG
    files with `avlab gui --screenshots DIR`."""


def has_display(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt has somewhere to draw: Windows and macOS always do; elsewhere an X or
    Wayland display, or an explicitly chosen Qt platform plugin (e.g. offscreen)."""
    environ = dict(os.environ) if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin")):
        return True
    return any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def main(config: str | None = None, screenshots: str | None = None,
         quit_after_s: float | None = None) -> int:
    """Start the GUI; returns the process exit code.

    With `screenshots`, runs a short S-curve on the simulated bench (or the given config),
    renders every main view to PNG files in that directory and exits; no display is needed
    (the offscreen platform is chosen when none is set).
    """
    if screenshots is None and not has_display():
        print(NO_DISPLAY_HELP, file=sys.stderr)
        return 2
    if screenshots is not None and not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        from .app import run_app
    except ImportError as exc:
        print(f"avlab gui needs PySide6 and pyqtgraph (pip install 'avlab[gui]'): {exc}",
              file=sys.stderr)
        return 1
    return run_app(config, Path(screenshots) if screenshots is not None else None,
                   quit_after_s=quit_after_s)
