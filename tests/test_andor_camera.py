"""Andor SDK2 camera driver (drivers/spectrometers/andor_camera.py) against a fake
`pylablib.devices.Andor` put into sys.modules: what is sent and in which order, limit checks
that send nothing, the temperature wait on a simulated clock, SDK error mapping, and a
SpectraPro twin + this camera giving a Spectrum."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest

from drivers.errors import (
    BackendNotInstalledError,
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentResponseError,
    InstrumentTimeoutError,
)
from drivers.spectrometers.andor_camera import (
    AndorCamera,
    TemperatureOutOfRangeError,
    import_andor,
    open_andor_camera,
)
from drivers.spectrometers.base import Camera, ExposureOutOfRangeError, Spectrum
from drivers.spectrometers.spectrapro import SpectraPro, SpectrographCamera
from sim_devices.instruments.spectrapro import SimSpectraPro
from sim_devices.transport import InProcessAdapter
from sim_devices.world import SimWorld

WIDTH, HEIGHT = 1024, 255


# --- fake pylablib.devices.Andor ------------------------------------------------------------------

class FakeAndorError(RuntimeError):
    pass


class FakeAndorTimeoutError(FakeAndorError):
    pass


class FakeAndorNotSupportedError(FakeAndorError):
    pass


class FakeSDK2LibError(FakeAndorError):
    """Like pylablib's AndorSDK2LibError: carries the SDK status name."""

    def __init__(self, func: str, name: str) -> None:
        super().__init__(f"function '{func}' raised error ({name})")
        self.func = func
        self.name = name


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def wait(self, seconds: float) -> None:
        assert seconds > 0
        self.t += seconds


class FakeLab:
    """Shared state of the fake SDK: the connected cameras and knobs for tests."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.serials = [4711]
        self.cameras: list[FakeSDK2Camera] = []
        self.open_error: BaseException | None = None
        self.fail: dict[str, BaseException] = {}  # method name -> exception raised by it
        self.min_exposure_s = 1e-5
        self.cooling_floor_C = -65.0  # the coldest the head can reach
        self.frame: np.ndarray | None = None


class FakeSDK2Camera:
    """The slice of pylablib's AndorSDK2Camera the driver uses, recording every call."""

    Error = FakeAndorError
    TimeoutError = FakeAndorTimeoutError

    def __init__(self, idx=0, ini_path="", temperature=None, fan_mode="off", amp_mode=None):
        lab = self.lab
        if lab.open_error is not None:
            raise lab.open_error
        if idx >= len(lab.serials):
            raise FakeAndorError(f"camera index {idx} is not available "
                                 f"({len(lab.serials)} cameras exist)")
        self.idx = idx
        self.calls: list[tuple] = [("open", idx, temperature, fan_mode)]
        self.closed = False
        self.read_mode = "image"
        self.shutter = "closed"
        self.exposure = 0.0
        self.cooler = temperature is None  # pylablib cools to a default when given None
        self.setpoint = -20.0
        self.temperature = 20.0
        self._updated_at = lab.clock.now()
        self._near_since: float | None = None
        lab.cameras.append(self)

    def _call(self, name: str, *args):
        self.calls.append((name, *args))
        if name in self.lab.fail:
            raise self.lab.fail[name]

    # info
    def get_device_info(self):
        self._call("get_device_info")
        return SimpleNamespace(controller_model="USB", head_model="DU401A-BV",
                               serial_number=self.lab.serials[self.idx])

    def get_detector_size(self):
        self._call("get_detector_size")
        return WIDTH, HEIGHT

    def get_pixel_size(self):
        self._call("get_pixel_size")
        return 26e-6, 26e-6

    def get_channel_bitdepth(self, channel=None):
        self._call("get_channel_bitdepth")
        return 16

    # read-out, exposure, shutter, acquisition
    def set_read_mode(self, mode):
        self._call("set_read_mode", mode)
        self.read_mode = mode
        return mode

    def set_exposure(self, exposure):
        self._call("set_exposure", exposure)
        self.exposure = max(exposure, self.lab.min_exposure_s)
        return self.get_exposure()

    def get_exposure(self):
        return self.exposure

    def setup_shutter(self, mode, ttl_mode=0, open_time=None, close_time=None):
        self._call("setup_shutter", mode)
        self.shutter = mode
        return (mode, ttl_mode, open_time, close_time)

    def snap(self, timeout=5.0, return_info=False):
        self._call("snap", timeout)
        if self.lab.frame is not None:
            return self.lab.frame
        assert self.read_mode == "fvb"
        light = self.shutter in ("open", "auto")
        row = 600 + (np.arange(WIDTH) % 50) * (20 if light else 0)
        return row.astype("<u2").reshape(1, WIDTH)

    # cooling (first-order approach to the setpoint, bounded by the cooling power)
    def _update(self) -> None:
        now = self.lab.clock.now()
        dt, self._updated_at = now - self._updated_at, now
        goal = max(self.setpoint, self.lab.cooling_floor_C) if self.cooler else 20.0
        step = 5.0 * dt  # °C per s
        self.temperature = (max(goal, self.temperature - step) if self.temperature > goal
                            else min(goal, self.temperature + step))
        near = self.cooler and abs(self.temperature - self.setpoint) < 1.0
        if not near:
            self._near_since = None
        elif self._near_since is None:
            self._near_since = now

    def get_temperature_range(self):
        self._call("get_temperature_range")
        return (-100, 20)

    def set_temperature(self, temperature, enable_cooler=True):
        self._call("set_temperature", temperature, enable_cooler)
        self._update()
        low, high = self.get_temperature_range()
        self.setpoint = int(min(max(temperature, low), high))  # pylablib clamps silently
        if enable_cooler:
            self.set_cooler(True)
        return self.setpoint

    def set_cooler(self, on=True):
        self._call("set_cooler", on)
        self._update()
        self.cooler = bool(on)
        return self.cooler

    def get_temperature(self):
        self._call("get_temperature")
        self._update()
        return self.temperature

    def get_temperature_status(self):
        self._call("get_temperature_status")
        self._update()
        if not self.cooler:
            return "off"
        if self._near_since is None:
            return "not_reached"
        return "stabilized" if self.lab.clock.now() - self._near_since >= 10.0 else \
            "not_stabilized"

    def close(self):
        self._call("close")
        self.closed = True

    # helpers for the tests
    def sent(self, *names: str) -> list[tuple]:
        """The calls with these method names, in order."""
        return [c for c in self.calls if c[0] in names]


