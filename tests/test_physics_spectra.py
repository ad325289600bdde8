"""Emission spectra (docs/physics.md §4): the lines of a preset from its populations, Gaussian shapes
whose widths narrow when cooled, and the weak lines derived from unmodelled levels."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from sim_devices.physics import (
    PRESETS,
    ParticleDynamics,
    PresetError,
    emission_table,
    get_preset,
    load_preset,
    steady_state_curve,
)
from sim_devices.physics.constants import BOLTZMANN_CM1_PER_K
from sim_devices.physics.spectra import (
    emission_spectrum,
    line_fwhm_nm,
    line_intensities,
    line_spectrum,
    spectrum_from_populations,
    spectrum_model,
    steady_populations,
)

I_TH_TM = 5.33  # kW/cm², docs/physics.md §7.1


def test_lines_sit_at_the_preset_wavelengths():
    spectrum = line_spectrum("tm8_1064", 2 * I_TH_TM)
    preset = get_preset("tm8_1064")
    expected = {line.name: line.wavelength_nm for line in preset.lines + preset.derived_lines}
    assert dict(zip(spectrum.names, spectrum.wavelength_nm.tolist())) == expected
    assert {"Tm 800", "Tm 1470", "Tm 1800", "Tm 475", "Tm 645", "Tm 695"} <= set(expected)
    wl = np.arange(700.0, 900.0, 0.1)
    assert wl[np.argmax(spectrum.density(wl))] == pytest.approx(800.0, abs=0.1)


def test_pr_yb_spectrum_peaks_at_482_and_carries_the_section_4_lines():
    names = set(spectrum_model("pryb_852").names)
    assert {"Pr 482", "Pr 607", "Pr 640", "Pr 1010", "Yb 1000", "Pr 522"} <= names
    spectrum = line_spectrum("pryb_852", 100.0)
    wl = np.arange(450.0, 800.0, 0.1)
    assert wl[np.argmax(spectrum.density(wl))] == pytest.approx(482.0, abs=0.1)
    assert {"Nd 880", "Nd 1060", "Nd 800", "Nd 750"} <= set(spectrum_model("nd_1064").names)


@pytest.mark.parametrize("intensity", [0.3, 5.0, 5.6, 40.0])
def test_main_line_is_the_steady_state_emission(intensity):
    curve = steady_state_curve("tm8_1064", np.array([intensity]))
    lines = line_intensities("tm8_1064", intensity)
    assert lines["Tm 800"] == pytest.approx(curve.emission_per_ion[0], rel=1e-9)


def test_main_line_equals_the_table_on_its_grid():
    table = emission_table("tm8_1064")
    for k in (200, 810, 1100):
        intensity = float(table.curve.intensity_kW_cm2[k])
        assert line_intensities("tm8_1064", intensity)["Tm 800"] == pytest.approx(
            table.emission_per_ion(intensity), rel=1e-8)


def test_relative_intensities_follow_branching_and_populations():
    lines = line_intensities("tm8_1064", 8.0)
    assert lines["Tm 1470"] / lines["Tm 800"] == pytest.approx(0.144 / 0.856, rel=1e-12)
    y = steady_populations("tm8_1064", 8.0)
    n1, n2 = y[1], y[2]
    assert lines["Tm 1800"] / lines["Tm 800"] == pytest.approx(162.6 * n1 / (636.0 * 0.856 * n2),
                                                               rel=1e-12)
    pr = line_intensities("pryb_852", 100.0)
    assert pr["Pr 607"] / pr["Pr 482"] == pytest.approx(0.20 / 0.35, rel=1e-12)
    assert pr["Pr 640"] / pr["Pr 482"] == pytest.approx(0.25 / 0.35, rel=1e-12)


def test_other_species_lines_are_counted_per_ion_of_the_main_species():
    preset = get_preset("pryb_852")
    curve = steady_state_curve(preset, np.array([100.0]))
    lines = line_intensities(preset, 100.0)
    ratio = preset.ions_of("Yb") / preset.ions_of("Pr")
    assert ratio == pytest.approx(40.0, rel=0.01)
    assert lines["Yb 1000"] == pytest.approx(curve.emission_of("Yb 1000")[0] * ratio, rel=1e-9)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_total_photon_rate_is_the_sum_of_lines_and_the_spectrum_area(name):
    spectrum = line_spectrum(name, 2.0 * emission_table(name).s_max()[1])
    assert spectrum.total_photons_per_s == pytest.approx(sum(spectrum.as_dict().values()))
    wl = np.linspace(200.0, 3000.0, 56001)
    area = np.trapezoid(spectrum.density(wl), wl)
    assert area == pytest.approx(spectrum.total_photons_per_s, rel=1e-6)
    assert np.all(spectrum.photons_per_s >= 0) and np.all(spectrum.density(wl) >= 0)


def test_instrument_resolution_broadens_lines_and_keeps_their_area():
    spectrum = line_spectrum("tm8_1064", 10.0)
    wl = np.linspace(200.0, 3000.0, 56001)
    sharp, blurred = spectrum.density(wl), spectrum.density(wl, resolution_nm=20.0)
    assert np.trapezoid(blurred, wl) == pytest.approx(np.trapezoid(sharp, wl), rel=1e-6)
    at_800 = np.argmin(np.abs(wl - 800.0))
    assert blurred[at_800] / sharp[at_800] == pytest.approx(15.0 / math.hypot(15.0, 20.0),
                                                            rel=1e-3)
    direct = emission_spectrum("tm8_1064", 10.0, wl, resolution_nm=20.0)
    assert np.allclose(direct, blurred, rtol=1e-12)


def test_line_width_law_hits_both_ends_and_is_monotonic():
    kw = {"reference_K": 295.0, "width_energy_cm1": 150.0}
    assert line_fwhm_nm(15.0, 3.0, 295.0, **kw) == pytest.approx(15.0)
    assert line_fwhm_nm(15.0, 3.0, 1.0, **kw) == pytest.approx(3.0)
    widths = [line_fwhm_nm(15.0, 3.0, T, **kw) for T in (4, 10, 50, 77, 150, 295, 400)]
    assert widths == sorted(widths)


def test_lines_narrow_to_a_few_nm_below_50_K():
    room = spectrum_model("tm8_1064", 295.0)
    cold = spectrum_model("tm8_1064", 50.0)
    k = room.names.index("Tm 800")
    assert room.fwhm_nm[k] == pytest.approx(15.0)  # §4: 10-20 nm at 295 K
    assert cold.fwhm_nm[k] < 4.0  # §4: a few nm below ~50 K
    assert np.all(cold.fwhm_nm < room.fwhm_nm)
    # same area, narrower line: the peak spectral density rises
    y = steady_populations("tm8_1064", 10.0)
    wl = np.array([800.0])
    assert cold.spectrum(y, 10.0).density(wl)[0] > 3.0 * room.spectrum(y, 10.0).density(wl)[0]


def test_higher_order_line_gains_one_power_of_intensity():
    """§3: the Tm ¹G₄ 475-nm line needs one more pump photon, so its ratio to 800 nm ∝ I."""
    for intensity in (0.05, 1.0, I_TH_TM, 20.0):
        low = line_intensities("tm8_1064", intensity)
        high = line_intensities("tm8_1064", 2.0 * intensity)
        assert (high["Tm 475"] / high["Tm 800"]) / (low["Tm 475"] / low["Tm 800"]) == \
            pytest.approx(2.0, rel=1e-9)
    # below threshold the 800-nm line goes as I² (S = 2) and the 475-nm line as I³
    a, b = line_intensities("tm8_1064", 0.01), line_intensities("tm8_1064", 0.0101)
    slope = math.log(b["Tm 475"] / a["Tm 475"]) / math.log(1.01)
    assert slope == pytest.approx(3.0, abs=0.01)


def test_higher_order_lines_stay_weak():
    lines = line_intensities("tm8_1064", I_TH_TM)
    for name in ("Tm 475", "Tm 645", "Tm 695"):
        assert 0 < lines[name] < 0.01 * lines["Tm 800"]


def test_thermally_fed_line_follows_boltzmann():
    def ratio(T: float) -> float:
        y = steady_populations("nd_1064", 60.0, T)
        lines = spectrum_from_populations("nd_1064", y, 60.0, temperature_K=T).as_dict()
        return lines["Nd 800"] / lines["Nd 880"]

    expected = math.exp(-1000.0 / BOLTZMANN_CM1_PER_K * (1 / 150.0 - 1 / 295.0))
    assert ratio(150.0) / ratio(295.0) == pytest.approx(expected, rel=1e-9)


def test_transient_spectrum_follows_the_dynamics():
    particle = ParticleDynamics("tm8_1064")
    particle.advance(0.05, 5.6)
    spectrum = spectrum_from_populations("tm8_1064", particle.populations, 5.6)
    assert spectrum.of("Tm 800") == pytest.approx(particle.emission_rate_per_ion(), rel=1e-12)
    assert spectrum.of("Tm 475") > 0
    dark_pump = spectrum_from_populations("tm8_1064", particle.populations, 0.0)
    assert dark_pump.of("Tm 475") == 0.0  # the extra pump photon is missing after switch-off
    assert dark_pump.of("Tm 800") == spectrum.of("Tm 800")


def test_zero_intensity_gives_a_dark_spectrum():
    assert line_spectrum("tm8_1064", 0.0).total_photons_per_s == 0.0


def test_shipped_line_shares_do_not_exceed_the_radiative_branching():
    for preset in PRESETS.values():
        shares: dict[tuple, float] = defaultdict(float)
        for line in preset.lines:
            shares[(line.upper, line.lower)] += line.share
        for (upper, lower), total in shares.items():
            branch = sum(d.rate_per_s for d in preset.decays if d.kind == "radiative"
                         and d.initial == upper and d.final == lower)
            assert total <= branch / preset.radiative_rate_per_s(upper) + 1e-9, \
                (preset.name, upper, lower)


# --- the preset fields the spectrum reads ------------------------------------------------------

TOY = """\
schema_version = 1
name = "toy"
description = "a toy three-level avalanche"
pump_wavelength_nm = 1064.0
main_line = "emitter"

