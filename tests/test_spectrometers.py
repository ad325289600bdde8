"""Spectrometers: SpectraPro exchanges (docs/protocols.md §6b), the Ocean driver on a fake
python-seabreeze (§6a), and spectra of the simulated sample (docs/physics.md §4) through both.

`expected_protocol` pins the SpectraPro's bytes without terminations; its replies carry the
` ok` (and the inner CR LFs of multi-line replies) as the instrument sends them.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import math
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
from pymeasure.test import expected_protocol
from scipy.optimize import curve_fit

from drivers.errors import (
    BackendNotInstalledError,
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentResponseError,
    InstrumentTimeoutError,
)
from drivers.lasers.ipg_ylr import IPGYLR
from drivers.spectrometers import (
    Camera,
    ExposureOutOfRangeError,
    Spectrometer,
    Spectrum,
    WavelengthOutOfRangeError,
)
from drivers.spectrometers.ocean_seabreeze import (
    OceanSpectrometer,
    SeaBreezeBackendConflictError,
    import_seabreeze,
)
from drivers.spectrometers.spectrapro import (
    SpectraPro,
    SpectrographCamera,
    SpectrographMoveError,
    focal_length_from_model,
    linear_dispersion_nm_per_mm,
    parse_gratings,
)
from sim_devices.clock import VirtualClock
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.ocean import SeaBreezeError as SimSeaBreezeError
from sim_devices.instruments.ocean import SimOceanSpectrometer
from sim_devices.instruments.spectrapro import SimCamera, SimSpectraPro, spectrograph_with_camera
from sim_devices.instruments.spectrometer import DetectorModel, SpectralRenderer, sample_lines
from sim_devices.server import InstrumentServer
from sim_devices.transport import InProcessAdapter
from sim_devices.world import SimWorld

OK = " ok"
GRATINGS = ("\r\n\x1a1   150 g/mm BLZ=  800NM \r\n 2   300 g/mm BLZ=  500NM \r\n"
            " 3  1200 g/mm BLZ=  1.6UM \r\n 4  Not Installed     \r\n ok")
CONNECT = [("no-echo", OK)]


# --- SpectraPro: exact exchanges ----------------------------------------------------------------

def test_connect_switches_the_echo_off():
    with expected_protocol(SpectraPro, CONNECT):
        pass


def test_connect_accepts_the_echo_of_no_echo_itself():
    with expected_protocol(SpectraPro, [("no-echo", "no-echo ok")]):
        pass


def test_connect_tolerates_a_unit_without_no_echo():
    with expected_protocol(SpectraPro, [("no-echo", " no-echo? ")]):
        pass


def test_centre_wavelength_is_read_with_query_nm():
    with expected_protocol(SpectraPro, CONNECT + [("?nm", " 800.000 nm ok")]) as sp:
        assert sp.center_wavelength_nm == 800.0


def test_centre_wavelength_reply_without_unit_is_read_too():
    with expected_protocol(SpectraPro, CONNECT + [("?nm", "  512.25  ok")]) as sp:
        assert sp.center_wavelength_nm == 512.25


def test_an_echo_in_front_of_a_reply_is_stripped():
    with expected_protocol(SpectraPro, CONNECT + [("?nm", "?nm 800.000 nm ok")]) as sp:
        assert sp.center_wavelength_nm == 800.0


def test_model_serial_and_identity():
    pairs = CONNECT + [("model", " SP-2-300i  ok"), ("serial", " 23001234 ok")]
    with expected_protocol(SpectraPro, pairs) as sp:
        assert sp.identity == "Acton SP-2-300i, serial number 23001234"


def test_gratings_are_listed_with_the_current_one_marked():
    with expected_protocol(SpectraPro, CONNECT + [("?gratings", GRATINGS)]) as sp:
        gratings, current = sp.read_gratings()
    assert current == 1
    assert sorted(gratings) == [1, 2, 3]  # position 4 is not installed
    assert gratings[2].grooves_per_mm == 300.0 and gratings[2].blaze_nm == 500.0
    assert gratings[3].blaze_nm == 1600.0  # "1.6UM"


def test_grating_list_without_any_grating_is_an_unreadable_reply():
    with pytest.raises(InstrumentResponseError):
        parse_gratings("\r\n 1  Not Installed \r\n")


def test_goto_checks_the_grating_range_then_moves_and_reads_back():
    pairs = CONNECT + [("?grating", " 1 ok"), ("?gratings", GRATINGS),
                       ("632.800 goto", OK), ("?nm", " 632.800 nm ok")]
    with expected_protocol(SpectraPro, pairs) as sp:
        sp.center_wavelength_nm = 632.8


def test_goto_beyond_the_grating_range_is_rejected_before_sending():
    # 1200 g/mm reaches 1400 nm; the instrument would clamp 1500 silently.
    pairs = CONNECT + [("?grating", " 3 ok"), ("?gratings", GRATINGS)]
    with expected_protocol(SpectraPro, pairs) as sp:
        with pytest.raises(WavelengthOutOfRangeError, match="1500"):
            sp.goto_nm(1500.0)


@pytest.mark.parametrize("bad", [-5.0, math.nan, math.inf, "800"])
def test_goto_to_a_non_wavelength_is_rejected_without_a_word_on_the_wire(bad):
    with expected_protocol(SpectraPro, CONNECT) as sp:
        with pytest.raises(WavelengthOutOfRangeError):
            sp.goto_nm(bad)


def test_lab_wavelength_limits_narrow_the_grating_range():
    pairs = CONNECT + [("?grating", " 1 ok"), ("?gratings", GRATINGS)]
    with expected_protocol(SpectraPro, pairs, wavelength_limits_nm=(400.0, 1000.0)) as sp:
        with pytest.raises(WavelengthOutOfRangeError):
            sp.goto_nm(1200.0)


def test_a_goto_that_ends_elsewhere_raises_move_error():
    pairs = CONNECT + [("?grating", " 1 ok"), ("?gratings", GRATINGS),
                       ("900.000 goto", OK), ("?nm", " 400.000 nm ok")]
    with expected_protocol(SpectraPro, pairs) as sp:
        with pytest.raises(SpectrographMoveError):
            sp.goto_nm(900.0)


def test_selecting_a_grating_turns_the_turret_and_reads_back():
    pairs = CONNECT + [("?gratings", GRATINGS), ("?grating", " 1 ok"),
                       ("?nm", " 800.000 nm ok"), ("2 grating", OK), ("?grating", " 2 ok")]
    with expected_protocol(SpectraPro, pairs) as sp:
        sp.grating = 2


def test_selecting_a_grating_that_is_not_installed_is_rejected_before_sending():
    with expected_protocol(SpectraPro, CONNECT + [("?gratings", GRATINGS)]) as sp:
        with pytest.raises(ValueError, match="not installed"):
            sp.select_grating(4)


def test_a_turret_that_does_not_turn_raises_move_error():
    pairs = CONNECT + [("?gratings", GRATINGS), ("?grating", " 1 ok"),
                       ("?nm", " 800.000 nm ok"), ("2 grating", OK), ("?grating", " 1 ok")]
    with expected_protocol(SpectraPro, pairs) as sp:
        with pytest.raises(SpectrographMoveError, match="stuck"):
            sp.select_grating(2)


def test_a_grating_that_cannot_reach_the_present_wavelength_is_refused():
    pairs = CONNECT + [("?gratings", GRATINGS), ("?grating", " 1 ok"),
                       ("?nm", " 2000.000 nm ok")]
    with expected_protocol(SpectraPro, pairs) as sp:
        with pytest.raises(WavelengthOutOfRangeError, match="move the wavelength first"):
            sp.select_grating(3)


def test_an_unknown_command_reply_raises_command_error():
    with expected_protocol(SpectraPro, CONNECT + [("serial", " serial? ")]) as sp:
        with pytest.raises(InstrumentCommandError, match="did not understand"):
            sp.serial_number


def test_line_noise_raises_response_error():
    with expected_protocol(SpectraPro, CONNECT + [("?nm", "\x15\xf0~ 80")]) as sp:
        with pytest.raises(InstrumentResponseError):
            sp.center_wavelength_nm


# --- spectrograph geometry ----------------------------------------------------------------------

def test_focal_length_is_read_from_the_model_name():
    assert focal_length_from_model("SP-2-300i") == 300.0
    assert focal_length_from_model("SP-2150i") == 150.0
    assert focal_length_from_model("mystery") is None


def test_linear_dispersion_is_groove_spacing_over_focal_length_near_zero_order():
    # d = 1e6/1200 nm, cos β → 1 at λ → 0 with γ = 0: dλ/dx = d/f.
    assert linear_dispersion_nm_per_mm(1e-6, 1200, 300) == pytest.approx(833.33 / 300, rel=1e-4)


def test_linear_dispersion_includes_the_diffraction_angle():
    # 150 g/mm, 800 nm, f = 300 mm, γ = 15.15°: β = asin(0.06/cos γ/2) − γ/2.
    half = math.radians(15.15) / 2
    beta = math.asin(800 / (2 * 6666.67 * math.cos(half))) - half
    expected = 6666.67 * math.cos(beta) / 300
    assert linear_dispersion_nm_per_mm(800, 150, 300, 15.15) == pytest.approx(expected, rel=1e-5)


def test_driver_axis_matches_the_exact_grating_equation_at_the_centre_and_within_a_nm():
    world = SimWorld(seed=1)
    twin = SimSpectraPro(world.clock)
    camera = SimCamera(world, twin)
    axis = SpectrographCamera(SpectraPro(InProcessAdapter(twin)), camera).wavelengths_nm()
    edges = twin.pixel_edges_nm(camera.pixels, camera.pixel_pitch_um)
    exact = 0.5 * (edges[1:] + edges[:-1])
    assert abs(axis[511] + axis[512] - exact[511] - exact[512]) / 2 < 0.01
    assert np.max(np.abs(axis - exact)) < 2.0


# --- fake python-seabreeze ----------------------------------------------------------------------

class _FakeSeaBreeze(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A `seabreeze` package whose `spectrometers` module is built when imported, recording
    which backend `seabreeze.use` selected by then; its devices are simulated twins."""

    def __init__(self) -> None:
        self.use_calls: list[str] = []
        self.backend_at_import: str | None = None
        self.backend_missing = False
        self.devices: dict[str, SimOceanSpectrometer] = {}

    def package(self) -> types.ModuleType:
        pkg = types.ModuleType("seabreeze")
        pkg.__path__ = []

        def use(backend: str, force: bool = True) -> None:
            if backend not in ("cseabreeze", "pyseabreeze"):
                raise ValueError(backend)
            self.use_calls.append(backend)

        pkg.use = use
        return pkg

    def find_spec(self, name, path, target=None):
        if name == "seabreeze.spectrometers":
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        backend = self.use_calls[-1] if self.use_calls else "cseabreeze"
        if self.backend_missing:
            raise ImportError(f"Could not import backend. Requested: {backend}")
        self.backend_at_import = backend
        devices = self.devices

        class Spectrometer:
            @classmethod
            def from_serial_number(cls, serial=None):
                if serial not in devices:
                    raise SimSeaBreezeError(f"No device attached with serial number '{serial}'.")
                return devices[serial]

            @classmethod
            def from_first_available(cls):
                if not devices:
                    raise SimSeaBreezeError("No unopened device found.")
                return next(iter(devices.values()))

        module.Spectrometer = Spectrometer
        module.SeaBreezeError = SimSeaBreezeError
        module._lib = types.ModuleType(f"seabreeze.{backend}")


