"""Every fault every simulated twin offers, scheduled in the middle of a run.

For each bench config of experiments/labs (and a Cryostation variant of the cryostat bench),
each role's twin lists its faults (`fault_names`, from the driver specs). Each fault is
scheduled half-way through a short run of the procedure that uses the role (the S-curve;
`rise` on rise_sim.toml, `spectrum` on spectrometer_sim.toml and spectrapro_sim.toml,
`confocal` on confocal_sim.toml) and the run must end safely:

- failed or aborted, with the fault named in the status message (and in the file) —
  or completed, only where the fault cannot touch the procedure (CANNOT_AFFECT says why);
- every pump off afterwards (the laser twins emit nothing);
- the points recorded before the fault are kept;
- nothing bogus: each recorded row equals the same row of a fault-free run on an identically
  seeded bench (the simulation is deterministic), so no point measured with a tripped
  instrument reached the file. Faults that let the sample drift legitimately (a stopped
  cryocooler warms the sample within the excursion limit first) are checked against the
  excursion limit instead. Array chunks (the lines of a confocal image, the spectra of a
  stack) are held to the same rule: each written chunk equals the fault-free run's, and
  none is written after the fault reached the instrument.

Runs are kept short through their parameters; the whole matrix takes well under a minute.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from avlab.bench import Bench
from avlab.config import parse_config
from avlab.health import SAMPLE_TEMPERATURE
from avlab.events import ChunkWritten
from avlab.runner import Runner
from avlab.specs import driver_specs
from avlab.storage import open_run
from experiments.confocal import Confocal
from experiments.rise import Rise
from experiments.scurve import SCurve
from experiments.spectrum import Spectrum

LABS = Path(__file__).resolve().parent.parent / "experiments" / "labs"
SEED = 11


def _scurve(**extra: Any) -> Callable[[], Any]:
    def make() -> SCurve:
        return SCurve(points=8, refine=False, settle_s=0.2, target_counts=300, min_gate_s=0.01,
                      max_gate_s=2.0, dark_gate_s=1.0, meter_averages=10, **extra)
    return make


def _rise() -> Rise:
    return Rise(points=4, refine=False, bins=100, target_counts=2000, min_cycles=4,
                max_capture_s=5.0, decay_capture_s=0.0, dark_s=1.0, meter_averages=10)


def _spectrum(pixels: int = 2048) -> Callable[[], Spectrum]:
    def make() -> Spectrum:  # `pixels`: the file layout is fixed before the run
        return Spectrum(powers_W="0.4,0.9,1.3,2.0", averages=1, settle_s=0.2,
                        max_exposure_s=2.0, pixels=pixels)
    return make


def _confocal() -> Confocal:
    # One frame of 8 lines × 8 pixels at 1 ms dwell (~0.1 s of bench time): half-way through
    # its lines the fault meets the scanner mid-frame, between two lines.
    return Confocal(field_um=1.0, pixels_x=8, pixels_y=8, dwell_s=1e-3, power_W=0.5,
                    settle_s=0.2)


def _montana_text() -> str:
    text = (LABS / "cryostat_sim.toml").read_text()
    start = text.index("[instruments.cryostat]")
    end = text.index("[simulation]")
    return text[:start] + ('[instruments.cryostat]\ndriver = "montana_cryostation"\n'
                           'resource = "sim"\n[instruments.cryostat.limits]\n'
                           'max_setpoint_K = 300.0\n\n') + text[end:]


def _regulate_at_10_K(bench: Bench) -> None:
    """Run the sample stage under closed-loop control (heater on), so heater faults bite."""
    cryostat = bench.cryostat()
    cryostat.set_setpoint_K(10.0)
    cryostat.wait_stable(tolerance_K=0.2, stable_s=20.0, timeout_s=3600.0, poll_s=2.0)


@dataclass(frozen=True)
class BenchCase:
    name: str
    text: str
    procedure: Callable[[], Any]
    roles: tuple[str, ...]  # the roles whose faults this bench exercises
    prepare: Callable[[Bench], None] | None = None
    #: What "half-way" counts: the table's points, or the array chunks (a confocal run has
    #: one point per frame but a line chunk every few ms).
    timeline: str = "points"


BENCHES = {
    case.name: case for case in (
        BenchCase("simulated", (LABS / "simulated.toml").read_text(), _scurve(),
                  ("pump_1064", "power_meter", "detector")),
        BenchCase("attenuator", (LABS / "attenuator_sim.toml").read_text(), _scurve(),
                  ("attenuator",)),
        BenchCase("two_diodes", (LABS / "two_diodes_sim.toml").read_text(),
                  _scurve(pump_role="pump_852", power_min_W=0.004, power_max_W=0.15),
                  ("pump_852",)),
        BenchCase("cryostat", (LABS / "cryostat_sim.toml").read_text(), _scurve(),
                  ("cryostat",), _regulate_at_10_K),
        BenchCase("montana", _montana_text(), _scurve(), ("cryostat",), _regulate_at_10_K),
        BenchCase("rise", (LABS / "rise_sim.toml").read_text(), _rise,
                  ("modulator", "time_tagger")),
        BenchCase("spectrum", (LABS / "spectrometer_sim.toml").read_text(), _spectrum(),
                  ("spectrometer",)),
        BenchCase("spectrapro", (LABS / "spectrapro_sim.toml").read_text(),
                  _spectrum(pixels=1024),
                  ("spectrometer",)),
        BenchCase("confocal", (LABS / "confocal_sim.toml").read_text(), _confocal,
                  ("scanner",), timeline="chunks"),
    )
}

#: Drivers with a twin that no bench of the matrix exercises, and why (none today: a twin
#: that gains faults must join a bench here, or say why it cannot).
NOT_IN_MATRIX: dict[str, str] = {}

#: Faults that end a run completed, and why that is right.
CANNOT_AFFECT = {
    ("montana", "cryostat", "platform_sensor_failed"):
        "the health check reads the sample thermometer and the system alarm; a blind "
        "platform loop leaves the sample reading valid, and any drift it causes beyond "
        "max_excursion_K trips the run like any other excursion",
    ("spectrapro", "spectrometer", "grating_stuck"):
        "the spectrum procedure never turns the turret (the grating is chosen at connect, "
        "before the fault is due), so a jammed turret leaves every spectrum as it was; a "
        "grating change under this fault is a move error (test_spectrometers.py)",
}

#: A laser that hangs cannot be switched off in software: the run must say so loudly.
CANNOT_SWITCH_OFF = {("simulated", "pump_1064", "stop_answering"),
                     ("two_diodes", "pump_852", "stop_answering")}

#: How each fault must be named in the status message (case-insensitive regex).
NAMED = {
    "drop_connection": r"connection|link|no longer present|disappear|USB",
    "stop_answering": r"answer|time[sd]? ?out|timed out|hang",
    "answer_garbage": r"reply|unreadable|garbage|unexpected|understand",
    "interlock_open": r"interlock",
    "over_temperature": r"over.?temperature",
    "key_switch_off": r"key",
    "back_reflection": r"reflection",
    "over_range": r"over range",
    "sensor_unplugged": r"no sensor",
    "flood": r"flood|counts/s.*exceeds",
    "sensor_open": r"input A reading is invalid",
    "sensor_short": r"input A reading is invalid",
    "sample_sensor_open": r"input B reading is invalid",
    "heater_open": r"heater|excursion",
    "heater_short": r"heater|excursion",
    "cooler_stopped": r"excursion",
    "compressor_fault": r"alarm",
    "platform_sensor_failed": r"alarm|platform|sensor",
    "sample_sensor_failed": r"sample thermometer",
    "motor_stall": r"stall|mechanical|time-out|GS02",
    "sensor_error": r"sensor",
    "saturate": r"saturat",
    "grating_stuck": r"grating|turret|move",
    "camera_drop_connection": r"lost the camera|not present|connection",
    "camera_stop_answering": r"did not answer|time[sd]? ?out|timed out",
}

#: Faults under which the sample may legitimately drift before the trip.
DRIFTS = {"cooler_stopped", "compressor_fault", "heater_open", "heater_short",
          "sensor_open", "sensor_short", "platform_sensor_failed"}


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for bench in BENCHES.values():
        config = parse_config(bench.text, f"{bench.name}.toml")
        for role in bench.roles:
            twin = config.instruments[role].driver_spec.twin
            for fault in twin.fault_names():
                cases.append((bench.name, role, fault))
    return cases


CASES = _cases()


@dataclass
class Outcome:
    status: str
    message: str
    file_message: str
    columns: dict[str, np.ndarray]
    record_times_s: list[float]  # bench time when each point was written
    chunks: list[tuple[str, tuple[int, ...], float]]  # (item, index, bench time) as written
    arrays: dict[str, np.ndarray]  # each array item as the file holds it
    rows_on_disk: dict[str, int]  # rows (lines, spectra) each item has on disk
    lasers_dark: bool
    shutdown_ok: bool
    temperature_limit_K: float


def _run(bench_case: BenchCase, fault: tuple[str, str, float] | None, path: Path) -> Outcome:
    text = re.sub(r"^seed\s*=.*$", "", bench_case.text, flags=re.MULTILINE)
    text += f"\nseed = {SEED}\n"  # appended to the [simulation] table, the last one
    if fault is not None:
        role, name, at_s = fault
        text += (f'\n[[simulation.faults]]\nrole = "{role}"\nfault = "{name}"\n'
                 f"at_s = {at_s!r}\n")
    config = parse_config(text, f"{bench_case.name}.toml")
    times: list[float] = []
    chunk_times: list[float] = []
    written: list[ChunkWritten] = []

    def after_each() -> None:  # after every point or array chunk, on the worker thread
        while len(times) < runner._n_points:
            times.append(bench.now())
        while len(chunk_times) < runner._n_writes:
            chunk_times.append(bench.now())

    def on_event(event: Any) -> None:
        if isinstance(event, ChunkWritten):
            written.append(event)

    with Bench(config) as bench:
        if bench_case.prepare is not None:
            bench_case.prepare(bench)
        runner = Runner(bench_case.procedure(), bench, path, after_each=after_each)
        runner.subscribe(on_event, name="fault-matrix")
        result = runner.run()  # drains the event queues before it returns
        dark = all(bench.twins[laser.role].output_power_W() == 0.0 for laser in bench.lasers)
        limit = (bench.cryostat().max_excursion_K if bench.has("cryostat") else math.inf)
    assert len(written) == len(chunk_times)
    chunks = []
    for e, t in zip(written, chunk_times):
        index = tuple(np.atleast_1d(e.index).tolist())
        values = np.asarray(e.values)
        # a block of lines from one hardware read counts as its lines, one by one
        lines = len(values) if index and values.ndim == 2 else 1
        chunks += [(e.item, index[:-1] + (index[-1] + i,) if lines > 1 else index, t)
                   for i in range(lines)]
    with open_run(path) as data:
        arrays = {name: np.asarray(values) for name, values in data.array_axes.items()}
        arrays.update({name: handle.read() for name, handle in data.arrays.items()})
        rows = {name: handle.rows_written()[0] for name, handle in data.arrays.items()}
        return Outcome(result.status, result.message, data.message, dict(data.columns), times,
                       chunks, arrays, rows, dark, result.shutdown.ok, limit)


_baselines: dict[str, Outcome] = {}


def _baseline(name: str, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    if name not in _baselines:
        path = tmp_path_factory.mktemp(f"baseline_{name}") / "run.h5"
        outcome = _run(BENCHES[name], None, path)
        assert outcome.status == "completed", outcome.message
        timeline = (outcome.record_times_s if BENCHES[name].timeline == "points"
                    else [t for _, _, t in outcome.chunks])
        assert len(timeline) >= 4
        _baselines[name] = outcome
    return _baselines[name]


def test_the_matrix_covers_every_twin_with_faults():
    covered = {parse_config(b.text, "x.toml").instruments[r].driver
               for b in BENCHES.values() for r in b.roles}
    with_faults = {name for name, spec in driver_specs().items()
                   if spec.twin is not None and spec.twin.fault_names()}
    assert with_faults - covered == set(NOT_IN_MATRIX)
    assert {fault for _, _, fault in CASES} <= set(NAMED)


@pytest.mark.parametrize(("bench_name", "role", "fault"), CASES,
                         ids=[f"{b}-{r}-{f}" for b, r, f in CASES])
def test_a_fault_mid_run_ends_the_run_safely(tmp_path, tmp_path_factory, bench_name, role,
                                             fault):
    baseline = _baseline(bench_name, tmp_path_factory)
    times = (baseline.record_times_s if BENCHES[bench_name].timeline == "points"
             else [t for _, _, t in baseline.chunks])
    at_s = times[len(times) // 2]  # half-way: later commands see the fault
    kept = sum(t < at_s for t in baseline.record_times_s)  # the point written at at_s
    kept_chunks = [c[:2] for c in baseline.chunks if c[2] < at_s]  # meets the fault
    outcome = _run(BENCHES[bench_name], (role, fault, at_s), tmp_path / "run.h5")

    if (bench_name, role, fault) in CANNOT_SWITCH_OFF:
        assert not outcome.shutdown_ok and "SHUTDOWN PROBLEM" in outcome.message
    else:
        assert outcome.lasers_dark, "a pump is still emitting after the run"
    if (bench_name, role, fault) in CANNOT_AFFECT:
        assert outcome.status == "completed", outcome.message
    else:
        assert outcome.status in ("failed", "aborted"), (
            f"{fault} on {role} went unnoticed: {outcome.status}")
        assert re.search(NAMED[fault], outcome.message, re.IGNORECASE), outcome.message
        # The file keeps the message (truncated when very long, by design).
        assert re.search(NAMED[fault], outcome.file_message, re.IGNORECASE)

    rows = len(next(iter(outcome.columns.values()))) if outcome.columns else 0
    assert rows >= kept, f"only {rows} of the {kept} points before the fault were kept"
    for name, values in outcome.columns.items():
        expected = baseline.columns[name][:rows]
        if name in (SAMPLE_TEMPERATURE, "wall_time") or (fault in DRIFTS
                                                          and values.dtype.kind == "f"):
            continue
        assert len(expected) == rows, f"more points than the fault-free run ({name})"
        np.testing.assert_array_equal(values, expected, err_msg=f"column {name} differs "
                                      "from the fault-free run: a bogus point was recorded")
    if SAMPLE_TEMPERATURE in outcome.columns:
        temperature = outcome.columns[SAMPLE_TEMPERATURE]
        assert np.all(np.isfinite(temperature))
        reference = baseline.columns[SAMPLE_TEMPERATURE][0]
        assert np.all(np.abs(temperature - reference) <= outcome.temperature_limit_K + 0.5)

    # Array chunks (image lines, spectra): those written before the fault are kept, each one
    # written equals the fault-free run's, none was written after the fault reached a tripped
    # instrument, and the file holds exactly the chunks the run reported.
    chunks = [c[:2] for c in outcome.chunks]
    assert chunks[:len(kept_chunks)] == kept_chunks, (
        f"{len(chunks)} chunks written, {len(kept_chunks)} were before the fault")
    if (bench_name, role, fault) not in CANNOT_AFFECT:
        late = [c for c in outcome.chunks if c[2] > at_s]
        assert not late, f"chunks written after the fault at {at_s} s: {late}"
    for item, index, _ in outcome.chunks:
        np.testing.assert_array_equal(
            outcome.arrays[item][index], baseline.arrays[item][index],
            err_msg=f"{item}{list(index)} differs from the fault-free run: a bogus chunk")
    for item, rows_on_disk in outcome.rows_on_disk.items():
        assert rows_on_disk == sum(c[0] == item for c in chunks), f"{item}: stray rows on disk"
