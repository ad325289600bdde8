"""The instrument panel: every role's state, identity and newest readings, manual controls.

Readings come from each role's `last_readings` cache, which the role wrappers fill whenever a
procedure or a control sets or reads something, so during a run the panel never takes a
measurement that would compete with the procedure. Only while no run goes does the panel poll
the instruments itself (through the wrappers, under their locks, off the GUI thread).

Manual controls act through the role wrappers too, which enforce the configured limits;
switching a pump's emission on asks for an explicit confirmation first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ..bench import Bench
from ..devices import Attenuator, Cryostat, PumpLaser, RoleDevice, Scanner
from .liveviews import format_value

log = logging.getLogger(__name__)

#: How often the panel redraws from the caches (ms) and polls idle instruments (s).
DISPLAY_PERIOD_MS = 500
IDLE_POLL_PERIOD_S = 2.0

_UNITS = {"power_setpoint_W": "W", "power_W": "W", "rate_cps": "counts/s",
          "setpoint_K": "K", "sample_temperature_K": "K", "park_x_um": "µm", "park_y_um": "µm",
          "transmission": ""}


def _reading_text(name: str, value: Any) -> str:
    if name == "emission":
        return "emission <b style='color:#d62728'>ON</b>" if value else "emission off"
    if name == "status":
        return str(value)
    label = name
    for suffix in ("_W", "_cps", "_K", "_um"):
        if label.endswith(suffix):
            label = label[: -len(suffix)]
    return f"{label.replace('_', ' ')} {format_value(value, _UNITS.get(name, ''))}"


class _Results(QObject):
    done = Signal(str, str, bool)  # role, message, ok


def _spin(low: float, high: float, value: float, unit: str, decimals: int = 3,
          step: float = 0.1) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(decimals)
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(min(max(value, low), high))
    if unit:
        spin.setSuffix(f" {unit}")
    spin.setToolTip(f"allowed: {low:g} … {high:g} {unit} (configured limits)")
    return spin


class RolePanel(QGroupBox):
    """One role: connection state, identity, readings and its manual controls."""

    def __init__(self, role: str, device: RoleDevice | None, failure: str,
                 act: Callable[[str, str, Callable[[], Any]], None],
                 confirm: Callable[[str, str], bool]) -> None:
        kind = device.kind if device is not None else "not connected"
        super().__init__(f"{role} — {kind.replace('_', ' ')}")
        self.role, self.device = role, device
        self._act, self._confirm = act, confirm
        self.controls: list[QWidget] = []
        layout = QVBoxLayout(self)
        self.state = QLabel()
        if device is None:
            self.state.setText(f"<b style='color:#d62728'>not connected</b>: {failure}")
        else:
            info = device.describe()
            self.state.setText(f"<b style='color:#2ca02c'>connected</b> · {info['identity']}"
                               f"<br><small>{info['driver']} at {info['resource']}</small>")
        self.state.setWordWrap(True)
        layout.addWidget(self.state)
        self.readings = QLabel("no readings yet")
        self.readings.setWordWrap(True)
        self.readings.setObjectName(f"readings_{role}")
        layout.addWidget(self.readings)
        if device is not None:
            self._add_controls(layout, device)

    def _button(self, text: str, slot: Callable[[], None], *, always: bool = False) -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(slot)
        if not always:
            self.controls.append(button)
        return button

    def _add_controls(self, layout: QVBoxLayout, device: RoleDevice) -> None:
        grid = QGridLayout()
        layout.addLayout(grid)
        if isinstance(device, PumpLaser):
            setpoint = float(device.last_readings.get("power_setpoint_W", 0.0))
            self.power = _spin(0.0, device.max_power_W, setpoint, "W")
            self.controls.append(self.power)
            grid.addWidget(QLabel("power setpoint"), 0, 0)
            grid.addWidget(self.power, 0, 1)
            grid.addWidget(self._button("Set", lambda: self._act(
                self.role, f"power setpoint {self.power.value():g} W",
                lambda: device.set_power_W(self.power.value()))), 0, 2)
            self.emission_on = self._button("Emission ON…", self._emission_on)
            self.emission_on.setObjectName(f"emission_on_{self.role}")
            # shutdown(), not emission_off(): it acts even while another thread holds the
            # instrument lock (a pending emission-on waiting for the laser).
            self.emission_off = self._button("Emission off", lambda: self._act(
                self.role, "emission off", device.shutdown, safe=True), always=True)
            self.emission_off.setObjectName(f"emission_off_{self.role}")
            row = QHBoxLayout()
            row.addWidget(self.emission_on)
            row.addWidget(self.emission_off)
            layout.addLayout(row)
        elif isinstance(device, Attenuator):
            self.transmission = _spin(device.min_transmission, device.max_transmission,
                                      device.min_transmission, "", decimals=4, step=0.01)
            self.controls.append(self.transmission)
            grid.addWidget(QLabel("transmission"), 0, 0)
            grid.addWidget(self.transmission, 0, 1)
            grid.addWidget(self._button("Set", lambda: self._act(
                self.role, f"transmission {self.transmission.value():g}",
                lambda: device.set_transmission(self.transmission.value()))), 0, 2)
            grid.addWidget(self._button("Block", lambda: self._act(
                self.role, "to extinction", device.block, safe=True), always=True), 1, 2)
        elif isinstance(device, Scanner):
            (x_low, x_high), (y_low, y_high) = device.reachable_um()
            self.park_x = _spin(x_low, x_high, 0.0, "µm", step=1.0)
            self.park_y = _spin(y_low, y_high, 0.0, "µm", step=1.0)
            self.controls += [self.park_x, self.park_y]
            grid.addWidget(QLabel("park x"), 0, 0)
            grid.addWidget(self.park_x, 0, 1)
            grid.addWidget(QLabel("park y"), 1, 0)
            grid.addWidget(self.park_y, 1, 1)
            grid.addWidget(self._button("Park", lambda: self._act(
                self.role, f"park at ({self.park_x.value():g}, {self.park_y.value():g}) µm",
                lambda: device.park(self.park_x.value(), self.park_y.value()))), 1, 2)
        elif isinstance(device, Cryostat):
            self.setpoint = _spin(0.1, device.max_setpoint_K, min(device.max_setpoint_K, 10.0),
                                  "K", decimals=2, step=1.0)
            self.controls.append(self.setpoint)
            grid.addWidget(QLabel("setpoint"), 0, 0)
            grid.addWidget(self.setpoint, 0, 1)
            grid.addWidget(self._button("Set", lambda: self._act(
                self.role, f"setpoint {self.setpoint.value():g} K",
                lambda: device.set_setpoint_K(self.setpoint.value()))), 0, 2)

    def _emission_on(self) -> None:
        device = self.device
        assert isinstance(device, PumpLaser)
        setpoint = device.last_readings.get("power_setpoint_W")
        power = f" at a setpoint of {setpoint:g} W" if isinstance(setpoint, float) else ""
        if not self._confirm(
                "Switch emission on?",
                f"{self.role} ({device.wavelength_nm:g} nm) will emit{power} "
                f"(limit {device.max_power_W:g} W).\n\nLaser safety: eyewear on, beam path "
                "closed. Switch emission on?"):
            return
        self._act(self.role, "emission on", device.emission_on)

    def set_controls_enabled(self, enabled: bool) -> None:
        for widget in self.controls:
            widget.setEnabled(enabled)

    def show_readings(self, now: float) -> None:
        if self.device is None:
            return
        readings = self.device.last_readings
        if not readings:
            return
        age = now - self.device.readings_time
        parts = [_reading_text(name, value) for name, value in readings.items()
                 if name != "status"]
        text = " · ".join(parts)
        if "status" in readings:
            text += f"<br><small>{readings['status']}</small>"
        self.readings.setText(text + f"<br><small style='color:#777'>updated {age:.0f} s ago"
                                     "</small>")


class InstrumentPanel(QScrollArea):
    """Every configured role, in config order."""

    #: What a manual control did (level, role, text), for the log panel.
    message = Signal(int, str, str)

    def __init__(self, bench: Bench, confirm: Callable[[str, str], bool],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.run_active = False
        self._io = threading.Lock()  # one GUI-side instrument access at a time
        self._stops = 0  # STOP presses so far: an action clicked before one is refused
        self._closing = threading.Event()
        self._poller: threading.Thread | None = None
        self._last_poll = 0.0
        self.results = _Results()
        self.results.done.connect(self._report)
        body = QWidget()
        layout = QVBoxLayout(body)
        self.panels: dict[str, RolePanel] = {}
        roles = list(bench.config.instruments)
        for role in roles:
            panel = RolePanel(role, bench.devices.get(role), bench.failures.get(role, ""),
                              self.act, confirm)
            self.panels[role] = panel
            layout.addWidget(panel)
        layout.addStretch(1)
        self.setWidget(body)
        self.setWidgetResizable(True)
        self.setMinimumWidth(330)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(DISPLAY_PERIOD_MS)
        self.tick()

    # --- readings --------------------------------------------------------------------------------
    def tick(self) -> None:
        now = time.time()
        for panel in self.panels.values():
            panel.show_readings(now)
        if (not self.run_active and now - self._last_poll >= IDLE_POLL_PERIOD_S
                and (self._poller is None or not self._poller.is_alive())):
            self._last_poll = now
            self._poller = threading.Thread(target=self._poll, name="avlab-gui-poll",
                                            daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        """Take a reading of every role (idle only): the wrappers publish what they read."""
        for device in list(self.bench.devices.values()):
            if self.run_active or self._closing.is_set():
                return
            with self._io:
                try:
                    if isinstance(device, PumpLaser):
                        device.is_emitting  # noqa: B018 - the property publishes the state
                    elif isinstance(device, Attenuator):
                        device.transmission()
                    device.publish(status=device.live_status())
                except Exception as exc:  # noqa: BLE001 - a failing poll is shown, not raised
                    device.publish(status=f"poll failed: {type(exc).__name__}: {exc}")

    # --- controls --------------------------------------------------------------------------------
    def act(self, role: str, what: str, action: Callable[[], Any], *, safe: bool = False) -> None:
        """Run a manual control off the GUI thread (emission on waits for the laser).

        A safe action (emission off, block the beam) goes at once, past the queue of GUI
        instrument accesses. Any other action is refused if a run is going or STOP was pressed
        after the click: it may have waited behind the idle poll or a confirmation dialog,
        and must not switch anything on after STOP or in the middle of a procedure."""
        generation = self._stops

        def work() -> None:
            try:
                if safe:
                    action()
                else:
                    with self._io:
                        if self.run_active or self._stops != generation:
                            raise RuntimeError("refused: a run is going or STOP was pressed")
                        # A wait of this action (emission on) must end at the next STOP,
                        # not at the STOP of an earlier run.
                        self.bench.stop_event.clear()
                        action()
                        if self._stops != generation:
                            # STOP (or a run starting) landed between the check and the
                            # action: its shutdown may have come first; do it again now
                            self.bench.shutdown()
                            raise RuntimeError("undone: STOP was pressed meanwhile")
            except Exception as exc:  # noqa: BLE001 - shown to the user, limits included
                self.results.done.emit(role, f"{what}: {type(exc).__name__}: {exc}", False)
            else:
                self.results.done.emit(role, what, True)

        log.info("%s: %s", role, what)
        threading.Thread(target=work, name=f"avlab-gui-{role}", daemon=True).start()

    def _report(self, role: str, message: str, ok: bool) -> None:
        if ok:
            log.info("%s: %s done", role, message)
            self.message.emit(logging.INFO, role, f"{message}: done")
        else:
            log.error("%s: %s", role, message)  # to the log panel through its handler
        self.tick()

    def set_run_active(self, active: bool) -> None:
        """During a run the manual controls are locked (emission off stays available).

        Before a run starts, a manual action still going (an emission-on waiting for the
        laser) must not finish inside it, under the procedure's dark reference say: it is
        stopped, and the run starts once it has let go of the instruments."""
        if active and not self.run_active:
            self.stop_actions()  # the run's start clears the bench's stop request again
            with self._io:
                self.run_active = True
        self.run_active = active
        for panel in self.panels.values():
            panel.set_controls_enabled(not active)

    def stop_actions(self) -> None:
        """STOP: manual actions not yet started are refused, running waits end."""
        self._stops += 1
        self.bench.stop_event.set()

    def close_panel(self) -> None:
        self.stop_actions()
        self._closing.set()
        self.timer.stop()
        if self._poller is not None:
            self._poller.join(5.0)