@pytest.fixture
def lab(monkeypatch) -> FakeLab:
    """A fake `pylablib.devices.Andor` in sys.modules; returns its shared state."""
    state = FakeLab()
    camera_class = type("AndorSDK2Camera", (FakeSDK2Camera,), {"lab": state})
    andor = types.ModuleType("pylablib.devices.Andor")
    andor.AndorSDK2Camera = camera_class
    andor.get_cameras_number_SDK2 = lambda: len(state.serials)
    andor.AndorError = FakeAndorError
    andor.AndorTimeoutError = FakeAndorTimeoutError
    andor.AndorNotSupportedError = FakeAndorNotSupportedError
    devices = types.ModuleType("pylablib.devices")
    devices.Andor = andor
    package = types.ModuleType("pylablib")
    package.devices = devices
    monkeypatch.setitem(sys.modules, "pylablib", package)
    monkeypatch.setitem(sys.modules, "pylablib.devices", devices)
    monkeypatch.setitem(sys.modules, "pylablib.devices.Andor", andor)
    return state


def _open(lab: FakeLab, **kwargs) -> tuple[AndorCamera, FakeSDK2Camera]:
    camera = open_andor_camera(**kwargs)
    return camera, lab.cameras[-1]


# --- backend missing ------------------------------------------------------------------------------

def test_missing_pylablib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pylablib", None)  # makes the import fail
    with pytest.raises(BackendNotInstalledError) as info:
        import_andor()
    message = str(info.value)
    assert "pip install pylablib" in message and "Andor" in message and "SDK2" in message
    with pytest.raises(ImportError):  # BackendNotInstalledError is an ImportError
        open_andor_camera()


def test_missing_sdk_library_is_backend_not_installed(lab):
    lab.open_error = OSError("can't import module atmcd64d.dll or atmcd64d_legacy.dll")
    with pytest.raises(BackendNotInstalledError, match="Andor Solis"):
        open_andor_camera()


