"""Open the driver for one configured role: real hardware, or its simulated twin.

The same driver class serves both; for `resource = "sim"` it gets an in-process adapter to the
twin on the shared simulated world instead of a VISA resource. A `Connection` remembers how it
was made, so the bench can open a fresh link to the same instrument (or the same twin) when
the first one broke — above all to switch a laser off after its link dropped mid-run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import InstrumentConfig
from .simulation import build_twin, galvo_calibration


@dataclass
class Connection:
    """How one role was connected; `reopen()` makes a new driver over a new link."""

    inst: InstrumentConfig
    twin: Any  # the simulated twin for `sim` roles, else None
    driver: Any
    identity: str
    wait: Callable[[float], None] | None = None

    def reopen(self) -> Any:
        """A new driver on a new link to the same instrument (the old link is abandoned)."""
        self.driver = _open(self.inst, self.twin, self.wait)
        return self.driver


def connect_role(inst: InstrumentConfig, world: Any,
                 faults: tuple[tuple[str, str, float], ...] = (),
                 wait: Callable[[float], None] | None = None) -> Connection:
    """Connect a role; for `sim` roles its twin is built and placed in `world` first, with
    any faults the config schedules for it. `wait` is the bench's clock for drivers that
    sequence things in time (ramps, TEC settling), so a stop cuts those waits short."""
    twin = build_twin(inst, world, faults) if inst.simulated else None
    driver = _open(inst, twin, wait)
    try:
        _prepare(inst, driver)
    except BaseException:
        close_driver(driver)  # the role never reaches the bench, so nothing else would
        raise
    return Connection(inst, twin, driver, driver.identity, wait)


def close_driver(driver: Any) -> None:
    """Release a driver's link, whichever way it exposes it; never raises."""
    closer = getattr(driver, "close", None) or getattr(
        getattr(driver, "adapter", None), "close", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            closer()


def _link(inst: InstrumentConfig, twin: Any) -> Any:
    """What a message-based driver is built on: the resource string or an in-process adapter."""
    if twin is None:
        return inst.resource
    from sim_devices.transport import InProcessAdapter

    return InProcessAdapter(twin)


def _open(inst: InstrumentConfig, twin: Any, wait: Callable[[float], None] | None = None) -> Any:
    if inst.driver == "ipg_ylr":
        from drivers.lasers.ipg_ylr import IPGYLR

        return IPGYLR(_link(inst, twin), max_power_W=inst.options.get("max_power_W"))
    if inst.driver == "thorlabs_cld":
        from drivers.lasers.thorlabs_cld import ThorlabsCLD

        keys = ("threshold_current_A", "slope_efficiency_W_A", "max_current_A", "max_power_W",
                "max_step_A", "step_dwell_s")
        return ThorlabsCLD(_link(inst, twin),
                           wait=wait,
                           **{k: inst.options[k] for k in keys if k in inst.options})
    if inst.driver == "thorlabs_pm100":
        from drivers.powermeters.thorlabs_pm100 import ThorlabsPM100

        return ThorlabsPM100(_link(inst, twin))
    if inst.driver == "swabian_time_tagger":
        if twin is not None:
            return twin  # SDK-level: the twin is the driver object
        from drivers.timetagging.swabian import SwabianTimeTagger

        return SwabianTimeTagger(inst.options.get("serial", ""))
    if inst.driver == "nidaq_modulator":
        if twin is not None:
            return twin
        from drivers.modulation import NIDAQPumpModulator

        limits = {k: inst.limits[k] for k in ("min_period_s", "max_period_s")
                  if k in inst.limits}
        return NIDAQPumpModulator(inst.resource, output_terminal=inst.options.get(
            "output_terminal"), **limits)
    if inst.driver == "ocean_seabreeze":
        from drivers.spectrometers.ocean_seabreeze import (
            OceanSpectrometer,
            open_ocean_spectrometer,
        )

        opts = {k: inst.options[k] for k in ("correct_dark_counts", "correct_nonlinearity")
                if k in inst.options}
        if twin is not None:
            twin.open()  # a reopened link finds the twin open again
            return OceanSpectrometer(twin, **opts)
        serial = None if inst.resource.lower() == "first" else inst.resource
        return open_ocean_spectrometer(serial, backend=inst.options.get("backend", "cseabreeze"),
                                       **opts)
    if inst.driver == "spectrapro":
        from drivers.spectrometers.spectrapro import SpectraPro, SpectrographCamera

        opts = inst.options
        camera_kwargs = ({"focal_length_mm": opts["focal_length_mm"]}
                         if "focal_length_mm" in opts else {})
        if twin is not None:
            return SpectrographCamera(SpectraPro(_link(inst, twin)), twin.camera,
                                      **camera_kwargs)
        from drivers.spectrometers.andor_camera import open_andor_camera

        camera = open_andor_camera(opts.get("camera_index"), serial=opts.get("camera_serial"),
                                   cooling_target_C=opts.get("cooling_target_C"),
                                   shutter=opts.get("camera_shutter", "auto"), wait=wait)
        try:
            if "cooling_target_C" in opts:
                camera.wait_for_temperature(opts["cooling_target_C"],
                                            opts.get("cooling_timeout_s", 900.0), wait=wait)
            return SpectrographCamera(SpectraPro(inst.resource), camera, **camera_kwargs)
        except BaseException:
            camera.close()  # an unclosed Andor handle can block the camera until a reboot
            raise
    if inst.driver == "nidaq_galvo":
        if twin is not None:
            return twin  # SDK-level: the twin is the driver object
        from drivers.scanning.nidaq_galvo import NIDAQGalvoScanner

        opts = inst.options
        return NIDAQGalvoScanner(
            inst.resource, calibration=galvo_calibration(inst),
            x_channel=opts.get("x_channel", "ao0"), y_channel=opts.get("y_channel", "ao1"),
            counter=opts.get("counter", "ctr0"),
            photon_terminal=opts.get("photon_terminal", "PFI8"),
            **({"park_rate_Hz": opts["park_rate_Hz"]} if "park_rate_Hz" in opts else {}))
    if inst.driver == "thorlabs_elliptec":
        from drivers.attenuators.thorlabs_elliptec import ThorlabsElliptec

        return ThorlabsElliptec(_link(inst, twin), address=inst.options.get("address", "0"),
                                position_tolerance_deg=inst.options.get(
                                    "position_tolerance_deg", 0.5))
    if inst.driver == "lakeshore_33x":
        from drivers.temperature.lakeshore_33x import LakeShore33x

        # The driver's own cap is the cut-off; the bench enforces the tighter max_setpoint_K.
        cutoff_K = inst.limits["temperature_limit_K"]
        return LakeShore33x(_link(inst, twin), max_setpoint_K=cutoff_K)
    if inst.driver == "montana_cryostation":
        from drivers.temperature.montana_cryostation import MontanaCryostation

        if twin is not None:
            from sim_devices.instruments.montana_cryostation import InProcessStream

            link = InProcessStream(twin)
        else:
            link = inst.resource
        return MontanaCryostation(
            link, max_setpoint_K=inst.limits["max_setpoint_K"],
            max_heater_power_W=inst.options.get("max_heater_power_W", 1.0))
    if inst.driver == "nidaq_counter":
        if twin is not None:
            return twin  # SDK-level: the twin is the driver object
        from drivers.counters.nidaq import NIDAQPhotonCounter

        return NIDAQPhotonCounter(
            inst.resource,
            input_terminal=inst.options.get("input_terminal", "PFI8"),
            gate_counter=inst.options.get("gate_counter", "Dev1/ctr1"),
        )
    raise ValueError(f"{inst.role}: no connector for driver {inst.driver!r}")


def _prepare(inst: InstrumentConfig, driver: Any) -> None:
    """Bring a freshly connected instrument into the state avlab assumes."""
    if inst.driver == "ipg_ylr":
        driver.disable_emission()  # whatever state it was left in, a session starts dark
    elif inst.driver == "thorlabs_cld":
        driver.disable_emission()  # a session starts dark
        driver.start_tec(inst.options.get("tec_setpoint_C"))  # TEC on and settled; LD off
    elif inst.driver == "thorlabs_elliptec":
        driver.status  # reading the status clears an error latched before we connected
    elif inst.driver == "swabian_time_tagger" and "trigger_level_V" in inst.options:
        for channel in (inst.options.get("detector_channel", 1),
                        inst.options.get("marker_channel", 2)):
            driver.set_trigger_level(channel, inst.options["trigger_level_V"])
    elif inst.driver == "spectrapro":
        if "grating" in inst.options:
            driver.spectrograph.select_grating(inst.options["grating"])
        if "center_wavelength_nm" in inst.options:
            driver.spectrograph.goto_nm(inst.options["center_wavelength_nm"])
    elif inst.driver == "lakeshore_33x":
        limit_K = inst.limits["temperature_limit_K"]
        driver.configure_safety_limit(limit_K)
    elif inst.driver == "thorlabs_pm100":
        driver.power_unit = "W"  # the front panel may have left it in dBm
        if "averaging_count" in inst.options:
            driver.averaging_count = inst.options["averaging_count"]
