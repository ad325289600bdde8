"""The scanner role on the simulated bench: a line through a particle, limits, overload."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import experiments
from avlab.bench import Bench
from avlab.config import ConfigError, load_config, parse_config
from avlab.errors import DetectorOverloadError, SafetyLimitError
from drivers.scanning import RasterFrame

CONFIG = Path(experiments.__file__).parent / "labs" / "confocal_sim.toml"


@pytest.fixture
def bench():
    config = load_config(CONFIG)
    config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=4))
    with Bench(config) as b:
        yield b


def line_frame(dwell_s: float = 0.5) -> RasterFrame:
    return RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=1.0, height_um=0.02,
                       pixels_x=50, pixels_y=1, dwell_s=dwell_s, flyback_pixels=4)


def test_a_line_through_the_particle_peaks_on_it(bench):
    laser = bench.laser()
    laser.set_power_W(0.3)  # ~6 kW/cm² at the focus: just above threshold
    laser.emission_on()
    lines = list(bench.scanner().scan_lines(line_frame()))
    assert len(lines) == 1
    counts, x = lines[0].counts, lines[0].x_um
    assert abs(x[np.argmax(counts)]) < 0.05
    assert counts.max() > 20 * np.median(counts[:5])  # particle far above the background


def test_a_frame_beyond_the_galvo_limits_is_refused_before_anything_moves(bench):
    wide = dataclasses.replace(line_frame(), width_um=2000.0)
    with pytest.raises(SafetyLimitError, match="scanner:"):
        list(bench.scanner().scan_lines(wide))
    assert bench.world.beam_position_um.tolist() == [0.0, 0.0]


def test_a_line_above_the_count_rate_limit_stops_the_scan(bench):
    bench.twins["scanner"].inject("flood")
    with pytest.raises(DetectorOverloadError, match="exceeds the configured limit"):
        list(bench.scanner().scan_lines(line_frame(dwell_s=0.01)))


def test_per_axis_calibration_accepts_an_xy_pair():
    text = CONFIG.read_text().replace("um_per_degree = 17.45", "um_per_degree = [17.45, 17.9]")
    config = parse_config(text, "confocal.toml")
    assert config.instruments["scanner"].options["um_per_degree"] == [17.45, 17.9]


def test_a_malformed_pair_is_a_config_error():
    text = CONFIG.read_text().replace("um_per_degree = 17.45", "um_per_degree = [1, 2, 3]")
    with pytest.raises(ConfigError, match="scanner.um_per_degree: must be a number or an"):
        parse_config(text, "confocal.toml")


def test_short_lines_arrive_in_blocks_of_one_read_and_long_ones_one_by_one(bench):
    """Lines shorter than the read period come a few per counter read (read_end marks the
    last of each read), in order; lines longer than it one per read."""
    from drivers.scanning.nidaq_galvo import READ_PERIOD_S, lines_per_read

    fast = RasterFrame(x_center_um=0.0, y_center_um=0.0, width_um=2.0, height_um=2.0,
                       pixels_x=100, pixels_y=20, dwell_s=1e-5, flyback_pixels=4)
    per_read = lines_per_read(fast.samples_per_line, 1.0 / fast.dwell_s)
    assert per_read == int(READ_PERIOD_S // (fast.samples_per_line * fast.dwell_s)) > 1
    lines = list(bench.scanner().scan_lines(fast))
    assert [line.index for line in lines] == list(range(20))
    ends = [line.index for line in lines if line.read_end]
    assert ends == [min(k + per_read, 20) - 1 for k in range(0, 20, per_read)]
    slow = dataclasses.replace(fast, pixels_y=3, dwell_s=5e-4)  # 52 ms per line
    assert all(line.read_end for line in bench.scanner().scan_lines(slow))
    assert lines_per_read(104, 1e5) == 19 and lines_per_read(104, 1e3) == 1