@pytest.fixture
def fake_seabreeze(monkeypatch):
    fake = _FakeSeaBreeze()
    monkeypatch.setitem(sys.modules, "seabreeze", fake.package())
    monkeypatch.delitem(sys.modules, "seabreeze.spectrometers", raising=False)
    monkeypatch.setattr(sys, "meta_path", [fake, *sys.meta_path])
    yield fake
    sys.modules.pop("seabreeze.spectrometers", None)


def test_missing_seabreeze_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "seabreeze", None)  # makes `import seabreeze` fail
    with pytest.raises(BackendNotInstalledError, match="pip install seabreeze"):
        OceanSpectrometer.from_first_available()


@pytest.mark.parametrize("backend", ["cseabreeze", "pyseabreeze"])
def test_backend_is_selected_before_the_spectrometers_module_is_imported(fake_seabreeze, backend):
    fake_seabreeze.devices["S1"] = SimOceanSpectrometer(SimWorld(seed=1), serial_number="S1")
    ocean = OceanSpectrometer.from_serial_number("S1", backend=backend)
    assert fake_seabreeze.backend_at_import == backend
    assert ocean.identity == "Ocean Insight USB2000PLUS, serial number S1"


def test_a_backend_that_cannot_load_is_backend_not_installed(fake_seabreeze):
    fake_seabreeze.backend_missing = True
    with pytest.raises(BackendNotInstalledError, match="pyseabreeze"):
        OceanSpectrometer.from_first_available(backend="pyseabreeze")


