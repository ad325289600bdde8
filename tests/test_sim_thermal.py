"""The simulated cryostat (sim_devices/thermal.py): cold sources, the Lake Shore PID law,
ranges, ramps, the temperature-limit cut-off and heater faults — all on the virtual clock.
"""

from __future__ import annotations

import math

import pytest

from sim_devices.clock import VirtualClock
from sim_devices.thermal import (
    PLATFORM,
    SAMPLE,
    ControlMode,
    Cryocooler,
    HeaterFault,
    HeaterLoop,
    LiquidNitrogenBath,
    ThermalStage,
    copper_heat_capacity,
)


def _stage(**kwargs) -> tuple[VirtualClock, ThermalStage]:
    clock = VirtualClock()
    return clock, ThermalStage.closed_cycle(clock, **kwargs)


def _heated(stage: ThermalStage, *, setpoint_K: float, range_index: int = 3,
            P: float = 50.0, I: float = 20.0, D: float = 0.0) -> HeaterLoop:  # noqa: E741
    loop = stage.add_loop(HeaterLoop("1", max_power_W=50.0, P=P, I=I, D=D))
    loop.set_setpoint(setpoint_K, stage.platform_K)
    loop.set_range(range_index)
    return loop


def _trace(clock: VirtualClock, stage: ThermalStage, seconds: float, step_s: float = 1.0,
           node: str = PLATFORM) -> list[tuple[float, float]]:
    points = []
    for _ in range(int(seconds / step_s)):
        clock.sleep(step_s)
        points.append((clock.now(), stage.temperature_K(node)))
    return points


# --- cold sources and materials ---------------------------------------------------------------

def test_copper_heat_capacity_follows_the_tabulated_specific_heat():
    capacity = copper_heat_capacity(1.0)
    assert capacity(300.0) == pytest.approx(385.0, rel=0.01)
    assert capacity(77.0) == pytest.approx(192.0, rel=0.01)
    assert capacity(4.0) < 0.1  # Debye T³ regime: almost nothing to cool near 4 K


def test_cryocooler_removes_nothing_at_or_below_its_base():
    cooler = Cryocooler()
    assert cooler.power_W(cooler.base_K) == 0.0
    assert cooler.power_W(2.0) == 0.0
    assert cooler.power_W(4.2) == pytest.approx(0.3)
    assert cooler.power_W(300.0) > cooler.power_W(100.0) > cooler.power_W(10.0)


def test_cryocooler_rejects_a_curve_that_does_not_start_at_zero_power():
    with pytest.raises(ValueError):
        Cryocooler(((4.0, 0.5), (300.0, 50.0)))


def test_nitrogen_bath_cools_a_warmer_stage_and_warms_a_colder_one():
    bath = LiquidNitrogenBath()
    assert bath.power_W(100.0) > 0 > bath.power_W(50.0)


# --- without heaters --------------------------------------------------------------------------

def test_a_closed_cycle_stage_starts_at_its_base_temperature_of_a_few_kelvin():
    _, stage = _stage()
    assert 3.0 < stage.platform_K < 5.0
    assert stage.sample_K == pytest.approx(stage.platform_K)


def test_without_heater_a_warm_stage_drifts_down_to_the_base_temperature():
    clock, stage = _stage(initial_K=60.0)
    trace = _trace(clock, stage, 1800.0, step_s=30.0)
    temperatures = [t for _, t in trace]
    assert all(b <= a + 1e-9 for a, b in zip(temperatures, temperatures[1:]))  # monotonic
    assert temperatures[-1] == pytest.approx(stage.equilibrium_K(), abs=0.1)


def test_a_nitrogen_cryostat_settles_just_above_77_K():
    clock = VirtualClock()
    stage = ThermalStage.liquid_nitrogen(clock, initial_K=150.0)
    clock.sleep(3600.0)
    assert 77.35 < stage.platform_K < 78.5
    assert stage.platform_K == pytest.approx(stage.equilibrium_K(), abs=0.05)


def test_a_stopped_cold_head_lets_the_cryostat_warm_up():
    clock, stage = _stage()
    base = stage.platform_K
    stage.set_cooling(False)
    clock.sleep(600.0)
    assert stage.platform_K > base + 1.0


def test_the_model_only_moves_when_the_clock_does():
    clock, stage = _stage(initial_K=50.0)
    first = stage.platform_K
    assert stage.platform_K == first
    clock.sleep(10.0)
    assert stage.platform_K < first


