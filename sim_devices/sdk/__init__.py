"""Simulated vendor SDKs, so the simulated bench runs the lab's own driver classes.

The NI-DAQ photon counter, galvo scanner and pump modulator and the Swabian Time Tagger have no
wire protocol: their drivers call a vendor SDK (`nidaqmx`, Swabian's `TimeTagger`). This
package provides those SDKs, as far as the drivers use them, on top of the twins in
`sim_devices.instruments` — the twins keep the physics and the fault state, the simulated SDK
only turns the SDK calls into twin calls and the twin's faults into the SDK's errors. A driver
takes the simulated SDK by injection (`sdk=`) and is otherwise exactly what runs in the lab.

How the bench uses it (one place): build the twin as today (`build_twin`: placed in the world,
faults scheduled), then, instead of handing out the twin, call

    open_simulated(driver_name, twin, *args, **kwargs) -> the real driver object

with the same arguments the real path passes to the driver class (e.g. for "nidaq_galvo":
`open_simulated("nidaq_galvo", twin, "Dev1", calibration=cal, x_channel="ao0", ...)`).
The simulated card is wired as those arguments say (the detector on the terminal the driver
counts, the galvos on its AO channels, the modulation input on its output terminal), i.e. the
simulated lab is cabled as the config describes. `SIMULATED_DRIVERS` maps each driver name to
its factory; each factory has the driver constructor's signature with the twin first:

* `nidaq_counter(twin: SimPhotonCounter, counter="Dev1/ctr0", *, input_terminal="PFI8",
  gate_counter="Dev1/ctr1") -> drivers.counters.nidaq.NIDAQPhotonCounter`
* `nidaq_galvo(twin: SimGalvoScanner, device="Dev1", *, calibration, x_channel="ao0",
  y_channel="ao1", counter="ctr0", photon_terminal="PFI8", park_rate_Hz=...)
  -> drivers.scanning.nidaq_galvo.NIDAQGalvoScanner`
* `nidaq_modulator(twin: SimPumpModulator, counter="Dev1/ctr2", *, output_terminal=None,
  min_period_s=..., max_period_s=...) -> drivers.modulation.NIDAQPumpModulator`
* `swabian_time_tagger(twin: SimTimeTagger, serial="", *, timeout_margin_s=10.0)
  -> drivers.timetagging.swabian.SwabianTimeTagger`

Faults keep working through the twin (`twin.inject`, `twin.schedule_fault`, the fault control
of `avlab sim serve`); the driver then sees them as the SDK reports them (a DaqError with its
DAQmx code, a Time Tagger RuntimeError or unfinished measurement) and translates them as it
would in the lab.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .nidaqmx import SimDaqCard, SimulatedNIDAQmx
from .timetagger import SimulatedTimeTaggerSDK


def _device(channel: str, default: str = "Dev1") -> str:
    """'Dev1/ctr0' → 'Dev1'."""
    return channel.split("/")[0] if "/" in channel else default


def nidaq_counter(twin: Any, counter: str = "Dev1/ctr0", *, input_terminal: str = "PFI8",
                  gate_counter: str = "Dev1/ctr1") -> Any:
    """The real `NIDAQPhotonCounter` over a simulated card whose `input_terminal` carries the
    detector pulses of `twin` (a `SimPhotonCounter`)."""
    from drivers.counters.nidaq import NIDAQPhotonCounter

    card = SimDaqCard(twin.world.clock, _device(counter))
    card.wire_photon_counter(input_terminal, twin)
    return NIDAQPhotonCounter(counter, input_terminal=input_terminal, gate_counter=gate_counter,
                              sdk=SimulatedNIDAQmx(card))


def nidaq_galvo(twin: Any, device: str = "Dev1", *, calibration: Any, x_channel: str = "ao0",
                y_channel: str = "ao1", counter: str = "ctr0", photon_terminal: str = "PFI8",
                **kwargs: Any) -> Any:
    """The real `NIDAQGalvoScanner` over a simulated card whose AO `x_channel`/`y_channel`
    drive the galvos of `twin` (a `SimGalvoScanner`) and whose `photon_terminal` carries its
    detector pulses. `kwargs`: the driver's other options (`park_rate_Hz`)."""
    from drivers.scanning.nidaq_galvo import NIDAQGalvoScanner

    card = SimDaqCard(twin.world.clock, device)
    card.wire_galvo(x_channel, y_channel, photon_terminal, twin)
    return NIDAQGalvoScanner(device, calibration=calibration, x_channel=x_channel,
                             y_channel=y_channel, counter=counter,
                             photon_terminal=photon_terminal, sdk=SimulatedNIDAQmx(card),
                             **kwargs)


def nidaq_modulator(twin: Any, counter: str = "Dev1/ctr2", *, output_terminal: str | None = None,
                    **kwargs: Any) -> Any:
    """The real `NIDAQPumpModulator` over a simulated card whose output pin (`output_terminal`,
    else the counter's own output) drives the modulation input of `twin`'s pump (a
    `SimPumpModulator`). `kwargs`: the driver's period limits."""
    from drivers.modulation import NIDAQPumpModulator

    device = _device(counter)
    card = SimDaqCard(twin.world.clock, device)
    pin = output_terminal or f"{counter.rpartition('/')[2].capitalize()}Out"
    card.wire_output(pin, twin)
    return NIDAQPumpModulator(counter, output_terminal=output_terminal,
                              sdk=SimulatedNIDAQmx(card), **kwargs)


def swabian_time_tagger(twin: Any, serial: str = "", **kwargs: Any) -> Any:
    """The real `SwabianTimeTagger` over a simulated TimeTagger module whose one device is
    `twin` (a `SimTimeTagger`; serial `serial`, or the simulated default when empty).
    `kwargs`: the driver's other options (`timeout_margin_s`)."""
    from drivers.timetagging.swabian import SwabianTimeTagger

    sdk = (SimulatedTimeTaggerSDK(twin, serial=serial) if serial
           else SimulatedTimeTaggerSDK(twin))
    return SwabianTimeTagger(serial, sdk=sdk, **kwargs)


#: Factory per driver name (the config's `driver`): (twin, driver arguments) → real driver.
SIMULATED_DRIVERS: dict[str, Callable[..., Any]] = {
    "nidaq_counter": nidaq_counter,
    "nidaq_galvo": nidaq_galvo,
    "nidaq_modulator": nidaq_modulator,
    "swabian_time_tagger": swabian_time_tagger,
}


def open_simulated(driver: str, twin: Any, *args: Any, **kwargs: Any) -> Any:
    """The real driver named `driver` over its simulated SDK on `twin` (see the module doc)."""
    try:
        factory = SIMULATED_DRIVERS[driver]
    except KeyError:
        raise ValueError(f"no simulated SDK for driver {driver!r}; known: "
                         f"{', '.join(sorted(SIMULATED_DRIVERS))}") from None
    return factory(twin, *args, **kwargs)


__all__ = ["SIMULATED_DRIVERS", "SimDaqCard", "SimulatedNIDAQmx", "SimulatedTimeTaggerSDK",
           "nidaq_counter", "nidaq_galvo", "nidaq_modulator", "open_simulated",
           "swabian_time_tagger"]