def test_the_other_backend_cannot_be_loaded_into_the_same_process(fake_seabreeze):
    import_seabreeze("cseabreeze")
    with pytest.raises(SeaBreezeBackendConflictError):
        import_seabreeze("pyseabreeze")


def test_unknown_serial_number_is_a_connection_error(fake_seabreeze):
    with pytest.raises(InstrumentConnectionError, match="XYZ"):
        OceanSpectrometer.from_serial_number("XYZ")


# --- Ocean driver on its twin ---------------------------------------------------------------------

def _lit_world(power_W: float = 0.5, seed: int = 3) -> tuple[SimWorld, IPGYLR]:
    """A world with one Tm particle under a 1064 nm YLR that is on and past its start-up."""
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=seed)
    twin = SimIPGYLR(clock)
    world.attach_source("pump_1064", twin)
    laser = IPGYLR(InProcessAdapter(twin))
    laser.power_setpoint_W = power_W
    laser.enable_emission()
    clock.sleep(twin.startup_s + 0.1)
    return world, laser


@pytest.fixture
def ocean():
    world, laser = _lit_world()
    twin = SimOceanSpectrometer(world)
    return SimpleNamespace(world=world, laser=laser, twin=twin, driver=OceanSpectrometer(twin))


def test_ocean_and_spectrograph_are_spectrometers(ocean):
    assert isinstance(ocean.driver, Spectrometer)
    twin = SimSpectraPro()
    camera = SimCamera(ocean.world, twin)
    assert isinstance(camera, Camera)
    assert isinstance(SpectrographCamera(SpectraPro(InProcessAdapter(twin)), camera), Spectrometer)