# --- opening --------------------------------------------------------------------------------------

def test_open_sets_full_vertical_binning_and_the_shutter_and_reads_the_geometry(lab):
    camera, device = _open(lab)
    assert device.calls[0] == ("open", 0, "off", "full")  # no target: cooler off, fan on
    assert device.sent("set_read_mode", "setup_shutter") == [("set_read_mode", "fvb"),
                                                              ("setup_shutter", "auto")]
    assert isinstance(camera, Camera)
    assert camera.pixels == WIDTH
    assert camera.pixel_pitch_um == pytest.approx(26.0)
    assert camera.max_counts == 65535
    assert camera.identity.startswith("Andor DU401A-BV, serial number 4711")


def test_open_by_serial_number_closes_the_cameras_it_is_not(lab):
    lab.serials = [1001, 2002, 3003]
    camera, device = _open(lab, serial="2002")
    assert (device.idx, camera.serial_number) == (1, "2002")
    assert lab.cameras[0].closed and not device.closed
    assert len(lab.cameras) == 2  # stopped looking once found


def test_unknown_serial_number_is_a_connection_error_and_leaves_nothing_open(lab):
    lab.serials = [1001, 2002]
    with pytest.raises(InstrumentConnectionError, match="1001, 2002"):
        open_andor_camera(serial="9999")
    assert all(c.closed for c in lab.cameras)


def test_index_and_serial_must_agree(lab):
    lab.serials = [1001, 2002]
    with pytest.raises(InstrumentConnectionError, match="2002"):
        open_andor_camera(0, serial=2002)
    assert lab.cameras[0].closed


def test_a_camera_index_that_does_not_exist_is_a_connection_error(lab):
    with pytest.raises(InstrumentConnectionError, match="not available"):
        open_andor_camera(3)


def test_a_camera_without_fvb_is_refused(lab, monkeypatch):
    monkeypatch.setattr(FakeSDK2Camera, "set_read_mode", lambda self, mode: None)
    with pytest.raises(InstrumentCommandError, match="full vertical binning"):
        open_andor_camera()
    assert lab.cameras[0].closed


# --- exposure and acquisition ---------------------------------------------------------------------

def test_exposure_then_snap_with_a_timeout_that_covers_the_exposure(lab):
    camera, device = _open(lab)
    start = len(device.calls)
    camera.set_exposure_s(2.5)
    line = camera.read_line()
    assert device.calls[start:] == [("set_exposure", 2.5), ("snap", 12.5)]
    assert line.shape == (WIDTH,) and line.dtype == float
    assert line[1] == 620.0
    assert camera.exposure_s == 2.5


def test_manual_shutter_opens_for_each_read_and_closes_after(lab):
    camera, device = _open(lab, shutter="manual")
    assert device.sent("setup_shutter") == [("setup_shutter", "closed")]
    start = len(device.calls)
    camera.set_exposure_s(0.1)
    camera.read_line()
    assert [c[:2] for c in device.calls[start:]] == [
        ("set_exposure", 0.1), ("setup_shutter", "open"), ("snap", 10.1),
        ("setup_shutter", "closed")]


def test_manual_shutter_is_closed_even_when_the_read_fails(lab):
    camera, device = _open(lab, shutter="manual")
    lab.fail["snap"] = FakeAndorTimeoutError("no frame in 10.1 s")
    with pytest.raises(InstrumentTimeoutError):
        camera.read_line()
    assert device.sent("setup_shutter")[-1] == ("setup_shutter", "closed")


def test_dark_line_keeps_the_shutter_closed(lab):
    camera, device = _open(lab)
    start = len(device.calls)
    dark = camera.read_dark_line()
    assert [c[:2] for c in device.calls[start:]] == [
        ("setup_shutter", "closed"), ("snap", pytest.approx(10.0, abs=1e-3)),
        ("setup_shutter", "auto")]
    assert np.all(dark == 600.0)


def test_without_a_shutter_none_is_ever_commanded(lab):
    camera, device = _open(lab, shutter="none")
    camera.read_line()
    camera.close()
    assert device.sent("setup_shutter") == []
    with pytest.raises(InstrumentCommandError, match="shutter"):
        camera.read_dark_line()


