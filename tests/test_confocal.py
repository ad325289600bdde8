"""Confocal imaging on the simulated confocal bench: spot sizes against λ/(2·NA·√S), the power
series' minimum at the S peak, the galvo limits refused with numbers, the image as the file's
NeXus default plot written line by line, a SIGKILL mid-scan, and the best-resolution workflow."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import load_config
from avlab.errors import ParameterError
from avlab.runner import Runner
from avlab.storage import read_run, summarize
from experiments.confocal.best import ConfocalBest, rise_half_time_s
from experiments.confocal.procedure import Confocal

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path(experiments.__file__).parent / "labs" / "confocal_sim.toml"
#: S_max of the default sample (tm8_1064) and its intensity, from the model (docs/physics.md).
S_PEAK_KW_CM2 = 5.33


def confocal_config():
    config = load_config(CONFIG)
    return dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=7))


@pytest.fixture
def bench():
    with Bench(confocal_config()) as b:
        yield b


def run(procedure, bench, path):
    result = Runner(procedure, bench, path).run()
    assert result.status == "completed", result.message
    assert not result.analysis_error, result.analysis_error
    return result


def model_s_max(bench) -> tuple[float, float]:
    return bench.world.emission_table().s_max_refined()


def test_image_at_maximal_s_is_lambda_over_2na_sqrt_s_max(bench, tmp_path):
    s_max, intensity = model_s_max(bench)
    proc = Confocal(field_um=0.41, pixels_x=41, pixels_y=41, dwell_s=2.0,
                    intensity_kW_cm2=intensity)
    result = run(proc, bench, tmp_path / "peak.h5")
    scalars = result.analysis.scalars
    assert scalars["n_spots"][0] == 1
    predicted = 1064.0 / (2 * 1.49 * math.sqrt(s_max))
    assert predicted == pytest.approx(69.4, abs=0.5)
    for axis in ("fwhm_long_nm", "fwhm_short_nm"):
        assert scalars[axis][0] == pytest.approx(predicted, rel=0.10)
    # the run really was at the S peak: intensity measured from the meter
    assert result.data.columns["intensity_kW_cm2"][0] == pytest.approx(intensity, rel=0.01)
    png = proc.plot(result.data, result.analysis, tmp_path / "peak.png")
    assert png.stat().st_size > 10_000


def test_power_series_is_one_stack_with_the_fwhm_minimum_at_the_s_peak(bench, tmp_path):
    """Far above the S peak the spot is ≥ 200 nm; the sharpest frame is at the S peak, and
    with an S-curve run the comparison uses S at each frame's intensity."""
    scurve = tmp_path / "scurve.h5"
    from experiments.scurve.procedure import SCurve

    run(SCurve(points=25, power_min_W=0.15, power_max_W=1.0, sweep_down=False,
               settle_s=1.0, dark_gate_s=5.0), bench, scurve)
    proc = Confocal(field_um=0.62, pixels_x=31, pixels_y=31, dwell_s=1.0,
                    relative_intensities="0.85, 1, 1.25, 3, 5", scurve_run=str(scurve))
    result = run(proc, bench, tmp_path / "series.h5")
    data = result.data
    assert data.arrays["counts"].shape == (5, 31, 31)
    assert data.arrays["counts"].stacked
    intensity = data.array_axes["frame_intensity_kW_cm2"]
    threshold = result.analysis.scalars["reference_s_peak_kW_cm2"][0]
    assert intensity == pytest.approx(threshold * np.array([0.85, 1, 1.25, 3, 5]), rel=0.01)
    fwhm = result.analysis.arrays["frame_median_fwhm_nm"][0]
    assert int(np.nanargmin(fwhm)) == 1
    assert fwhm[1] < 90.0
    assert fwhm[3] > 200.0 and fwhm[4] > 200.0  # deep in saturation: wide again
    minimum = result.analysis.scalars["fwhm_min_intensity_kW_cm2"][0]
    assert minimum == pytest.approx(threshold, rel=0.15)
    assert proc.plot(data, result.analysis, tmp_path / "series.png").is_file()


def test_fields_beyond_the_galvo_limits_are_refused_with_the_excess(bench, tmp_path):
    # reachable: ±10 V × 17.45/0.8 µm/V = ±218 µm
    with pytest.raises(ParameterError, match=r"voltage limit.*V beyond ±10 V.*µm past"):
        Confocal(field_um=300.0, center_x_um=100.0).check(bench)
    with pytest.raises(ParameterError, match=r"slew limit: the pixel steps.*× the 15.7 V/ms "
                                             r"limit.*a dwell of at least"):
        Confocal(field_um=200.0, pixels_x=10, dwell_s=1e-6, flyback_pixels=50).check(bench)
    with pytest.raises(ParameterError, match=r"the turnaround between lines.*flyback pixels"):
        Confocal(field_um=100.0, pixels_x=1000, dwell_s=2e-5, flyback_pixels=2).check(bench)
    assert bench.world.beam_position_um.tolist() == [0.0, 0.0]  # nothing moved
    Confocal(field_um=100.0, pixels_x=1000, dwell_s=2e-5).check(bench)  # auto flyback fits
    assert not list(tmp_path.iterdir())