def test_ocean_exposure_limits_come_from_the_sdk(ocean):
    assert ocean.driver.exposure_limits_s == (1e-3, 655.35)


@pytest.mark.parametrize("exposure_s", [1e-4, 700.0, -1.0, math.nan])
def test_ocean_out_of_range_exposure_is_rejected_before_sending(ocean, exposure_s):
    with pytest.raises(ExposureOutOfRangeError):
        ocean.driver.acquire(exposure_s)
    assert ocean.twin.integration_times_sent == []
    assert ocean.twin.spectra_read == 0


def test_ocean_drops_the_first_spectrum_after_the_integration_time_changes(ocean):
    ocean.driver.acquire(0.5)
    assert ocean.twin.integration_times_sent == [500_000]
    assert ocean.twin.spectra_read == 2  # the stale one, then the real one
    ocean.driver.acquire(0.5)
    assert ocean.twin.spectra_read == 3
    assert ocean.twin.integration_times_sent == [500_000]


def test_ocean_sees_the_tm_800_nm_line_at_800_nm(ocean):
    spectrum = ocean.driver.acquire(20.0)
    centre, fwhm = _fit_line(spectrum, 800.0, 50.0)
    assert centre == pytest.approx(800.0, abs=0.5)
    expected = math.hypot(_physics_fwhm(ocean.world, "Tm 800"), ocean.twin.resolution_nm)
    assert fwhm == pytest.approx(expected, rel=0.15)
    assert not spectrum.saturated


def test_ocean_dark_count_correction_removes_the_offset(ocean):
    ocean.driver.correct_dark_counts = True
    spectrum = ocean.driver.acquire(1.0)
    assert abs(np.median(spectrum.counts[spectrum.window(880, 940)])) < 30


def test_ocean_flags_a_flooded_detector_as_saturated(ocean):
    ocean.twin.inject("saturate")
    spectrum = ocean.driver.acquire(0.01)
    assert spectrum.saturated
    assert spectrum.counts.max() == ocean.twin.max_intensity


def test_ocean_usb_loss_is_a_connection_error(ocean):
    ocean.twin.inject("drop_connection")
    with pytest.raises(InstrumentConnectionError):
        ocean.driver.acquire(0.1)


def test_ocean_hang_is_a_timeout(ocean):
    ocean.driver.acquire(0.1)
    ocean.twin.inject("stop_answering")
    with pytest.raises(InstrumentTimeoutError):
        ocean.driver.acquire(0.1)


