"""The simulated bench: one physical state seen by every instrument, the focus, and the clocks."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from drivers.lasers.ipg_ylr import IPGYLR
from drivers.powermeters.thorlabs_pm100 import ThorlabsPM100
from sim_devices.clock import RealTimeClock, VirtualClock
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.photon_counter import SimPhotonCounter
from sim_devices.instruments.thorlabs_pm100 import SimThorlabsPM100
from sim_devices.transport import InProcessAdapter
from sim_devices.world import BenchOptics, Sample, SimWorld


@dataclass
class FixedSource:
    """A beam source with a fixed output, for geometry tests without laser start-up."""

    wavelength_nm: float
    power_W: float

    def output_power_W(self) -> float:
        return self.power_W


def _unit_optics() -> BenchOptics:
    """All laser power reaches the sample: intensity per mW can be read off directly."""
    return BenchOptics(attenuation_to_meter=1.0, transmission_to_sample=1.0)


# --- one world, every instrument ------------------------------------------------------------

@pytest.fixture
def bench():
    clock = VirtualClock()
    world = SimWorld(clock=clock, seed=21)
    sim_laser = SimIPGYLR(clock)
    world.attach_source("pump_1064", sim_laser)
    laser = IPGYLR(InProcessAdapter(sim_laser))
    meter = ThorlabsPM100(InProcessAdapter(SimThorlabsPM100(world)))
    meter.wavelength_nm = 1064
    counter = SimPhotonCounter(world, dark_count_rate_cps=25.0)
    laser.power_setpoint_W = 0.3
    laser.enable_emission()
    clock.sleep(sim_laser.startup_s + 0.1)
    return world, laser, meter, counter


def test_more_laser_power_raises_the_power_meter_reading(bench):
    _, laser, meter, _ = bench
    low = meter.power_W
    laser.power_setpoint_W = 0.6
    high = meter.power_W
    assert high == pytest.approx(2 * low, rel=0.02)


def test_more_laser_power_raises_the_photon_count_rate(bench):
    _, laser, _, counter = bench
    low = sum(counter.count(0.01) for _ in range(20))
    laser.power_setpoint_W = 0.6
    high = sum(counter.count(0.01) for _ in range(20))
    assert high > 5 * low  # a superlinear avalanche response, not just 2×


def test_laser_emission_off_darkens_meter_and_counter(bench):
    world, laser, meter, counter = bench
    laser.disable_emission()
    assert world.detected_photon_rate_cps() == 0.0
    assert abs(meter.power_W) < 1e-8  # only dark offset and noise, nW scale


def test_moving_the_beam_1_um_off_the_particle_drops_emission_by_orders_of_magnitude(bench):
    world, *_ = bench
    on_particle = world.emission_photons_per_s()
    assert on_particle > 0
    world.beam_position_um = world.sample.particle_positions_um[0] + np.array([1.0, 0.0])
    off_particle = world.emission_photons_per_s()
    assert off_particle < 1e-6 * on_particle


def test_emission_falls_monotonically_as_the_beam_walks_off(bench):
    world, *_ = bench
    emissions = []
    for dx in np.linspace(0.0, 0.6, 7):
        world.beam_position_um = np.array([dx, 0.0])
        emissions.append(world.emission_photons_per_s())
    assert np.all(np.diff(emissions) < 0)


def test_beam_starts_parked_on_the_first_particle():
    sample = Sample(particle_positions_um=np.array([[1.5, -2.0], [0.0, 0.0]]))
    world = SimWorld(sample=sample)
    assert np.array_equal(world.beam_position_um, [1.5, -2.0])


# --- the focus -------------------------------------------------------------------------------

def test_gaussian_waist_for_1064_nm_at_na_1_49_is_0_303_um():
    waist = BenchOptics(numerical_aperture=1.49).waist_at_um(1064.0)
    assert waist == pytest.approx(0.303, abs=5e-4)


def test_given_waist_overrides_the_diffraction_formula():
    assert BenchOptics(waist_um=0.5).waist_at_um(1064.0) == 0.5


def test_peak_intensity_is_692_kW_cm2_per_mW_at_1064_nm():
    world = SimWorld(optics=_unit_optics())
    world.attach_source("pump", FixedSource(1064.0, 1e-3))
    assert world.peak_intensity_kW_cm2() == pytest.approx(692.0, rel=2e-3)


def test_peak_intensity_scales_with_attenuation_and_transmission():
    world = SimWorld(optics=BenchOptics(attenuation_to_meter=1e-2, transmission_to_sample=0.5))
    world.attach_source("pump", FixedSource(1064.0, 1.0))  # 5 mW at the sample
    assert world.peak_intensity_kW_cm2() == pytest.approx(5 * 692.0, rel=2e-3)


def test_particle_intensity_follows_the_gaussian_profile():
    positions = np.array([[0.0, 0.0], [0.303, 0.0], [0.0, 0.5]])
    world = SimWorld(optics=_unit_optics(), sample=Sample(particle_positions_um=positions))
    world.attach_source("pump", FixedSource(1064.0, 1e-5))
    waist = world.optics.waist_at_um(1064.0)
    peak = world.peak_intensity_kW_cm2()
    r2 = np.sum(positions**2, axis=1)
    assert np.allclose(world.particle_intensities_kW_cm2(), peak * np.exp(-2 * r2 / waist**2))
    assert world.particle_intensities_kW_cm2()[1] == pytest.approx(peak / math.e**2, rel=1e-2)


def test_emission_sums_over_particles_times_ions_per_particle():
    positions = np.array([[0.0, 0.0], [0.0, 0.0]])
    one = SimWorld(optics=_unit_optics())
    two = SimWorld(optics=_unit_optics(), sample=Sample(particle_positions_um=positions))
    for world in (one, two):
        world.attach_source("pump", FixedSource(1064.0, 1e-5))
    assert two.emission_photons_per_s() == pytest.approx(2 * one.emission_photons_per_s())
    per_ion = one.sample.table.emission_per_ion(one.peak_intensity_kW_cm2())
    assert one.emission_photons_per_s() == pytest.approx(per_ion * 4600)


def test_detected_rate_is_emission_times_collection_efficiency():
    world = SimWorld(optics=_unit_optics())
    world.attach_source("pump", FixedSource(1064.0, 1e-5))
    assert world.detected_photon_rate_cps() == pytest.approx(
        world.emission_photons_per_s() * world.detection.collection_efficiency)


def test_852_nm_source_does_not_excite_the_1064_nm_tm_preset():
    world = SimWorld(optics=_unit_optics())
    world.attach_source("pump_852", FixedSource(852.0, 1e-3))
    assert world.peak_intensity_kW_cm2() == 0.0
    assert world.emission_photons_per_s() == 0.0
    assert world.beams_at_meter() == [(852.0, 1e-3)]  # but the power meter sees it


def test_source_within_5_nm_of_the_pump_wavelength_excites():
    world = SimWorld(optics=_unit_optics())
    world.attach_source("pump", FixedSource(1067.0, 1e-5))
    assert world.emission_photons_per_s() > 0


def test_pump_sources_add_their_intensities():
    single = SimWorld(optics=_unit_optics())
    single.attach_source("a", FixedSource(1064.0, 1e-5))
    double = SimWorld(optics=_unit_optics())
    double.attach_source("a", FixedSource(1064.0, 1e-5))
    double.attach_source("b", FixedSource(1064.0, 1e-5))
    assert double.peak_intensity_kW_cm2() == pytest.approx(2 * single.peak_intensity_kW_cm2())


def test_two_sources_with_the_same_name_are_refused():
    world = SimWorld()
    world.attach_source("pump", FixedSource(1064.0, 1e-3))
    with pytest.raises(ValueError, match="already"):
        world.attach_source("pump", FixedSource(1064.0, 1e-3))


def test_sources_view_is_a_copy():
    world = SimWorld()
    world.attach_source("pump", FixedSource(1064.0, 1e-3))
    world.sources.clear()
    assert list(world.sources) == ["pump"]


# --- clocks ----------------------------------------------------------------------------------

def test_virtual_clock_advances_only_by_sleeps():
    clock = VirtualClock(start_s=10.0)
    assert clock.now() == 10.0
    assert clock.sleep(2.5) is True
    assert clock.now() == 12.5


def test_virtual_clock_sleep_is_cancelled_without_advancing():
    clock = VirtualClock()
    cancel = threading.Event()
    cancel.set()
    assert clock.sleep(5.0, cancel) is False
    assert clock.now() == 0.0


def test_virtual_clock_sleep_with_unset_cancel_advances():
    clock = VirtualClock()
    assert clock.sleep(5.0, threading.Event()) is True
    assert clock.now() == 5.0


def test_virtual_clock_refuses_negative_sleep():
    with pytest.raises(ValueError, match="negative"):
        VirtualClock().sleep(-1.0)


def test_real_time_clock_refuses_negative_sleep():
    with pytest.raises(ValueError, match="negative"):
        RealTimeClock().sleep(-1.0)


def test_real_time_clock_sleep_is_cut_short_by_cancel_from_another_thread():
    clock = RealTimeClock()
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        completed = clock.sleep(5.0, cancel)
    finally:
        timer.cancel()
    assert completed is False
    assert time.monotonic() - started < 4.0  # returned well before the full 5 s


def test_real_time_clock_sleep_without_cancel_completes():
    assert RealTimeClock().sleep(0.001) is True


# --- the sample's temperature and table ------------------------------------------------------

def test_table_temperature_is_the_reference_the_fixed_or_the_cryostat_temperature_rounded():
    from sim_devices.thermal import ThermalStage
    from sim_devices.world import table_temperature_K

    assert SimWorld().table_temperature_K() is None  # the preset's reference
    assert SimWorld(sample=Sample(temperature_K=77.3)).table_temperature_K() == 77.0
    world = SimWorld(sample=Sample(temperature_K=77.3))
    stage = ThermalStage.closed_cycle(world.clock)
    world.attach_thermal(stage)
    assert world.table_temperature_K() == table_temperature_K(stage.sample_K) < 20.0


def test_world_preset_is_the_sample_preset_object():
    from sim_devices.physics import get_preset

    world = SimWorld(sample=Sample(preset="tm8_1064"))
    assert world.preset is get_preset("tm8_1064") is world.sample.table.preset


def test_a_cryostat_bench_builds_only_the_table_at_the_cryostat_temperature(monkeypatch):
    """The emission path asks for one table, at the cryostat's (rounded) temperature; no table
    at the preset's reference temperature is built on the side (~0.1 s each)."""
    from sim_devices import world as world_module
    from sim_devices.instruments.spectrometer import sample_lines
    from sim_devices.thermal import ThermalStage
    from sim_devices.world import table_temperature_K

    asked = set()
    build = world_module.emission_table

    def watched(preset, temperature_K=None, line=None):  # every table the world asks for
        asked.add((preset, temperature_K, line))
        return build(preset, temperature_K, line)

    monkeypatch.setattr(world_module, "emission_table", watched)
    world = SimWorld(optics=_unit_optics())
    world.attach_source("pump", FixedSource(1064.0, 1e-5))
    stage = ThermalStage.closed_cycle(world.clock)
    world.attach_thermal(stage)
    assert world.emission_photons_per_s() > 0
    assert world.detected_photon_rate_cps() > 0
    assert world.particle_intensities_kW_cm2()[0] > 0
    assert sample_lines(world).photons_per_s.sum() > 0
    assert asked == {("tm8_1064", table_temperature_K(stage.sample_K), None)}
