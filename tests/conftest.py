"""Shared fixtures: everything runs on the simulated bench, no hardware."""

from __future__ import annotations

import dataclasses
import os
import warnings

import pytest
from hypothesis import settings

# Property-based tests: no per-example deadline (a loaded 2-core machine is slow at times);
# in CI the examples are derived from each test's name, so a run there is reproducible.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None,
                          print_blob=True)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# pymeasure warns about its own deprecations when upstream drivers are constructed.
warnings.filterwarnings("ignore", category=FutureWarning, module="pymeasure")


@pytest.fixture
def sim_config():
    """The built-in simulated bench config with a fixed random seed."""
    from avlab.config import load_config

    config = load_config()
    return dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=7))


@pytest.fixture
def bench(sim_config):
    from avlab.bench import Bench

    with Bench(sim_config) as b:
        yield b


@pytest.fixture
def sim_laser(bench):
    """The simulated twin behind the bench's pump laser (to check what really happens)."""
    return bench.laser().driver.adapter.device