[temperature]
line_width_energy_cm1 = 200.0

[[species]]
name = "X"
concentration = 0.05
levels = [{ name = "g", energy_cm1 = 0.0 }, { name = "r", energy_cm1 = 5000.0 },
          { name = "e", energy_cm1 = 12000.0 }]

[[absorption]]
name = "ESA"
from = "X:r"
to = "X:e"
cross_section_cm2 = 6e-21

[[absorption]]
name = "GSA"
from = "X:g"
to = "X:r"
cross_section_cm2 = 2e-24

[[radiative]]
level = "X:r"
rate_per_s = 150.0
branching = { "g" = 1.0 }

[[radiative]]
level = "X:e"
rate_per_s = 600.0
branching = { "g" = 1.0 }

[[line]]
name = "emitter"
transition = "X:e -> g"
wavelength_nm = 800.0
"""

PUMPED = """
[[derived_line]]
name = "blue"
kind = "pumped"
from = "X:e"
cross_section_cm2 = 1e-21
photon_yield = 0.1
wavelength_nm = 475.0
"""


def test_line_widths_default_and_load(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    preset = load_preset(path)
    line = preset.line_named("emitter")
    assert (line.fwhm_nm, line.fwhm_low_T_nm) == (15.0, 3.0)
    assert preset.line_width_energy_cm1 == 200.0 and preset.derived_lines == ()
    path.write_text(TOY.replace('wavelength_nm = 800.0',
                                'wavelength_nm = 800.0\nfwhm_nm = 12.0\nfwhm_low_T_nm = 2.0')
                    + PUMPED)
    preset = load_preset(path)
    assert preset.line_named("emitter").fwhm_nm == 12.0
    (blue,) = preset.derived_lines
    assert (blue.kind, str(blue.base), blue.photon_yield) == ("pumped", "X:e", 0.1)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('wavelength_nm = 800.0', 'wavelength_nm = 800.0\nfwhm_nm = 2.0\nfwhm_low_T_nm = 5.0',
     "fwhm_low_T_nm 5 exceeds fwhm_nm 2"),
    ('wavelength_nm = 800.0', 'wavelength_nm = 800.0\nfwhm_nm = -1.0', "must be positive"),
    ('wavelength_nm = 800.0', 'wavelength_nm = 800.0\nfwhm_um = 1.0', "given in nm as 'fwhm_nm'"),
    ('kind = "pumped"', 'kind = "hot"', "kind 'hot' is not one of pumped, thermal"),
    ('photon_yield = 0.1', 'photon_yield = 0.1\ngap_cm1 = 500.0', "'gap_cm1' belongs to kind"),
    ('photon_yield = 0.1', '', "missing field 'photon_yield'"),
    ('from = "X:e"', 'from = "X:g"', "starts from an excited level"),
    ('from = "X:e"', 'from = "X:q"', "unknown level 'q'"),
    ('name = "blue"', 'name = "emitter"', "line name 'emitter' is used twice"),
    ('photon_yield = 0.1', 'photon_yield = 1.5', "above the allowed 1"),
])
def test_bad_spectrum_fields_are_rejected(tmp_path, old, new, message):
    text = TOY + PUMPED
    assert old in text
    path = tmp_path / "toy.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(PresetError, match="toy.toml") as info:
        load_preset(path)
    assert message in str(info.value)
