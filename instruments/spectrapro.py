"""Acton SpectraPro spectrograph with an Andor camera: drivers
drivers/spectrometers/spectrapro.py + andor_camera.py, twin
sim_devices/instruments/spectrapro.py (the spectrograph is message-based, the camera SDK-level)."""

from __future__ import annotations

from typing import Any

from avlab import resources
from avlab.devices import spectrometer_device
from avlab.roles import SPECTROMETER, OptionSpec
from avlab.specs import DriverSpec, OpenContext, TwinSpec


def _camera_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    return {"focal_length_mm": opts["focal_length_mm"]} if "focal_length_mm" in opts else {}


def _open_simulated(ctx: OpenContext) -> Any:
    from drivers.spectrometers.spectrapro import SpectraPro, SpectrographCamera

    return SpectrographCamera(SpectraPro(ctx.link), ctx.twin.camera,
                              **_camera_kwargs(ctx.options))


def _open(ctx: OpenContext) -> Any:
    from drivers.spectrometers.andor_camera import open_andor_camera
    from drivers.spectrometers.spectrapro import SpectraPro, SpectrographCamera

    opts, wait = ctx.options, ctx.wait
    camera = open_andor_camera(opts.get("camera_index"), serial=opts.get("camera_serial"),
                               cooling_target_C=opts.get("cooling_target_C"),
                               shutter=opts.get("camera_shutter", "auto"), wait=wait)
    try:
        if "cooling_target_C" in opts:
            camera.wait_for_temperature(opts["cooling_target_C"],
                                        opts.get("cooling_timeout_s", 900.0), wait=wait)
        return SpectrographCamera(SpectraPro(ctx.inst.resource), camera,
                                  **_camera_kwargs(opts))
    except BaseException:
        camera.close()  # an unclosed Andor handle can block the camera until a reboot
        raise


def _prepare(inst: Any, driver: Any) -> None:
    if "grating" in inst.options:
        driver.spectrograph.select_grating(inst.options["grating"])
    if "center_wavelength_nm" in inst.options:
        driver.spectrograph.goto_nm(inst.options["center_wavelength_nm"])


def _twin(inst: Any, world: Any) -> Any:
    from sim_devices.instruments.spectrapro import spectrograph_with_camera

    return spectrograph_with_camera(
        world, camera_throughput=inst.options.get("camera_throughput", 0.4))


def _faults() -> dict[str, str]:
    from sim_devices.instruments.spectrapro import SimSpectraPro

    return SimSpectraPro.fault_names()


SPEC = DriverSpec(
    name="spectrapro", kinds=(SPECTROMETER,),
    description="Princeton Instruments / Acton SpectraPro spectrograph (serial 9600 8N1) with "
                "a camera",
    options={
        "grating": OptionSpec(int, "grating selected at connect (1-9)", positive=True),
        "center_wavelength_nm": OptionSpec(float, "centre wavelength set at connect",
                                           positive=True),
        "focal_length_mm": OptionSpec(float, "focal length (default: from the model)",
                                      positive=True),
        "camera_index": OptionSpec(int, "Andor camera index (default: the first)"),
        "camera_serial": OptionSpec(str, "Andor camera serial number"),
        "cooling_target_C": OptionSpec(float, "CCD temperature to cool to and wait for at "
                                              "connect (whole degrees)"),
        "cooling_timeout_s": OptionSpec(float, "longest wait for the CCD temperature",
                                        positive=True),
        "camera_shutter": OptionSpec(str, "'auto', 'manual' or 'none'"),
        "camera_throughput": OptionSpec(float, "collection to camera throughput (simulation "
                                               "only)", positive=True),
    },
    open=_open, prepare=_prepare, device=spectrometer_device, resource=resources.visa,
    twin=TwinSpec(build=_twin, fault_names=_faults, served=True, open=_open_simulated),
)
