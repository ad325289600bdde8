"""`avlab fit` reports a fit it cannot trust as failed (issue 8): a run killed before the
S peak gave "collection efficiency 161, S_max 776 ± 1.5e7" with exit 0; and a derived quantity
no free parameter moves is printed without a meaningless "± 0"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from avlab.cli import main
from avlab.storage import read_run

KILL_AFTER = """
import os, signal, sys, warnings
warnings.filterwarnings("ignore")
from avlab.bench import Bench
from avlab.config import load_config
from avlab.runner import Runner
from experiments.scurve import SCurve

# Called in the worker after each stored point (listeners run later, on their own threads),
# so the kill lands after exactly N points.
class KillAfter:
    def __init__(self): self.n = 0
    def __call__(self):
        self.n += 1
        if self.n == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

Runner(SCurve(), Bench(load_config()), sys.argv[1], after_each=KillAfter()).run()
"""


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """An S-curve SIGKILLed after 10 points (all below the threshold), then recovered."""
    out = tmp_path_factory.mktemp("killed") / "killed.h5"
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER, str(out), "10"], timeout=120,
                          capture_output=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert main(["recover", str(out)]) == 0
    assert read_run(out).n_points == 10
    return out


def test_fit_of_a_run_killed_before_the_s_peak_fails_with_the_reasons(killed_run, capsys):
    assert main(["fit", str(killed_run)]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out
    assert "the fit of" in captured.err and "failed" in captured.err
    assert "S peak" in captured.err and "not covered" in captured.err
    assert "uncertainty" in captured.err


def test_fit_of_a_run_killed_before_the_s_peak_reports_failures_through_the_api(killed_run):
    from experiments.scurve.model_fit import fit_scurve, scurve_data_from_run

    fit = fit_scurve("tm8_1064", *scurve_data_from_run(read_run(killed_run)),
                     ["beta", "background"])
    reasons = fit.failures()
    assert any("S peak" in r for r in reasons)
    assert fit.s_peak_reported_kW_cm2() > fit.intensity_kW_cm2.max()


def test_a_complete_fit_passes_and_prints_no_plus_minus_zero(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(["run", "scurve", "--out", str(out), "--no-plot", "--set", "sweep_down=no"]) == 0
    capsys.readouterr()
    assert main(["fit", str(out), "--free", "beta,background"]) == 0
    text = capsys.readouterr().out
    assert "± 0 " not in text and not any(line.rstrip().endswith("± 0")
                                          for line in text.splitlines())
    loop = next(line for line in text.splitlines() if "threshold_loop_kW_cm2" in line)
    assert "±" not in loop and "derived" in loop  # beta does not move the loop threshold
    assert "FAILED" not in text


def test_points_without_an_intensity_are_left_out_of_the_fit_data():
    """The S-curve stores a point whose meter reading was at the noise floor with NaN
    intensity; the fit's data (and thermometry's interpolation) skip it like the analysis."""
    from types import SimpleNamespace

    import numpy as np

    from experiments.scurve.model_fit import scurve_data_from_run
    from experiments.thermometry.procedure import emission_at

    columns = {"intensity_kW_cm2": np.array([np.nan, 1.0, 2.0, 4.0]),
               "signal_cps": np.array([5.0, 10.0, 40.0, 160.0]),
               "signal_sigma_cps": np.array([2.0, 3.0, 6.0, 12.0]),
               "direction": np.array([1, 1, 1, 1])}
    intensity, signal, _ = scurve_data_from_run(SimpleNamespace(columns=columns))
    assert list(intensity) == [1.0, 2.0, 4.0] and list(signal) == [10.0, 40.0, 160.0]
    run = SimpleNamespace(columns=columns)
    assert emission_at(run, 3.0)[0] == pytest.approx(40.0 * 4 ** np.log2(1.5))
    with pytest.raises(ValueError, match="outside the measured range 1 … 4"):
        emission_at(run, 8.0)
