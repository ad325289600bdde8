"""Ocean Insight spectrometer through python-seabreeze: driver
drivers/spectrometers/ocean_seabreeze.py, twin sim_devices/instruments/ocean.py (a simulated
seabreeze device under the real driver)."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import spectrometer_device
from avlab.roles import SPECTROMETER, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec

_CORRECTIONS = ("correct_dark_counts", "correct_nonlinearity")


def _open(ctx: OpenContext) -> Any:
    from drivers.spectrometers.ocean_seabreeze import open_ocean_spectrometer

    resource = ctx.inst.resource
    serial = None if resource.lower() == "first" else resource
    return open_ocean_spectrometer(serial, backend=ctx.options.get("backend", "cseabreeze"),
                                   **{k: ctx.options[k] for k in _CORRECTIONS
                                      if k in ctx.options})


def _open_simulated(ctx: OpenContext) -> Any:
    from drivers.spectrometers.ocean_seabreeze import OceanSpectrometer

    ctx.twin.open()  # a reopened link finds the twin open again
    return OceanSpectrometer(ctx.twin, **{k: ctx.options[k] for k in _CORRECTIONS
                                          if k in ctx.options})


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.ocean import SimOceanSpectrometer

    return SimOceanSpectrometer(world, throughput=inst.options.get("throughput", 0.2))


def _faults() -> dict[str, str]:
    from sim_devices.instruments.ocean import SimOceanSpectrometer

    return SimOceanSpectrometer.fault_names()


SPEC = DriverSpec(
    name="ocean_seabreeze", kinds=(SPECTROMETER,),
    description="Ocean Insight spectrometer through python-seabreeze (resource: serial number "
                "or 'first')",
    options={
        "backend": OptionSpec(str, "'cseabreeze' (default) or 'pyseabreeze'"),
        "correct_dark_counts": OptionSpec(bool, "subtract the optically dark pixels"),
        "correct_nonlinearity": OptionSpec(bool, "apply the stored nonlinearity correction"),
        "throughput": OptionSpec(float, "collection to spectrometer throughput (simulation "
                                        "only)", positive=True),
    },
    open=_open, device=spectrometer_device, resource=resources.serial_number,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=False, open=_open_simulated),
)