@pytest.mark.parametrize("bad", [1e-4, 601.0, 0.0, -1.0, float("nan"), "1", True])
def test_an_exposure_outside_the_limits_is_rejected_and_nothing_is_sent(lab, bad):
    camera, device = _open(lab)
    before = list(device.calls)
    with pytest.raises(ExposureOutOfRangeError):
        camera.set_exposure_s(bad)
    assert device.calls == before


def test_configured_limits_apply(lab):
    camera, device = _open(lab, exposure_limits_s=(0.01, 30.0))
    assert camera.exposure_limits_s == (0.01, 30.0)
    with pytest.raises(ExposureOutOfRangeError):
        camera.set_exposure_s(31.0)
    assert device.sent("set_exposure") == []


def test_an_exposure_the_camera_changed_is_an_error(lab):
    lab.min_exposure_s = 0.02  # e.g. the shutter's transfer time
    camera, _ = _open(lab)
    with pytest.raises(InstrumentCommandError, match="0.02 s"):
        camera.set_exposure_s(0.005)


def test_a_frame_that_is_not_one_row_is_an_unreadable_response(lab):
    camera, _ = _open(lab)
    lab.frame = np.zeros((HEIGHT, WIDTH), dtype="<u2")  # full image: read mode changed elsewhere
    with pytest.raises(InstrumentResponseError, match="FVB"):
        camera.read_line()
    lab.frame = np.zeros((WIDTH, 1), dtype="<u2")  # column-major indexing is still one line
    assert camera.read_line().shape == (WIDTH,)


def test_saturation_can_be_set_below_the_adc_full_scale(lab):
    camera, _ = _open(lab, saturation_counts=50000)
    assert camera.max_counts == 50000


def test_close_closes_the_manual_shutter_then_the_camera(lab):
    camera, device = _open(lab, shutter="manual")
    camera.close()
    assert [c[:2] for c in device.calls[-2:]] == [("setup_shutter", "closed"), ("close",)]


# --- SDK errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "error", "expected"), [
    ("snap", FakeAndorTimeoutError("frame timeout"), InstrumentTimeoutError),
    ("snap", FakeSDK2LibError("GetImages16", "DRV_ERROR_ACK"), InstrumentConnectionError),
    ("snap", OSError("USB transfer failed"), InstrumentConnectionError),
    ("snap", FakeSDK2LibError("StartAcquisition", "DRV_ACQUIRING"), InstrumentConnectionError),
    ("set_exposure", FakeSDK2LibError("SetExposureTime", "DRV_P1INVALID"),
     InstrumentCommandError),
    ("set_exposure", FakeSDK2LibError("SetExposureTime", "DRV_NOT_INITIALIZED"),
     InstrumentConnectionError),
])
def test_sdk_errors_become_instrument_errors(lab, method, error, expected):
    camera, _ = _open(lab)
    lab.fail[method] = error
    with pytest.raises(expected) as info:
        camera.set_exposure_s(0.1)
        camera.read_line()
    assert info.value.__cause__ is error


def test_a_shutter_the_camera_does_not_have_is_a_command_error(lab):
    lab.fail["setup_shutter"] = FakeAndorNotSupportedError("option feat.8 is not supported")
    with pytest.raises(InstrumentCommandError, match="does not support"):
        open_andor_camera()
    assert lab.cameras[0].closed


def test_other_exceptions_pass_through_untouched(lab):
    camera, _ = _open(lab)
    lab.fail["snap"] = KeyError("bug")
    with pytest.raises(KeyError):
        camera.read_line()


# --- cooling --------------------------------------------------------------------------------------

def test_cooling_target_at_open_is_checked_then_sent_with_the_cooler_on(lab):
    _, device = _open(lab, cooling_target_C=-60)
    assert device.calls[0] == ("open", 0, -60, "full")  # numeric: pylablib leaves the cooler
    assert device.sent("set_temperature", "set_cooler") == [("set_temperature", -60, True),
                                                             ("set_cooler", True)]


@pytest.mark.parametrize("bad", [-150, 25, -70.5, float("nan"), "cold", None])
def test_a_cooling_target_the_camera_cannot_take_is_rejected_before_sending(lab, bad):
    camera, device = _open(lab)
    with pytest.raises(TemperatureOutOfRangeError):
        camera.start_cooling(bad)
    assert device.sent("set_temperature", "set_cooler") == []


