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
from avlab.storage import read_run, run_entries, summarize
from experiments.series.procedure import Series, parse_values

CRYO = Path(experiments.__file__).parent / "labs" / "cryostat_sim.toml"
#: docs/physics.md §5, Tm 1064 column: S_max at the S peak.
MODEL_S_MAX = {10.0: 43.2, 150.0: 36.6, 295.0: 26.4, 400.0: 21.9}


def hot_cryo_bench(seed: int = 3) -> Bench:
    """The cryostat bench with limits up to 420 K; the caller sets a 100 W heater (25 Ω, 2 A),
    which the stage needs above ~300 K."""
    text = CRYO.read_text().replace("max_setpoint_K = 350.0", "max_setpoint_K = 420.0") \
        .replace("temperature_limit_K = 360.0", "temperature_limit_K = 430.0")
    config = parse_config(text, "cryostat_hot.toml")
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation,
                                                                        seed=seed))
    return Bench(config)


@pytest.fixture(scope="module")
def temperature_series(tmp_path_factory):
    path = tmp_path_factory.mktemp("series") / "series.h5"
    with hot_cryo_bench() as bench:
        bench.cryostat().driver.output(1).heater_setup = (25, 2.0, "current")
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


def test_a_stage_that_never_settles_fails_clearly_and_keeps_the_finished_steps(tmp_path):
    with hot_cryo_bench() as bench:  # default 50 W heater: the stage tops out near 300 K
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