def test_how_often_it_is_read_does_not_change_the_physics():
    clock_a, stage_a = _stage(initial_K=50.0)
    clock_b, stage_b = _stage(initial_K=50.0)
    _heated(stage_a, setpoint_K=20.0)
    _heated(stage_b, setpoint_K=20.0)
    _trace(clock_a, stage_a, 300.0, step_s=0.37)
    clock_b.sleep(300.0)
    assert stage_a.platform_K == pytest.approx(stage_b.platform_K, abs=1e-3)


# --- the Lake Shore control law ---------------------------------------------------------------

def test_proportional_term_is_P_percent_per_kelvin_of_error():
    loop = HeaterLoop("1", max_power_W=50.0, P=50.0, I=0.0)
    loop.set_setpoint(10.0, None)
    loop.set_range(3)
    loop.update(0.1, 9.0)
    assert loop.output_percent == pytest.approx(50.0)


def test_integral_time_is_1000_over_I_seconds():
    loop = HeaterLoop("1", max_power_W=50.0, P=10.0, I=20.0)
    assert loop.integral_time_s == pytest.approx(50.0)
    loop.set_setpoint(10.0, None)
    loop.set_range(3)
    loop.update(1.0, 9.0)  # e = 1 K for 1 s: P·e + P·(1/50 s)·1 K·s
    assert loop.output_percent == pytest.approx(10.0 + 10.0 / 50.0)


def test_derivative_time_is_D_percent_of_a_quarter_of_the_integral_time():
    loop = HeaterLoop("1", max_power_W=50.0, P=50.0, I=20.0, D=100.0)
    assert loop.derivative_time_s == pytest.approx(12.5)


def test_manual_output_adds_to_the_pid_output():
    loop = HeaterLoop("1", max_power_W=50.0, P=10.0, I=0.0)
    loop.manual_percent = 20.0
    loop.set_setpoint(10.0, None)
    loop.set_range(3)
    loop.update(0.1, 9.0)
    assert loop.output_percent == pytest.approx(30.0)


def test_open_loop_output_is_the_manual_output_whatever_the_reading():
    loop = HeaterLoop("1", max_power_W=50.0)
    loop.set_mode(ControlMode.OPEN_LOOP)
    loop.manual_percent = 40.0
    loop.set_range(1)
    loop.update(0.1, 500.0)
    assert loop.output_percent == pytest.approx(40.0)


@pytest.mark.parametrize(("range_index", "fraction"), [(0, 0.0), (1, 0.01), (2, 0.1), (3, 1.0)])
def test_ranges_are_a_decade_of_power_apart(range_index, fraction):
    loop = HeaterLoop("1", max_power_W=50.0)
    loop.set_mode(ControlMode.OPEN_LOOP)
    loop.manual_percent = 100.0
    loop.set_range(range_index)
    loop.update(0.1, None)
    assert loop.power_W == pytest.approx(50.0 * fraction)


def test_output_is_a_fraction_of_full_scale_current_so_power_goes_as_its_square():
    loop = HeaterLoop("1", max_power_W=50.0)
    loop.set_mode(ControlMode.OPEN_LOOP)
    loop.manual_percent = 50.0
    loop.set_range(3)
    loop.update(0.1, None)
    assert loop.power_W == pytest.approx(12.5)


def test_an_invalid_control_reading_holds_the_output_at_zero():
    loop = HeaterLoop("1", max_power_W=50.0)
    loop.set_setpoint(100.0, None)
    loop.set_range(3)
    loop.control_valid = False
    loop.update(0.1, 4.0)
    assert loop.output_percent == 0.0


# --- closed loop on the stage -----------------------------------------------------------------

def test_default_gains_reach_77_K_within_a_few_minutes_and_hold_it():
    clock, stage = _stage()
    _heated(stage, setpoint_K=77.0)
    trace = _trace(clock, stage, 900.0)
    reached = next(t for t, temp in trace if abs(temp - 77.0) < 0.1)
    assert reached < 300.0
    assert all(abs(temp - 77.0) < 0.1 for t, temp in trace if t > 600.0)


def test_aggressive_gains_overshoot_more_than_the_defaults():
    def overshoot(**gains) -> float:
        clock, stage = _stage()
        _heated(stage, setpoint_K=77.0, **gains)
        return max(temp for _, temp in _trace(clock, stage, 600.0)) - 77.0

    gentle = overshoot(P=50.0, I=20.0)
    aggressive = overshoot(P=300.0, I=300.0)
    assert aggressive > 0.5
    assert aggressive > 2 * gentle


def test_proportional_only_control_droops_below_the_setpoint_and_integral_removes_it():
    def final(I: float) -> float:  # noqa: E741
        clock, stage = _stage()
        _heated(stage, setpoint_K=50.0, P=20.0, I=I)
        clock.sleep(1800.0)
        return stage.platform_K

    assert final(0.0) < 49.0
    assert final(20.0) == pytest.approx(50.0, abs=0.05)