def test_an_sdk_refusal_of_the_integration_time_is_a_command_error(ocean):
    driver = OceanSpectrometer(ocean.twin, sdk_errors=(SimSeaBreezeError,))
    driver.integration_time_limits_us = (1, 10**9)  # pretend the SDK's limits were wider
    with pytest.raises(InstrumentCommandError, match="integration time"):
        driver.acquire(700.0)


def test_ocean_faults_can_be_scheduled_on_the_bench_clock(ocean):
    ocean.twin.schedule_fault("drop_connection", ocean.world.clock.now() + 0.5, ocean.world.clock)
    ocean.driver.acquire(0.4)  # two reads (the first dropped), starting at 0 and 0.4 s
    with pytest.raises(InstrumentConnectionError):
        ocean.driver.acquire(0.4)


# --- spectrograph + camera on the simulated sample -----------------------------------------------

@pytest.fixture
def spectrograph():
    world, laser = _lit_world()
    twin = spectrograph_with_camera(world)
    driver = SpectraPro(InProcessAdapter(twin))
    return SimpleNamespace(world=world, laser=laser, twin=twin, camera=twin.camera, driver=driver,
                           spectrometer=SpectrographCamera(driver, twin.camera))


def _baseline(spectrum: Spectrum) -> float:
    return float(np.median(spectrum.counts[spectrum.window(870.0, 940.0)]))


def _line_counts(spectrum: Spectrum, centre_nm: float, half_width_nm: float,
                 baseline: float | None = None) -> float:
    baseline = _baseline(spectrum) if baseline is None else baseline
    window = spectrum.window(centre_nm - half_width_nm, centre_nm + half_width_nm)
    return float(np.sum(spectrum.counts[window] - baseline))


def _gaussian(x, base, area, centre, sigma):
    peak = area / (sigma * math.sqrt(2 * math.pi))
    return base + peak * np.exp(-0.5 * ((x - centre) / sigma) ** 2)


def _fit_line(spectrum: Spectrum, centre_nm: float, half_width_nm: float) -> tuple[float, float]:
    """(centre, FWHM) in nm of a Gaussian fitted around `centre_nm`."""
    window = spectrum.window(centre_nm - half_width_nm, centre_nm + half_width_nm)
    x, y = spectrum.wavelengths_nm[window], spectrum.counts[window]
    step = float(np.mean(np.diff(x)))
    guess = (float(np.median(y)), float(np.sum(y - np.median(y)) * step), centre_nm, 5.0)
    (_, _, centre, sigma), _ = curve_fit(_gaussian, x, y, p0=guess)
    return float(centre), 2 * math.sqrt(2 * math.log(2)) * abs(float(sigma))


def _physics_fwhm(world: SimWorld, line: str) -> float:
    lines = sample_lines(world)
    return float(lines.fwhm_nm[lines.names.index(line)])


def _physics_photons(world: SimWorld, line: str) -> float:
    lines = sample_lines(world)
    return float(lines.photons_per_s[lines.names.index(line)])


def test_spectrograph_sees_the_tm_800_nm_line_at_800_nm(spectrograph):
    spectrum = spectrograph.spectrometer.acquire(10.0)
    centre, fwhm = _fit_line(spectrum, 800.0, 50.0)
    assert centre == pytest.approx(800.0, abs=0.3)
    expected = math.hypot(_physics_fwhm(spectrograph.world, "Tm 800"),
                          spectrograph.twin.resolution_nm())
    assert fwhm == pytest.approx(expected, rel=0.1)


def test_the_line_stays_at_800_nm_when_the_centre_wavelength_moves(spectrograph):
    spectrograph.driver.goto_nm(760.0)
    spectrum = spectrograph.spectrometer.acquire(10.0)
    centre, _ = _fit_line(spectrum, 800.0, 50.0)
    assert centre == pytest.approx(800.0, abs=0.5)


def test_weaker_lines_appear_in_the_physics_ratio(spectrograph):
    """Tm 695 and 475 nm (docs/physics.md §4, weak) in proportion to the 800 nm line."""
    spectrograph.driver.goto_nm(640.0)
    spectrum = spectrograph.spectrometer.acquire(300.0)
    assert not spectrum.saturated
    baseline = float(np.median(spectrum.counts[spectrum.window(560.0, 600.0)]))
    main = _line_counts(spectrum, 800.0, 40.0, baseline)
    for line, centre, half in (("Tm 695", 695.0, 25.0), ("Tm 475", 475.0, 20.0)):
        measured = _line_counts(spectrum, centre, half, baseline) / main
        expected = (_physics_photons(spectrograph.world, line)
                    / _physics_photons(spectrograph.world, "Tm 800"))
        assert measured == pytest.approx(expected, rel=0.15), line


