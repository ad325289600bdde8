"""Helpers shared by the physics engine, the ensembles and the model fit: level parsing, preset
operations and hashing, the S-peak refinement, surface quenching, rise times of a compiled model."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest

from sim_devices.physics import compile_model, emission_table, get_preset, rise_half_time_s
from sim_devices.physics.ensemble import TM_SURFACE_QUENCHING, SurfaceQuenching
from sim_devices.physics.model import RateModel
from sim_devices.physics.preset import LevelRef, LevelSyntaxError
from sim_devices.physics.table import parabola_vertex, peak_index


def test_one_level_parser_for_every_caller():
    tm = get_preset("tm8_1064")
    assert tm.level(" Tm : 3H4 ") == LevelRef("Tm", "3H4")
    expected = (LevelRef("Tm", "3H4"), LevelRef("Tm", "3F4"))
    assert tm.level_arrow("Tm:3H4 -> 3F4") == tm.level_arrow("Tm:3H4->Tm:3F4") == expected
    for text, message in [("3H4", "must name the species"), ("Yb:3H4", "unknown species 'Yb'"),
                          ("Tm:3H5", "unknown level '3H5' of Tm"), (None, "must be a level")]:
        with pytest.raises(LevelSyntaxError, match=message):
            tm.level(text)
    with pytest.raises(LevelSyntaxError, match="must read like"):
        tm.level_arrow("Tm:3H4")
    pryb = get_preset("pryb_852")
    with pytest.raises(LevelSyntaxError, match="cannot change species"):
        pryb.level_arrow(f"Pr:{pryb.species_named('Pr').levels[1].name} -> "
                         f"Yb:{pryb.species_named('Yb').levels[0].name}")


def test_preset_classifies_pumps_and_transfer_rates():
    tm = get_preset("tm8_1064")
    assert [t.name for t in tm.pump_transitions if tm.is_gsa(t)] == ["GSA"]
    assert [t.name for t in tm.pump_transitions if tm.is_esa(t)] == ["ESA"]
    rates = compile_model(tm, tm.reference_temperature_K).rates_per_s
    for tr in tm.transfers:
        if tr.mismatch_cm1 == 0.0:
            assert rates[f"transfer {tr.name}"] == tm.transfer_rate_per_s(tr)
    doubled = tm.with_scaled_cross_sections(2.0, tm.is_esa)
    assert doubled.beta == pytest.approx(2.0 * tm.beta, rel=1e-15)


def test_preset_hash_is_cached_equal_for_equal_presets_and_not_pickled():
    tm = get_preset("tm8_1064")
    fields = dataclasses.fields(tm)
    assert hash(tm) == hash(tuple(getattr(tm, f.name) for f in fields if f.compare))
    copy = pickle.loads(pickle.dumps(tm))
    assert "_hash" not in copy.__dict__ and copy == tm and hash(copy) == hash(tm)
    renamed = dataclasses.replace(tm, name="other")
    assert "_hash" not in renamed.__dict__ and renamed != tm


def test_parabola_vertex_and_peak_index():
    x = np.log([1.0, 1.1, 1.21])
    y = 3.0 - (x - x[1] - 0.3 * (x[2] - x[1])) ** 2
    xv, yv = parabola_vertex(x, y)
    assert xv == pytest.approx(x[1] + 0.3 * (x[2] - x[1]), rel=1e-12)
    assert yv == pytest.approx(3.0, rel=1e-12)
    assert parabola_vertex(x, np.array([1.0, 1.0, 1.0])) == (x[1], 1.0)  # flat: middle point
    assert peak_index(np.array([5.0, 1.0, 0.0])) == 1  # kept off the ends
    assert peak_index(np.array([np.nan, 1.0, 2.0, 0.0])) == 2  # NaN counts as smallest


def test_surface_quenching_is_derived_from_the_preset():
    assert TM_SURFACE_QUENCHING == SurfaceQuenching(("Tm:3F4 -> 3H6", "Tm:3H4 -> 3F4"), 162.6)
    no_reservoir_decay = dataclasses.replace(
        get_preset("tm8_1064"),
        decays=tuple(d for d in get_preset("tm8_1064").decays if str(d.initial) != "Tm:3F4"))
    with pytest.raises(ValueError, match="no decay to scale"):
        SurfaceQuenching.of(no_reservoir_decay)


def test_rise_time_of_a_compiled_model_equals_that_of_its_preset():
    preset = get_preset("tm8_1064")
    i = 1.05 * emission_table(preset).s_max()[1]
    model = RateModel(preset, 150.0)
    assert rise_half_time_s(model, i) == rise_half_time_s(preset, i, temperature_K=150.0)
    assert math.isfinite(rise_half_time_s(model, i))
