"""Procedures come from the avlab.procedures entry points: a lab's own package, installed by
pip, appears in `avlab procedures` and runs with `avlab run`, with no edit to avlab."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from avlab.registry import RegistryError, load_procedure, procedure_names

PACKAGE_CODE = '''
"""A lab's own procedure, shipped in its own distribution."""
from avlab.data import Column
from avlab.procedure import AnalysisResult, Int, Procedure


class DarkCounts(Procedure):
    name = "dark_counts"
    title = "Dark counts of the detector, emission off"
    gates = Int(5, minimum=1, doc="gates to count")
    columns = [Column("gate", "", "i8"), Column("rate_cps", "counts/s")]
    signal, axes = "rate_cps", "gate"

    def run(self, ctx):
        for laser in ctx.bench.lasers:
            laser.emission_off()
        for i in range(self.gates):
            ctx.record(gate=i, rate_cps=ctx.bench.detector().count(1.0).rate_cps)

    def analyse(self, run):
        mean = float(run.columns["rate_cps"].mean())
        return AnalysisResult(summary=[f"mean dark rate {mean:.1f} counts/s"],
                              scalars={"mean_dark_rate_cps": (mean, "counts/s")})
'''


def _build_wheel(directory: Path) -> Path:
    """A real wheel of a tiny distribution that registers one procedure."""
    wheel = directory / "lab_procs-1.0-py3-none-any.whl"
    dist = "lab_procs-1.0.dist-info"
    files = {
        "lab_procs/__init__.py": PACKAGE_CODE,
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: lab-procs\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[avlab.procedures]\n"
                                   "dark_counts = lab_procs:DarkCounts\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr(f"{dist}/RECORD", record)
    return wheel


def test_built_in_procedures_are_registered_through_entry_points():
    assert "scurve" in procedure_names()
    assert load_procedure("scurve").name == "scurve"


def test_an_unknown_procedure_is_refused_with_the_available_names():
    with pytest.raises(RegistryError, match="unknown procedure 'nope'.*scurve"):
        load_procedure("nope")


def test_a_procedure_installed_from_a_separate_package_appears_and_runs(tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--disable-pip-version-check", "--target", str(site),
                    str(_build_wheel(tmp_path))], check=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}

    def avlab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "avlab.cli", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    listed = avlab("procedures")
    assert listed.returncode == 0, listed.stderr
    assert "dark_counts: Dark counts of the detector, emission off" in listed.stdout
    assert "--set gates (int, default 5): gates to count" in listed.stdout
    ran = avlab("run", "dark_counts", "--set", "gates=3", "--out", "d.h5", "--no-plot")
    assert ran.returncode == 0, ran.stderr
    assert "mean dark rate" in ran.stdout
    inspected = avlab("inspect", "d.h5")
    assert "mean_dark_rate_cps" in inspected.stdout