def test_800_nm_counts_follow_the_s_curve_between_two_pump_powers(spectrograph):
    world, table = spectrograph.world, spectrograph.world.sample.table
    counts, emission = [], []
    for power_W in (0.35, 0.6):
        spectrograph.laser.power_setpoint_W = power_W
        counts.append(_line_counts(spectrograph.spectrometer.acquire(10.0), 800.0, 40.0))
        emission.append(float(table.emission_per_ion(world.particle_intensities_kW_cm2()[0])))
    assert emission[1] / emission[0] > 1.5  # a real change along the S-curve
    assert counts[1] / counts[0] == pytest.approx(emission[1] / emission[0], rel=0.04)


def test_counts_are_proportional_to_the_exposure(spectrograph):
    short = _line_counts(spectrograph.spectrometer.acquire(5.0), 800.0, 40.0)
    long = _line_counts(spectrograph.spectrometer.acquire(20.0), 800.0, 40.0)
    assert long / short == pytest.approx(4.0, rel=0.03)


def test_exposures_pass_on_the_bench_clock(spectrograph):
    before = spectrograph.world.clock.now()
    spectrograph.spectrometer.acquire(7.0)
    assert spectrograph.world.clock.now() == pytest.approx(before + 7.0)


def test_dark_sample_shows_only_offset_and_noise(spectrograph):
    spectrograph.laser.disable_emission()
    spectrum = spectrograph.spectrometer.acquire(10.0)
    assert abs(_line_counts(spectrum, 800.0, 40.0)) < 200
    assert np.median(spectrum.counts) == pytest.approx(600.0, abs=5)


def test_a_long_exposure_saturates_the_line_and_is_flagged(spectrograph):
    assert not spectrograph.spectrometer.acquire(10.0).saturated
    spectrum = spectrograph.spectrometer.acquire(600.0)
    assert spectrum.saturated
    assert spectrum.counts.max() == spectrograph.camera.max_counts


def test_a_flooded_spectrograph_is_flagged_saturated(spectrograph):
    spectrograph.twin.inject("saturate")
    assert spectrograph.spectrometer.acquire(0.01).saturated


def test_lines_narrow_at_low_temperature(spectrograph):
    resolution = spectrograph.twin.resolution_nm()
    _, warm = _fit_line(spectrograph.spectrometer.acquire(10.0), 800.0, 50.0)
    spectrograph.world.sample.temperature_K = 10.0
    cold_physics = _physics_fwhm(spectrograph.world, "Tm 800")
    _, cold = _fit_line(spectrograph.spectrometer.acquire(10.0), 800.0, 20.0)
    assert cold < 0.5 * warm
    assert cold == pytest.approx(math.hypot(cold_physics, resolution), rel=0.15)


def test_spectrograph_out_of_range_exposure_is_rejected_before_sending(spectrograph):
    with pytest.raises(ExposureOutOfRangeError):
        spectrograph.spectrometer.acquire(1000.0)
    assert spectrograph.camera.lines_read == 0
    assert spectrograph.camera.exposure_s == 0.1  # untouched


def test_spectrograph_out_of_range_wavelength_never_reaches_the_twin(spectrograph):
    spectrograph.driver.grating = 3  # 1200 g/mm: 0 … 1400 nm
    with pytest.raises(WavelengthOutOfRangeError):
        spectrograph.driver.goto_nm(1500.0)
    assert spectrograph.twin.center_nm == 800.0  # the twin would have clamped to 1400


def test_twin_clamps_a_raw_goto_silently_like_the_real_one():
    twin = SimSpectraPro(echo=False)
    assert twin.handle("20000 goto") == " ok"
    assert twin.center_nm == 11200.0  # 150 g/mm reaches 1400 × 1200/150 nm
    assert twin.handle("frobnicate") == " frobnicate? "


