"""The simulated photon counter, the counter interface, and the NI-DAQ backend's import guard.

Statistical checks use fixed seeds and tolerances of at least 5 standard errors.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from drivers.counters import PhotonCounter, dead_time_corrected_rate_cps
from drivers.errors import BackendNotInstalledError
from sim_devices.clock import VirtualClock
from sim_devices.instruments.ipg_ylr import SimIPGYLR
from sim_devices.instruments.photon_counter import SimPhotonCounter
from sim_devices.world import Detection, SimWorld

DEAD_TIME_S = 22e-9


def _dark_world(seed: int = 3) -> SimWorld:
    return SimWorld(clock=VirtualClock(), seed=seed)


def _lit_world(power_W: float, *, collection_efficiency: float = 0.15, seed: int = 5) -> SimWorld:
    """A bench with the 1064-nm laser emitting `power_W` (start-up already over)."""
    clock = VirtualClock()
    world = SimWorld(clock=clock, detection=Detection(collection_efficiency=collection_efficiency),
                     seed=seed)
    laser = SimIPGYLR(clock)
    world.attach_source("pump_1064", laser)
    laser.handle(f"SPS {power_W}")
    laser.handle("EMON")
    clock.sleep(laser.startup_s + 0.1)
    return world


def _saturated(rate_cps: float, dead_time_s: float = DEAD_TIME_S) -> float:
    return rate_cps / (1.0 + rate_cps * dead_time_s)


# --- dark counts -----------------------------------------------------------------------------

def test_dark_world_detects_no_signal_photons():
    assert _dark_world().detected_photon_rate_cps() == 0.0


def test_dark_counts_have_mean_dark_rate_times_gate():
    counter = SimPhotonCounter(_dark_world(), dark_count_rate_cps=25.0)
    counts = np.array([counter.count(1.0) for _ in range(4000)])
    mean = _saturated(25.0)
    standard_error = np.sqrt(mean / counts.size)
    assert abs(counts.mean() - mean) <= 5 * standard_error


def test_dark_counts_are_poisson_variance_equals_mean():
    counter = SimPhotonCounter(_dark_world(), dark_count_rate_cps=25.0)
    counts = np.array([counter.count(1.0) for _ in range(4000)])
    mean = _saturated(25.0)
    # Var(s²) of a Poisson sample ≈ (μ + 2μ²)/n.
    standard_error = np.sqrt((mean + 2 * mean**2) / counts.size)
    assert abs(counts.var(ddof=1) - mean) <= 5 * standard_error


def test_zero_dark_rate_and_no_light_counts_nothing():
    counter = SimPhotonCounter(_dark_world(), dark_count_rate_cps=0.0)
    assert [counter.count(0.1) for _ in range(100)] == [0] * 100


def test_negative_dark_rate_or_dead_time_is_rejected():
    with pytest.raises(ValueError):
        SimPhotonCounter(_dark_world(), dark_count_rate_cps=-1.0)
    with pytest.raises(ValueError):
        SimPhotonCounter(_dark_world(), dead_time_s=-1e-9)


# --- light -----------------------------------------------------------------------------------

def test_counts_track_the_detected_photon_rate_of_the_world():
    world = _lit_world(0.5)  # ~10 kW/cm² at the particle: above threshold
    counter = SimPhotonCounter(world, dark_count_rate_cps=25.0)
    signal = world.detected_photon_rate_cps()
    assert signal > 1e3
    gate = 0.01
    counts = np.array([counter.count(gate) for _ in range(500)])
    expected = _saturated(signal + 25.0) * gate
    assert abs(counts.mean() - expected) <= 5 * np.sqrt(expected / counts.size)


def test_more_laser_power_gives_more_counts():
    dim = SimPhotonCounter(_lit_world(0.3))
    bright = SimPhotonCounter(_lit_world(0.6))
    assert np.mean([bright.count(0.01) for _ in range(50)]) > \
        2 * np.mean([dim.count(0.01) for _ in range(50)])


def test_dead_time_saturates_measured_rate_as_r_over_1_plus_r_tau():
    # An unphysically large collection efficiency stands in for a very bright sample:
    # r ≈ 1.7e7 counts/s, r·τ ≈ 0.4.
    world = _lit_world(5.0, collection_efficiency=10.0)
    counter = SimPhotonCounter(world, dark_count_rate_cps=25.0, dead_time_s=DEAD_TIME_S)
    true_rate = world.detected_photon_rate_cps() + 25.0
    assert 0.2 <= true_rate * DEAD_TIME_S <= 2.0
    gate = 1e-3
    counts = np.array([counter.count(gate) for _ in range(200)])
    expected = _saturated(true_rate) * gate
    assert abs(counts.mean() - expected) <= 5 * np.sqrt(expected / counts.size)
    assert counts.mean() < 0.8 * true_rate * gate  # visibly below the unsaturated rate


def test_measured_rate_never_exceeds_one_over_dead_time():
    world = _lit_world(5.0, collection_efficiency=1000.0)  # r·τ ≈ 40
    counter = SimPhotonCounter(world, dead_time_s=DEAD_TIME_S)
    gate = 1e-3
    counts = np.array([counter.count(gate) for _ in range(50)])
    assert counts.mean() < gate / DEAD_TIME_S
    assert counts.mean() > 0.9 * gate / DEAD_TIME_S


def test_dead_time_correction_recovers_true_rate_from_simulated_counts():
    world = _lit_world(5.0, collection_efficiency=10.0)
    counter = SimPhotonCounter(world, dark_count_rate_cps=25.0, dead_time_s=DEAD_TIME_S)
    true_rate = world.detected_photon_rate_cps() + 25.0
    gate = 0.1
    counts = sum(counter.count(gate) for _ in range(10))
    assert dead_time_corrected_rate_cps(counts, 10 * gate, DEAD_TIME_S) == \
        pytest.approx(true_rate, rel=2e-3)


def test_counter_register_width_caps_counts():
    world = _lit_world(5.0)
    counter = SimPhotonCounter(world, max_counts_per_gate=100)
    assert counter.count(1.0) == 100


# --- gate and clock --------------------------------------------------------------------------

def test_each_count_advances_the_clock_by_the_gate():
    world = _dark_world()
    counter = SimPhotonCounter(world)
    start = world.clock.now()
    counter.count(0.25)
    assert world.clock.now() - start == pytest.approx(0.25)
    for _ in range(4):
        counter.count(0.01)
    assert world.clock.now() - start == pytest.approx(0.29)
    assert counter.gates_counted == 5


@pytest.mark.parametrize("gate", [0.0, -0.1])
def test_non_positive_gate_raises_and_does_not_advance_the_clock(gate):
    world = _dark_world()
    counter = SimPhotonCounter(world)
    with pytest.raises(ValueError, match="positive"):
        counter.count(gate)
    assert world.clock.now() == 0.0


# --- dead-time correction --------------------------------------------------------------------

@pytest.mark.parametrize("true_rate", [1e2, 1e5, 1e7, 4e7])
def test_dead_time_correction_inverts_the_saturation(true_rate):
    gate = 2.0
    measured_counts = _saturated(true_rate) * gate
    assert dead_time_corrected_rate_cps(measured_counts, gate, DEAD_TIME_S) == \
        pytest.approx(true_rate, rel=1e-9)


def test_dead_time_correction_with_zero_dead_time_is_plain_rate():
    assert dead_time_corrected_rate_cps(500, 0.5, 0.0) == 1000.0


@pytest.mark.parametrize("counts", [2**20, 3 * 2**19, 2**21])
def test_dead_time_correction_raises_at_the_dead_time_limit(counts):
    dead_time = 2.0**-20  # powers of two: m·τ is exactly 1, 1.5 and 2
    with pytest.raises(ValueError, match="saturated"):
        dead_time_corrected_rate_cps(counts, 1.0, dead_time)


def test_dead_time_correction_just_below_the_limit_is_large_but_finite():
    dead_time = 2.0**-20
    assert dead_time_corrected_rate_cps(2**20 - 1, 1.0, dead_time) == \
        pytest.approx((2**20 - 1) * 2**20)


# --- the interface ---------------------------------------------------------------------------

def test_sim_counter_is_a_photon_counter():
    assert isinstance(SimPhotonCounter(_dark_world()), PhotonCounter)


def test_object_without_count_is_not_a_photon_counter():
    class NotACounter:
        identity = "nothing"

        def close(self) -> None:
            pass

    assert not isinstance(NotACounter(), PhotonCounter)


def test_sim_counter_identity_names_the_dead_time():
    counter = SimPhotonCounter(_dark_world(), dead_time_s=22e-9)
    assert "22 ns" in counter.identity


def test_sim_counter_close_is_harmless():
    counter = SimPhotonCounter(_dark_world())
    counter.close()
    counter.close()


# --- NI-DAQ backend without nidaqmx ----------------------------------------------------------

@pytest.fixture
def without_nidaqmx(monkeypatch):
    """Make `import nidaqmx` fail even if the package happens to be installed."""
    monkeypatch.setitem(sys.modules, "nidaqmx", None)


def test_importing_the_nidaq_module_does_not_need_nidaqmx(without_nidaqmx, monkeypatch):
    monkeypatch.delitem(sys.modules, "drivers.counters.nidaq", raising=False)  # fresh import
    module = importlib.import_module("drivers.counters.nidaq")
    assert hasattr(module, "NIDAQPhotonCounter")


def test_nidaq_counter_without_nidaqmx_raises_backend_not_installed(without_nidaqmx):
    from drivers.counters.nidaq import NIDAQPhotonCounter

    with pytest.raises(BackendNotInstalledError) as error:
        NIDAQPhotonCounter()
    assert "pip install nidaqmx" in str(error.value)
    assert "pip install nidaqmx" in error.value.install_hint


def test_backend_not_installed_is_an_import_error(without_nidaqmx):
    from drivers.counters.nidaq import NIDAQPhotonCounter

    with pytest.raises(ImportError):
        NIDAQPhotonCounter("Dev2/ctr0")
