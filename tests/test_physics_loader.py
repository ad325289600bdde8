"""Preset TOML files: the shipped ones load, a user's own file loads, and every mistake in a
file stops the load with a PresetError naming the file and the entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim_devices.physics import PRESETS, PresetError, emission_table, load_preset
from sim_devices.physics.registry import PRESET_DIR

GOOD = """\
schema_version = 1
name = "toy"
description = "a toy three-level avalanche"
pump_wavelength_nm = 1064.0
main_line = "emitter"

[[species]]
name = "X"
concentration = 0.05
levels = [
    { name = "g", energy_cm1 = 0.0 },
    { name = "r", energy_cm1 = 5000.0 },
    { name = "e", energy_cm1 = 12000.0 },
]

[[absorption]]
name = "GSA"
from = "X:g"
to = "X:r"
cross_section_cm2 = 2e-24

[[absorption]]
name = "ESA"
from = "X:r"
to = "X:e"
cross_section_cm2 = 6e-21

[[radiative]]
level = "X:r"
rate_per_s = 150.0
branching = { "g" = 1.0 }

[[radiative]]
level = "X:e"
rate_per_s = 600.0
branching = { "r" = 0.2, "g" = 0.8 }

[[transfer]]
name = "CR"
kind = "cross-relaxation"
donor = "X:e -> r"
acceptor = "X:g -> r"
rate_per_s = 9000.0

