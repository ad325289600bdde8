"""Series over temperature on the simulated cryostat bench: S_max follows docs/physics.md §5,
the stage-stability wait is in the stored trace, and a failing step leaves earlier ones intact."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import parse_config
from avlab.runner import Runner
from avlab.storage import read_outcomes, read_run, run_entries, summarize
from experiments.series.procedure import Series, parse_values

CRYO = Path(experiments.__file__).parent / "labs" / "cryostat_sim.toml"
#: docs/physics.md §5, Tm 1064 column: S_max at the S peak.
MODEL_S_MAX = {10.0: 43.2, 150.0: 36.6, 295.0: 26.4, 400.0: 21.9}


def cryo_bench(seed: int = 3, text: str | None = None) -> Bench:
    """The shipped cryostat lab file (100 W heater, limits to 420 K), with a fixed seed."""
    config = parse_config(CRYO.read_text() if text is None else text, "cryostat_sim.toml")
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=seed))
    return Bench(config)


@pytest.fixture(scope="module")
def temperature_series(tmp_path_factory):
    path = tmp_path_factory.mktemp("series") / "series.h5"
    with cryo_bench() as bench:
        procedure = Series(over="temperature_K=10,150,295,400", hold_s=60.0,
                           inner="power_min_W=0.2;power_max_W=5;sweep_down=false")
        result = Runner(procedure, bench, path).run()
        assert not bench.laser().is_emitting
    return procedure, result


def test_s_max_follows_the_model_at_every_temperature(temperature_series):
    procedure, result = temperature_series
    assert result.status == "completed", result.message
    steps = procedure.steps(result.data)
    assert [s.value for s in steps] == [10.0, 150.0, 295.0, 400.0]
    for step in steps:
        assert step.status == "completed"
        assert step.temperature_mean_K == pytest.approx(step.value, abs=0.2)
        assert float(step.scalars["s_max"][0]) == pytest.approx(MODEL_S_MAX[step.value], rel=0.10)
    s_max = result.analysis.arrays["step_s_max"][0]
    assert np.all(np.diff(s_max) < 0)  # the avalanche sharpens on cooling


def test_every_step_is_a_full_run_of_its_own_in_the_file(temperature_series):
    _, result = temperature_series
    path = result.path
    assert run_entries(path) == ["entry", "step_00", "step_01", "step_02", "step_03"]
    inner = read_run(path, entry="step_02")
    assert inner.procedure == "scurve" and inner.status == "completed"
    assert "s_max" in inner.results["analysis"]
    assert inner.n_points > 20
    outer = read_run(path)
    assert outer.results["analysis"]["steps_completed"][0] == 4
    assert "further runs in this file (4" in summarize(path)
    # the cheap reader of outcomes agrees with the full one, scalars only
    outcomes = read_outcomes(path)
    assert [o.entry for o in outcomes] == run_entries(path)
    step = outcomes[3]
    assert (step.status, step.message) == (inner.status, inner.message)
    full = {k: v for k, v in inner.results["analysis"].items() if np.ndim(v[0]) == 0}
    assert step.scalars["analysis"].keys() == full.keys()
    assert step.scalars["analysis"]["s_max"] == full["s_max"]


def test_the_stability_wait_is_in_the_stored_trace(temperature_series):
    procedure, result = temperature_series
    c = read_run(result.path).columns
    for k, setpoint in enumerate((10.0, 150.0, 295.0, 400.0)):
        settle = (c["step"] == k) & (c["phase"] == 0)
        temps, in_band = c["temperature_K"][settle], c["in_band"][settle]
        times = c["bench_time_s"][settle]
        assert not in_band[0] or k == 0 and abs(temps[0] - setpoint) < 0.2
        # the last hold_s of the wait are all in the band, and the wait ends right after
        held = times >= times[-1] - procedure.hold_s
        assert np.all(in_band[held]) and np.all(np.abs(temps[held] - setpoint) <= 0.2)
        if k > 0:  # a real ramp: far from the setpoint at first
            assert abs(temps[0] - setpoint) > 50.0
        measure = (c["step"] == k) & (c["phase"] == 1)
        assert np.count_nonzero(measure) >= 5  # sampled during the inner run too
        assert c["bench_time_s"][measure].min() >= times[-1]
        # the trace is stored after the step, in one batch, with the temperature it read then
        assert np.array_equal(c["sample_temperature_K"][measure], c["temperature_K"][measure])


def test_a_stage_that_never_settles_fails_clearly_and_keeps_the_finished_steps(tmp_path):
    # The controller's default heater (50 W) cannot hold the stage above ~300 K.
    weak = CRYO.read_text().replace("heater_resistance_ohm = 25.0", "heater_resistance_ohm = 50.0") \
        .replace("heater_max_current_A = 2.0", "heater_max_current_A = 1.0")
    with cryo_bench(text=weak) as bench:
        assert bench.cryostat().driver.output(1).heater_setup.max_current_A == 1.0
        procedure = Series(over="temperature_K=10,340", hold_s=10.0, settle_timeout_s=4000.0,
                           inner="power_min_W=0.2;power_max_W=5;sweep_down=false;points=8;"
                                 "refine=false")
        result = Runner(procedure, bench, tmp_path / "s.h5").run()
        assert not bench.laser().is_emitting
    assert result.status == "failed"
    assert "did not settle at 340 K" in result.message and "±0.2 K for 10 s" in result.message
    assert run_entries(result.path) == ["entry", "step_00"]
    assert read_run(result.path, entry="step_00").status == "completed"


def test_series_over_an_inner_parameter_and_bad_settings(bench, tmp_path):
    procedure = Series(over="power_max_W=1.5,2.0", inner="points=6;refine=false;"
                       "sweep_down=false;power_min_W=0.3;target_counts=200")
    result = Runner(procedure, bench, tmp_path / "p.h5").run()
    assert result.status == "completed", result.message
    assert read_run(result.path, entry="step_01").parameters["power_max_W"][0] == 2.0
    from avlab.errors import ParameterError

    with pytest.raises(ParameterError, match="neither temperature_K"):
        Series(over="nonsense=1,2").check(bench)
    assert parse_values("10:300:8")[-1] == 300.0 and len(parse_values("10:300:8")) == 8


# --- an abort or a fault inside one step ----------------------------------------------------------

QUICK_INNER = "power_min_W=0.2;power_max_W=5;sweep_down=false;points=12;refine=false"


class _TripAfter(Series):
    """A series whose step 1 is interrupted after its 3rd recorded point by `action` (called in
    the worker thread, as an operator's stop or an instrument failing would land)."""

    def __init__(self, action, **values):
        super().__init__(**values)
        self.action = action

    def inner_procedure(self, value=None):
        procedure = super().inner_procedure(value)
        if value != 20.0:
            return procedure
        action, points = self.action, []
        original = type(procedure).run

        def run(ctx):
            record = ctx.record

            def counted(**row):
                record(**row)
                points.append(row)
                if len(points) == 3:
                    action()
            ctx.record = counted
            original(procedure, ctx)
        procedure.run = run
        return procedure


def _trip_series(tmp_path, action_for):
    with cryo_bench() as bench:
        box = []
        procedure = _TripAfter(lambda: action_for(bench, box[0]),
                               over="temperature_K=10,20,30", hold_s=10.0, inner=QUICK_INNER)
        runner = Runner(procedure, bench, tmp_path / "trip.h5")
        box.append(runner)
        result = runner.run()
        laser = bench.twins["pump_1064"]
        assert not laser.emission_requested  # the pump is off, at the twin itself
        assert not bench.laser().is_emitting
    return result


def test_an_abort_inside_a_step_keeps_the_finished_steps_and_stops_the_pump(tmp_path):
    result = _trip_series(tmp_path, lambda bench, runner: runner.abort("operator pressed stop"))
    assert result.status == "aborted" and result.message == "operator pressed stop"
    assert run_entries(result.path) == ["entry", "step_00", "step_01"]
    first = read_run(result.path, entry="step_00")
    assert first.status == "completed" and first.n_points == 12
    assert "s_max" in first.results["analysis"]
    broken = read_run(result.path, entry="step_01")
    assert broken.status == "aborted" and broken.n_points == 3
    assert read_run(result.path).status == "aborted"


def test_an_instrument_fault_inside_a_step_keeps_the_finished_steps_and_stops_the_pump(
        tmp_path):
    result = _trip_series(tmp_path, lambda bench, runner:
                          bench.twins["detector"].inject("drop_connection"))
    assert result.status == "failed"
    assert "step_01 (temperature_K = 20) failed" in result.message
    assert "steps before it are complete" in result.message
    assert run_entries(result.path) == ["entry", "step_00", "step_01"]
    assert read_run(result.path, entry="step_00").status == "completed"
    broken = read_run(result.path, entry="step_01")
    assert broken.status == "failed" and "InstrumentConnectionError" in broken.message
    assert broken.n_points == 3