def test_the_sample_lags_behind_the_heated_platform_then_follows_it():
    clock, stage = _stage()
    _heated(stage, setpoint_K=100.0)
    clock.sleep(20.0)
    assert stage.sample_K < stage.platform_K - 1.0
    clock.sleep(1200.0)
    assert stage.sample_K == pytest.approx(stage.platform_K, abs=0.05)


def test_a_low_range_cannot_hold_a_high_setpoint():
    clock, stage = _stage()
    _heated(stage, setpoint_K=77.0, range_index=1)  # 0.5 W
    clock.sleep(1200.0)
    assert stage.platform_K < 20.0


def test_the_setpoint_ramps_at_the_set_rate():
    clock, stage = _stage()
    loop = stage.add_loop(HeaterLoop("1", max_power_W=50.0))
    loop.set_ramp(True, 2.0)  # K/min
    loop.set_setpoint(40.0, stage.platform_K)  # heater off: the ramp starts at the reading
    loop.set_range(3)
    start = loop.setpoint_now_K
    clock.sleep(300.0)
    stage.advance()
    assert loop.ramping
    assert loop.setpoint_now_K == pytest.approx(start + 10.0, abs=0.01)
    assert stage.platform_K == pytest.approx(loop.setpoint_now_K, abs=1.0)
    clock.sleep(900.0)
    stage.advance()
    assert not loop.ramping
    assert stage.platform_K == pytest.approx(40.0, abs=0.1)


def test_a_temperature_limit_switches_every_heater_off():
    clock, stage = _stage()
    loop = _heated(stage, setpoint_K=80.0)
    stage.set_limit("A", PLATFORM, 40.0)
    trace = _trace(clock, stage, 600.0)
    assert loop.range == 0
    assert stage.tripped == "A"
    assert max(temp for _, temp in trace) < 45.0
    assert trace[-1][1] < 20.0  # cooling back down with the heater off


def test_a_limit_of_zero_removes_the_cut_off():
    clock, stage = _stage()
    stage.set_limit("A", PLATFORM, 40.0)
    stage.set_limit("A", PLATFORM, 0.0)
    loop = _heated(stage, setpoint_K=60.0)
    clock.sleep(300.0)
    assert loop.range == 3 and stage.tripped is None


# --- heater faults ----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [HeaterFault.OPEN, HeaterFault.SHORT])
def test_a_broken_heater_trips_off_and_latches_its_fault_until_read(fault):
    clock, stage = _stage()
    loop = _heated(stage, setpoint_K=50.0)
    clock.sleep(5.0)
    loop.inject_fault(fault)
    assert loop.range == 0 and loop.power_W == 0.0
    assert loop.read_fault() == fault
    assert loop.read_fault() == HeaterFault.NONE


def test_a_broken_heater_cannot_be_switched_back_on():
    loop = HeaterLoop("1", max_power_W=50.0)
    loop.inject_fault(HeaterFault.SHORT)
    loop.set_range(3)
    assert loop.range == 0
    assert loop.read_fault() == HeaterFault.SHORT


def test_stage_rejects_unknown_nodes():
    _, stage = _stage()
    with pytest.raises(ValueError):
        stage.set_limit("A", "cold head", 40.0)
    with pytest.raises(ValueError):
        HeaterLoop("x", max_power_W=1.0, heater_node="shield")


def test_history_keeps_one_sample_a_second():
    clock = VirtualClock()
    stage = ThermalStage.closed_cycle(clock, history_s=30.0)
    clock.sleep(100.0)
    history = stage.history(30.0)
    assert 29 <= len(history) <= 31
    assert all(b[0] - a[0] == pytest.approx(1.0, abs=0.11) for a, b in zip(history, history[1:]))
    assert not math.isnan(history[-1][2]) and history[-1][2] == stage.temperature_K(SAMPLE)


def test_external_heat_on_the_sample_warms_it_above_the_platform():
    clock, stage = _stage()
    dark_clock, dark = _stage()
    stage.set_external_heat(SAMPLE, 0.02)  # 20 mW of absorbed pump light
    clock.sleep(120.0)
    dark_clock.sleep(120.0)
    offset = dark.sample_K - dark.platform_K  # the sample's own small heat leak
    # through the 0.2 W/K sample link: 0.1 K more
    assert stage.sample_K - stage.platform_K - offset == pytest.approx(0.1, rel=0.02)
    with pytest.raises(ValueError):
        stage.set_external_heat("window", 0.1)
