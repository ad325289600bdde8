"""Shared fixtures: everything runs on the simulated bench, no hardware."""

from __future__ import annotations

import dataclasses
import os
import warnings

import pytest

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