[[line]]
name = "emitter"
transition = "X:e -> g"
wavelength_nm = 800.0
"""


def write(tmp_path: Path, text: str, name: str = "toy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str):
    return load_preset(write(tmp_path, text))


def test_good_file_loads_and_computes(tmp_path):
    preset = load_text(tmp_path, GOOD)
    assert preset.name == "toy" and preset.level_labels == ("X:g", "X:r", "X:e")
    assert preset.line_named("emitter").share == pytest.approx(0.8)
    assert preset.beta == pytest.approx(3000.0)
    table = emission_table(preset)
    s_max, _ = table.s_max()
    assert s_max > 10.0  # it avalanches
    assert preset.source_file == str(tmp_path / "toy.toml")


def test_shipped_presets_round_trip_from_a_user_copy(tmp_path):
    for path in sorted(PRESET_DIR.glob("*.toml")):
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        loaded = load_preset(copy)
        assert loaded == PRESETS[loaded.name]


def test_a_user_variant_of_a_shipped_preset(tmp_path):
    text = (PRESET_DIR / "tm8_1064.toml").read_text()
    text = text.replace('name = "tm8_1064"', 'name = "my_tm"').replace(
        "cross_section_cm2 = 2.1e-24", "cross_section_cm2 = 6.0e-25")
    preset = load_text(tmp_path, text)
    assert preset.beta == pytest.approx(PRESETS["tm8_1064_literature"].beta)
    assert emission_table(preset).s_max()[0] == pytest.approx(
        emission_table("tm8_1064_literature").s_max()[0], rel=1e-12)


def test_coefficient_units_convert_with_the_partner_density(tmp_path):
    """K (cm³/s) × N_acceptor = the same rate as rate_per_s (1.38e22 × 0.05 = 6.9e20 cm⁻³)."""
    by_rate = load_text(tmp_path, GOOD)
    by_coefficient = load_text(tmp_path, GOOD.replace(
        "rate_per_s = 9000.0", f"coefficient_cm3_per_s = {9000.0 / 6.9e20!r}"))
    assert emission_table(by_coefficient).s_max()[0] == pytest.approx(
        emission_table(by_rate).s_max()[0], rel=1e-9)


def test_branching_remainder_goes_to_the_ground_level(tmp_path):
    preset = load_text(tmp_path, GOOD.replace('branching = { "r" = 0.2, "g" = 0.8 }',
                                              'branching = { "r" = 0.2 }'))
    assert preset.line_named("emitter").share == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("old", "new", "where", "what"),
    [
        ('acceptor = "X:g -> r"', 'acceptor = "X:g -> q"', "[[transfer]] #1 'CR'",
         "unknown level 'q'"),
        ('from = "X:r"', 'from = "Y:r"', "[[absorption]] #2 'ESA'", "unknown species 'Y'"),
        ('from = "X:r"', 'from = "r"', "[[absorption]] #2 'ESA'", "must name the species"),
        ("rate_per_s = 9000.0", "rate_per_s = -9000.0", "[[transfer]] #1 'CR'",
         "must not be negative"),
        ("rate_per_s = 150.0", "rate_per_s = -150.0", "[[radiative]] #1 'X:r'",
         "must not be negative"),
        ("cross_section_cm2 = 6e-21", "cross_section_cm2 = -6e-21", "[[absorption]] #2 'ESA'",
         "must not be negative"),
        ('{ "r" = 0.2, "g" = 0.8 }', '{ "r" = 0.3, "g" = 0.8 }', "[[radiative]] #2 'X:e'",
         "add up to 1.1 > 1"),
        ("rate_per_s = 9000.0", "rate_per_s = 9000.0\ncoefficient_cm3_per_s = 1e-17",
         "[[transfer]] #1 'CR'", "inconsistent units"),
        ("rate_per_s = 9000.0", "", "[[transfer]] #1 'CR'", "give exactly one of rate_per_s"),
        ("cross_section_cm2 = 6e-21", "cross_section_m2 = 6e-25", "[[absorption]] #2 'ESA'",
         "cross-sections are given in cm²"),
        ("rate_per_s = 150.0", "rate_per_ms = 0.15", "[[radiative]] #1 'X:r'",
         "rates are given in s⁻¹"),
        ("cross_section_cm2 = 6e-21", "cross_section_cm2 = 6e-13", "[[absorption]] #2 'ESA'",
         "above the allowed"),
        ("cross_section_cm2 = 6e-21", "", "[[absorption]] #2 'ESA'",
         "missing field 'cross_section_cm2'"),
        ('wavelength_nm = 800.0', '', "[[line]] #1 'emitter'", "missing field 'wavelength_nm'"),
        ('main_line = "emitter"', '', "top level", "missing field 'main_line'"),
        ('main_line = "emitter"', 'main_line = "blue"', "top level", "main_line 'blue'"),
        ("schema_version = 1", "schema_version = 2", "top level", "schema_version must be 1"),
        ('pump_wavelength_nm = 1064.0', 'pump_wavelength_um = 1.064', "top level",
         "unknown field 'pump_wavelength_um'"),
        ('to = "X:e"', 'to = "X:g"', "[[absorption]] #2 'ESA'", "must go up in energy"),
        ('{ name = "e", energy_cm1 = 12000.0 }', '{ name = "e", energy_cm1 = 4000.0 }',
         "[[species]] #1 'X' level #3", "increasing energy"),
        ("concentration = 0.05", "concentration = 1.5", "[[species]] #1 'X'",
         "above the allowed 1"),
        ('transition = "X:e -> g"', 'transition = "X:e -> g"\nshare = 0.9', "[[line]] #1 'emitter'",
         "exceeds the radiative branching"),
        ('kind = "cross-relaxation"', 'kind = "magic"', "[[transfer]] #1 'CR'", "kind 'magic'"),
        ('donor = "X:e -> r"', 'donor = "X:r -> e"', "[[transfer]] #1 'CR'",
         "must give energy away"),
        ('branching = { "g" = 1.0 }', 'branching = { "e" = 1.0 }', "[[radiative]] #1 'X:r'",
         "not below X:r"),
        ("rate_per_s = 9000.0", "rate_per_s = true", "[[transfer]] #1 'CR'", "must be a number"),
    ],
    ids=[
        "unknown-level", "unknown-species", "bare-level", "negative-transfer-rate",
        "negative-decay-rate", "negative-cross-section", "branching-sum", "both-units",
        "no-rate", "cross-section-in-m2", "rate-per-ms", "implausible-cross-section",
        "missing-cross-section", "missing-wavelength", "missing-main-line", "unknown-main-line",
        "schema-version", "unknown-top-level-unit", "absorption-downhill", "level-order",
        "concentration", "line-share", "transfer-kind", "donor-uphill", "branching-uphill",
        "boolean-number",
    ],
)
def test_mistakes_name_the_file_and_entry(tmp_path, old, new, where, what):
    assert old in GOOD
    with pytest.raises(PresetError) as info:
        load_text(tmp_path, GOOD.replace(old, new, 1))
    message = str(info.value)
    assert str(tmp_path / "toy.toml") in message
    assert where in message
    assert what in message


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(PresetError, match="not valid TOML"):
        load_text(tmp_path, GOOD + "\n[[line]\n")
    with pytest.raises(PresetError, match="no such preset file"):
        load_preset(tmp_path / "absent.toml")


def test_preset_error_is_a_value_error():
    assert issubclass(PresetError, ValueError)