def test_nexus_default_plot_is_the_image_with_um_axes(bench, tmp_path):
    nexus = pytest.importorskip("nexusformat.nexus")
    path = tmp_path / "image.h5"
    run(Confocal(field_um=1.0, pixels_x=20, pixels_y=12, dwell_s=0.01, power_W=0.5,
                 bidirectional=True, line_averages=2, frame_averages=2), bench, path)
    root = nexus.nxload(str(path))
    plot = root.plottable_data
    assert plot.nxname == "counts"
    assert plot.nxsignal.shape == (12, 20)
    assert [a.nxname for a in plot.nxaxes] == ["y_um", "x_um"]
    assert all(str(a.attrs["units"]) == "um" for a in plot.nxaxes)
    x = np.asarray(plot.nxaxes[1].nxdata)
    assert x[0] == pytest.approx(-0.475) and x[-1] == pytest.approx(0.475)
    # averages sum Poisson counts: two line passes and two frames per pixel
    data = read_run(path)
    assert data.arrays["counts"].rows_written() == (12, 12)


def test_best_resolution_workflow_in_one_file(bench, tmp_path):
    path = tmp_path / "best.h5"
    proc = ConfocalBest(scurve_points=20)
    result = run(proc, bench, path)
    scalars = result.analysis.scalars
    s_max = scalars["s_max"][0]
    assert s_max == pytest.approx(26.4, rel=0.1)
    data = result.data
    measured = {k: v[0] for k, v in data.results["measurements"].items()}
    assert measured["s_peak_intensity_kW_cm2"] == pytest.approx(S_PEAK_KW_CM2, rel=0.05)
    assert measured["final_dwell_s"] == pytest.approx(10 * measured["t_half_s"])
    assert 0.01 < measured["t_half_s"] < 0.5
    assert (measured["particle_x_um"], measured["particle_y_um"]) == pytest.approx((0, 0),
                                                                                    abs=0.02)
    assert scalars["fwhm_over_predicted"][0] == pytest.approx(1.0, abs=0.10)
    assert set(data.arrays) == {"coarse", "rise_counts", "image"}
    assert data.default == "image"
    text = summarize(path)
    assert "median_fwhm_nm" in text and "predicted_fwhm_nm" in text and "t_half_s" in text
    png = proc.plot(data, result.analysis, tmp_path / "best.png")
    assert png.stat().st_size > 20_000


def test_a_final_dwell_shorter_than_the_rise_time_is_warned(bench, tmp_path):
    from avlab.events import LogMessage

    proc = ConfocalBest(scurve_points=12, final_dwell_s=0.002, final_pixels=16)
    runner = Runner(proc, bench, tmp_path / "short.h5")
    events = runner.events()
    result = runner.run()
    assert result.status == "completed", result.message
    warnings = [e.message for e in events if isinstance(e, LogMessage) and e.level >= 30]
    assert any("shorter than the particle's rise time" in w for w in warnings)
    assert any("WARNING" in line for line in result.analysis.summary)


def test_rise_half_time_of_a_known_rise():
    rng = np.random.default_rng(3)
    t = np.arange(400) * 0.01
    expected = 100.0 * (1 - np.exp(-t * math.log(2) / 0.2))
    t_half, steady = rise_half_time_s(rng.poisson(expected), 0.01)
    assert t_half == pytest.approx(0.2, rel=0.1)
    assert steady == pytest.approx(100.0, rel=0.05)
    assert math.isnan(rise_half_time_s(rng.poisson(np.full(400, 3.0)), 0.01)[0])


CHILD = """
import dataclasses, sys
from pathlib import Path
from avlab.bench import Bench
from avlab.config import load_config
from avlab.runner import Runner
from experiments.confocal.procedure import Confocal
config = load_config(Path(sys.argv[1]))
with Bench(config) as bench:
    # the particle sits on the first lines; line averaging makes each line a task of its own
    Runner(Confocal(field_um=1.0, field_y_um=0.2, center_y_um=0.1, pixels_x=32,
                    pixels_y=4000, line_averages=2, dwell_s=2e-3, power_W=0.5),
           bench, sys.argv[2]).run()
"""


def test_sigkill_mid_scan_keeps_every_finished_line(tmp_path):
    path = tmp_path / "killed.h5"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(CONFIG), str(path)], env=env,
                             cwd=tmp_path)
    try:
        seen = 0
        deadline = time.monotonic() + 120.0
        while seen < 20 and time.monotonic() < deadline:
            assert child.poll() is None, "the run ended before it could be killed"
            try:
                with h5py.File(path, "r", libver="latest", swmr=True) as f:
                    ds = f["entry/counts/counts"]
                    ds.refresh()
                    seen = int(ds.id.get_num_chunks())
            except (OSError, KeyError):
                pass
            time.sleep(0.05)
        assert seen >= 20
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    cli = [sys.executable, "-m", "avlab.cli"]
    recovered = subprocess.run(cli + ["recover", str(path)], env=env, capture_output=True,
                               text=True, timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    with h5py.File(path, "r") as f:
        ds = f["entry/counts/counts"]
        lines = int(ds.id.get_num_chunks())
        assert seen <= lines < 4000
        image = ds[()]
        written = image[:lines]
        assert written.sum() > 0  # the particle's lines hold counts; nothing was lost
        assert f["entry/counts"].attrs["signal"] == "counts"
    inspected = subprocess.run(cli + ["inspect", str(path)], env=env, capture_output=True,
                               text=True, timeout=120)
    assert inspected.returncode == 0, inspected.stderr
    assert f"{lines} of 4000 lines written (incomplete)" in inspected.stdout