def test_twin_moves_take_bench_time():
    clock = VirtualClock()
    twin = SimSpectraPro(clock, echo=False)
    twin.handle("2 grating")
    assert clock.now() == pytest.approx(twin.grating_move_s)


@pytest.mark.parametrize("fault, error", [
    ("drop_connection", InstrumentConnectionError),
    ("stop_answering", InstrumentTimeoutError),
    ("answer_garbage", InstrumentResponseError),
])
def test_spectrapro_link_faults_become_specific_errors(spectrograph, fault, error):
    spectrograph.twin.inject(fault)
    with pytest.raises(error):
        spectrograph.spectrometer.acquire(0.1)


def test_stuck_turret_is_a_move_error(spectrograph):
    spectrograph.twin.inject("grating_stuck")
    with pytest.raises(SpectrographMoveError):
        spectrograph.driver.grating = 2
    assert spectrograph.twin.grating == 1


@pytest.mark.parametrize("fault, error", [
    ("drop_connection", InstrumentConnectionError),
    ("stop_answering", InstrumentTimeoutError),
])
def test_camera_faults_become_specific_errors(spectrograph, fault, error):
    spectrograph.camera.inject(fault)
    with pytest.raises(error):
        spectrograph.spectrometer.acquire(0.1)


def test_spectrograph_full_scale_is_the_flooded_cameras_reading(spectrograph):
    # Procedures choose exposures against max_intensity; without it a flooded frame was
    # recorded as a spectrum on a SpectraPro bench (the fault matrix's spectrapro-saturate).
    spectrograph.twin.inject("saturate")
    spectrum = spectrograph.spectrometer.acquire(0.01)
    assert spectrum.saturated
    assert spectrum.counts.max() == spectrograph.spectrometer.max_intensity == (
        spectrograph.camera.max_counts)


def test_spectrapro_device_faults_are_listed():
    assert {"grating_stuck", "saturate", "drop_connection", "camera_stop_answering"} <= set(
        SimSpectraPro.fault_names())


def test_camera_faults_reach_the_camera_through_the_spectrograph_twin(spectrograph):
    spectrograph.twin.inject("camera_drop_connection")
    with pytest.raises(InstrumentConnectionError, match="camera"):
        spectrograph.spectrometer.acquire(0.1)
    spectrograph.twin.clear_faults()
    assert spectrograph.spectrometer.acquire(0.1).counts.size == 1024


def test_a_scheduled_camera_fault_fires_on_the_bench_clock(spectrograph):
    clock = spectrograph.world.clock
    spectrograph.twin.schedule_fault("camera_stop_answering", clock.now() + 1.0, clock)
    spectrograph.spectrometer.acquire(1.5)
    with pytest.raises(InstrumentTimeoutError):
        spectrograph.spectrometer.acquire(0.1)


# --- the optical model ----------------------------------------------------------------------------

def test_renderer_clips_at_full_scale_and_never_below_zero():
    world, _ = _lit_world()
    detector = DetectorModel(pixels=100, pixel_pitch_um=10.0, full_well_e=1e3, bias_counts=0.0,
                             read_noise_e=30.0, dark_current_e_per_s=0.0)
    renderer = SpectralRenderer(world, detector, throughput=1.0)
    edges = np.linspace(790.0, 810.0, 101)
    counts = renderer.expose(edges, 100.0, resolution_nm=0.0)
    assert counts.max() == detector.max_counts == 1000.0
    assert counts.min() >= 0.0
    assert np.all(counts == np.rint(counts))


def test_silicon_sees_nothing_of_the_1470_nm_line():
    detector = DetectorModel(pixels=1, pixel_pitch_um=10.0)
    assert detector.qe(np.array([1470.0]))[0] == 0.0


# --- over a real socket ---------------------------------------------------------------------------

def test_spectrapro_works_over_pyvisa_tcp_with_multi_line_replies():
    twin = SimSpectraPro()
    with InstrumentServer() as server:
        served = server.add("spectrograph", twin)
        sp = SpectraPro(served.visa_resource)
        try:
            assert sp.model == "SP-2-300i"
            gratings, current = sp.read_gratings()
            assert current == 1 and sorted(gratings) == [1, 2, 3]
            before = sp.adapter.connection.timeout
            sp.goto_nm(650.0)
            assert sp.center_wavelength_nm == 650.0
            assert sp.adapter.connection.timeout == before  # the move timeout is undone
        finally:
            sp.adapter.close()