def test_a_cooling_target_out_of_range_at_open_leaves_nothing_open(lab):
    with pytest.raises(TemperatureOutOfRangeError):
        open_andor_camera(cooling_target_C=-120)
    assert lab.cameras[0].closed and lab.cameras[0].sent("set_temperature") == []


def test_wait_for_temperature_polls_on_the_injected_clock_until_stabilized(lab):
    camera, device = _open(lab)
    clock = lab.clock
    temperature = camera.wait_for_temperature(-50, 600.0, wait=clock.wait, now=clock.now)
    assert temperature == pytest.approx(-50, abs=1.0)
    assert camera.temperature_status == "stabilized"
    # 70 °C at 5 °C/s, then 10 s to stabilize; polled every 2 s
    assert 24.0 <= clock.t <= 30.0
    assert device.sent("set_temperature")[0] == ("set_temperature", -50, True)


def test_wait_for_temperature_uses_the_clock_given_at_construction(lab):
    camera, _ = _open(lab, wait=lab.clock.wait, now=lab.clock.now, poll_s=5.0)
    camera.wait_for_temperature(-30, 600.0, accept=("not_stabilized", "stabilized"))
    assert 10.0 <= lab.clock.t <= 15.0


def test_an_unreachable_temperature_times_out_on_the_simulated_clock(lab):
    camera, device = _open(lab)
    with pytest.raises(InstrumentTimeoutError, match="-80") as info:
        camera.wait_for_temperature(-80, 120.0, wait=lab.clock.wait, now=lab.clock.now)
    assert lab.clock.t == pytest.approx(120.0)
    assert "-65.0 °C" in str(info.value)
    assert device.cooler  # left on


def test_without_a_clock_the_waits_are_counted(lab):
    camera, _ = _open(lab)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        lab.clock.wait(seconds)

    with pytest.raises(InstrumentTimeoutError):
        camera.wait_for_temperature(-80, 30.0, wait=wait)
    assert sum(waits) == pytest.approx(30.0)


def test_a_cooler_switched_off_while_waiting_is_a_command_error(lab):
    camera, device = _open(lab)

    def wait(seconds: float) -> None:
        lab.clock.wait(seconds)
        device.cooler = False  # someone switched it off

    with pytest.raises(InstrumentCommandError, match="cooler is off"):
        camera.wait_for_temperature(-50, 600.0, wait=wait, now=lab.clock.now)


def test_warm_up_switches_the_cooler_off_and_waits_above_the_threshold(lab):
    camera, device = _open(lab)
    camera.wait_for_temperature(-60, 600.0, wait=lab.clock.wait, now=lab.clock.now)
    temperature = camera.warm_up(-20, 600.0, wait=lab.clock.wait, now=lab.clock.now)
    assert temperature >= -20 and not device.cooler
    assert camera.temperature_status == "off"


# --- with the SpectraPro twin ---------------------------------------------------------------------

def test_spectrapro_twin_with_the_andor_camera_gives_a_spectrum(lab):
    world = SimWorld(seed=1)
    spectrograph = SpectraPro(InProcessAdapter(SimSpectraPro(world.clock)))
    camera, device = _open(lab)
    spectrometer = SpectrographCamera(spectrograph, camera)
    spectrum = spectrometer.acquire(0.5)
    assert isinstance(spectrum, Spectrum)
    assert spectrum.counts.shape == spectrum.wavelengths_nm.shape == (WIDTH,)
    assert np.all(np.diff(spectrum.wavelengths_nm) > 0)
    centre = spectrograph.center_wavelength_nm
    assert spectrum.wavelengths_nm[0] < centre < spectrum.wavelengths_nm[-1]
    assert spectrum.exposure_s == 0.5 and not spectrum.saturated
    assert device.sent("set_exposure", "snap") == [("set_exposure", 0.5), ("snap", 10.5)]
    assert "Andor DU401A-BV" in spectrometer.identity

    lab.frame = np.full((1, WIDTH), 600, dtype="<u2")
    lab.frame[0, 100] = 65535
    assert spectrometer.acquire(0.5).saturated

    with pytest.raises(ExposureOutOfRangeError):
        spectrometer.acquire(1e4)
    spectrometer.close()
    assert device.closed
