"""The S-curve procedure on the simulated bench: physics, adaptivity, storage, limits."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from avlab.errors import ParameterError
from avlab.runner import Runner
from avlab.storage import read_run
from experiments.scurve import SCurve


@pytest.fixture(scope="module")
def scurve_run(tmp_path_factory):
    """One default S-curve on the built-in simulated bench (seeded)."""
    import dataclasses

    from avlab.bench import Bench
    from avlab.config import load_config

    config = load_config()
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=3))
    path = tmp_path_factory.mktemp("scurve") / "scurve.h5"
    with Bench(config) as bench:
        result = Runner(SCurve(), bench, path).run()
        laser_on_after = bench.laser().driver.adapter.device.emission_requested
    return result, read_run(path), laser_on_after


def test_default_scurve_reports_s_max_and_threshold_of_the_preset(scurve_run):
    result, data, _ = scurve_run
    assert result.status == "completed"
    up = result.analysis.detail.up
    assert 20.0 <= up.s_max <= 30.0
    assert 3.0 <= up.threshold_s_peak_kW_cm2 <= 8.0
    # docs/physics.md §7: S_max 26.4 at 5.33 kW/cm², asymptote-tangent threshold 4.54 kW/cm².
    assert up.threshold_s_peak_kW_cm2 == pytest.approx(5.33, rel=0.05)
    assert up.threshold_tangent_kW_cm2 == pytest.approx(4.54, rel=0.10)


def test_analysis_is_stored_in_the_run_file(scurve_run):
    result, data, _ = scurve_run
    analysis = data.results["analysis"]
    assert analysis["s_max"][0] == pytest.approx(result.analysis.detail.up.s_max)
    assert analysis["threshold_s_peak_kW_cm2"][1] == "kW/cm^2"
    assert "gain_2x" in analysis


def test_emission_is_off_after_the_run(scurve_run):
    assert scurve_run[2] is False


def test_sweep_refines_around_the_steepest_region(scurve_run):
    _, data, _ = scurve_run
    up = data.columns["direction"] == 1
    intensity = np.sort(data.columns["intensity_kW_cm2"][up])
    steps = np.diff(np.log(intensity))
    coarse_step = np.log(2.0 / 0.08) / 39
    near = (intensity[:-1] > 4.5) & (intensity[:-1] < 6.5)
    assert np.count_nonzero(near) >= 10
    assert np.max(steps[near]) < 0.5 * coarse_step


def test_refined_sweep_resolves_the_peak_better_than_a_coarse_one(bench, tmp_path):
    from experiments.scurve.analysis import local_slope

    def peak_slope(refine: bool, name: str) -> tuple[float, int]:
        Runner(SCurve(refine=refine, sweep_down=False), bench, tmp_path / name).run()
        c = read_run(tmp_path / name).columns
        slope = local_slope(c["intensity_kW_cm2"], c["signal_cps"], c["signal_sigma_cps"])
        return float(np.nanmax(slope)), len(slope)

    coarse_s, coarse_n = peak_slope(False, "c.h5")
    fine_s, fine_n = peak_slope(True, "f.h5")
    assert fine_n > coarse_n
    assert coarse_s < 22.0  # a 40-point log grid misses the narrow peak (true S_max 26.4)
    assert abs(fine_s - 26.4) < 2.5


def test_gate_adapts_so_points_collect_the_target_counts(scurve_run):
    _, data, _ = scurve_run
    gate, counts = data.columns["gate_s"], data.columns["counts"]
    at_max_gate = np.isclose(gate, 60.0)
    assert np.all(counts[~at_max_gate] >= 2500 * 0.9)  # bright points reach the target
    assert gate.max() / gate.min() > 100  # long gates below threshold, short ones above
    assert np.all(data.columns["rate_cps"] > 0)


def test_up_and_down_sweeps_agree_for_the_monostable_model(scurve_run):
    result, _, _ = scurve_run
    down = result.analysis.detail.down
    assert down is not None
    assert down.threshold_s_peak_kW_cm2 == pytest.approx(
        result.analysis.detail.up.threshold_s_peak_kW_cm2, rel=0.03)


def test_every_measured_point_has_units_and_nxdata_plots_signal_vs_intensity(scurve_run):
    _, data, _ = scurve_run
    with h5py.File(data.path, "r") as f:  # a plain reader, as any HDF5 tool
        entry = f[f.attrs["default"]]
        nxdata = entry[entry.attrs["default"]]
        assert nxdata.attrs["NX_class"] == "NXdata"
        assert nxdata.attrs["signal"] == "signal_cps"
        assert nxdata.attrs["axes"] == "intensity_kW_cm2"
        assert nxdata["intensity_kW_cm2"].attrs["units"] == "kW/cm^2"
        for name, ds in nxdata.items():
            assert "units" in ds.attrs, name
            assert ds.shape == (data.n_points,)
        assert entry["status"][()].decode().strip("\x00") == "completed"
        assert "ipg_ylr" in entry["config"][()].decode()
        assert entry["measurements/dark_rate_cps"][()] > 0


def test_sample_intensity_follows_the_meter_and_the_optics(scurve_run):
    _, data, _ = scurve_run
    c = data.columns
    w_cm = 0.30325e-4
    expected = 2 * c["meter_power_W"] * 0.30 / (np.pi * w_cm**2) / 1e3
    np.testing.assert_allclose(c["intensity_kW_cm2"], expected, rtol=1e-3)


def test_power_above_the_laser_limit_is_refused_before_the_run(bench, sim_laser, tmp_path):
    with pytest.raises(ParameterError, match="exceeds the configured limit 3 W for pump_1064"):
        Runner(SCurve(power_max_W=4.0), bench, tmp_path / "x.h5").run()
    assert not (tmp_path / "x.h5").exists()
    assert not sim_laser.emission_requested


def test_parameters_reject_bad_values():
    with pytest.raises(ParameterError, match="points"):
        SCurve(points=2)
    with pytest.raises(ParameterError, match="settle_s"):
        SCurve().set_from_strings(["settle_s=-1"])
    with pytest.raises(ParameterError, match="no parameter 'power_W'"):
        SCurve().set_from_strings(["power_W=1"])
    proc = SCurve()
    proc.set_from_strings(["points=12", "sweep_down=no", "settle_s=0.5"])
    assert (proc.points, proc.sweep_down, proc.settle_s) == (12, False, 0.5)


def test_fault_during_the_sweep_fails_the_run_with_emission_off(bench, sim_laser, tmp_path):
    class Faulty:
        def __init__(self):
            self.n = 0

        def on_point(self, row):
            self.n += 1
            if self.n == 10:
                sim_laser.inject_fault(1)  # over-temperature: emission stops

        def on_progress(self, *_):
            pass

    result = Runner(SCurve(), bench, tmp_path / "f.h5", listeners=[Faulty()]).run()
    assert result.status == "failed"
    assert not sim_laser.emission_requested
    assert read_run(tmp_path / "f.h5").n_points >= 10


def test_default_power_range_follows_the_chosen_lasers_limit(tmp_path, capsys):
    """two_diodes_sim.toml limits pump_852 to 0.15 W: the default sweep must fit without a
    power override (it used to stop at 'power_max_W 2 W exceeds the configured limit')."""
    from pathlib import Path

    import experiments
    from avlab.cli import main

    config = Path(experiments.__file__).parent / "labs" / "two_diodes_sim.toml"
    out = tmp_path / "diode.h5"
    code = main(["run", "scurve", "--config", str(config), "--set", "pump_role=pump_852",
                 "--set", "points=8", "--set", "refine=no", "--set", "sweep_down=no",
                 "--out", str(out), "--no-plot"])
    assert code == 0, capsys.readouterr().err
    run = read_run(out)
    assert run.parameters["power_max_W"][0] == 0.15  # stored as resolved, not as 0
    assert np.max(run.columns["power_setpoint_W"]) == pytest.approx(0.15)
