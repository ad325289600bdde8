"""Sample design: concentration laws, particle architecture and `apply_overrides`.

The concentration dependence is checked against numbers computed here by hand from the Lee-model
laws (s31 = 160·c² s⁻¹ with c in %, Qup/Qloss ∝ c³/(c² + 4.3²)), put into the §1 threshold
formula and into the hand transcription of the Tm equations (`tm3.py`) — not against the
preset machinery that is under test.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim_devices.physics import PRESETS, PresetError, load_preset, tm3
from sim_devices.physics.ensemble import TM_SURFACE_QUENCHING
from sim_devices.physics.overrides import (
    OverrideError,
    apply_overrides,
    parse_assignment,
    parse_assignments,
    parse_series,
)
from sim_devices.physics.predict import predict
from sim_devices.physics.preset import quenched_fraction
from sim_devices.physics.registry import PRESET_DIR

PLANCK_J_S = 6.62607015e-34
LIGHT_SPEED_M_S = 2.99792458e8
CONCENTRATIONS = (0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.20)


def lee_rates(c: float) -> dict[str, float]:
    """s31, Qup, Qloss (s⁻¹) of the Lee model at concentration c (fraction), by hand."""
    percent = 100.0 * c
    etu = percent**3 / (percent**2 + 4.3**2) / (8.0**3 / (8.0**2 + 4.3**2))
    return {"s31": 160.0 * percent**2, "q_up": 55.9 * etu, "q_loss": 158.9 * etu}


def joubert_threshold_kW_cm2(c: float) -> float:
    """§1: σE·Φ_th = W1·(W2 + s31)/(s31 − (1−b)·W2r), converted to kW/cm² at 1064 nm."""
    w1, w2r, w2nr, b, sigma_esa = 162.6, 636.0, 6.02, 0.144, 6.4e-21
    s31 = lee_rates(c)["s31"]
    esa_rate = w1 * (w2r + w2nr + s31) / (s31 - (1.0 - b) * w2r)
    photon_J = PLANCK_J_S * LIGHT_SPEED_M_S / 1064e-9
    return esa_rate / sigma_esa * photon_J / 1e3


@pytest.mark.parametrize("c", CONCENTRATIONS)
def test_loop_threshold_follows_the_cr_law_as_the_threshold_formula_predicts(c):
    design = apply_overrides(PRESETS["tm8_1064"], {"concentration": c})
    assert design.loop_threshold_kW_cm2() == pytest.approx(joubert_threshold_kW_cm2(c), rel=1e-9)


def test_threshold_formula_spans_an_order_of_magnitude_between_2_and_20_percent():
    # not a tautology of the check above: the laws must actually move the threshold
    values = [apply_overrides(PRESETS["tm8_1064"], {"concentration": c}).loop_threshold_kW_cm2()
              for c in CONCENTRATIONS]
    assert values[0] > 10 * values[-1]
    assert all(a > b for a, b in zip(values, values[1:]))  # CR helps the loop monotonically


@pytest.mark.parametrize("c", (0.02, 0.04, 0.08, 0.12, 0.20))
def test_s_max_and_s_peak_threshold_match_the_hand_equations_at_the_laws_rates(c):
    rates = lee_rates(c)
    reference = replace(tm3.TM_8PCT_1064_CALIBRATED, s31_per_s=rates["s31"],
                        q_up_per_s=rates["q_up"], q_loss_per_s=rates["q_loss"])
    i_loop = joubert_threshold_kW_cm2(c)
    grid = np.geomspace(0.4 * i_loop, 1.6 * i_loop, 3001)
    curve = tm3.steady_state_curve(reference, grid)
    k = int(np.argmax(curve.slope))
    expected_s_max, expected_i = curve.slope[k], grid[k]

    got = predict(apply_overrides(PRESETS["tm8_1064"], {"concentration": c}), rise_time=False)
    assert got.s_max == pytest.approx(expected_s_max, rel=2e-3)
    assert got.threshold_s_peak_kW_cm2 == pytest.approx(expected_i, rel=2e-3)


def test_s_max_has_an_optimum_concentration_inside_2_to_20_percent():
    s = {c: predict(apply_overrides(PRESETS["tm8_1064"], {"concentration": c}),
                    rise_time=False).s_max for c in CONCENTRATIONS}
    best = max(s, key=s.get)
    assert 0.04 <= best <= 0.10
    assert s[0.02] < 5.0 < s[0.20] < s[best]


def test_etu_rates_follow_the_saturating_law():
    for c in CONCENTRATIONS:
        rates = {t.name: t.rate_per_s for t in apply_overrides(
            PRESETS["tm8_1064"], {"concentration": c}).transfers}
        expected = lee_rates(c)
        assert rates["CR"] == pytest.approx(expected["s31"], rel=1e-12)
        assert rates["ETU up"] == pytest.approx(expected["q_up"], rel=1e-12)
        assert rates["ETU loss"] == pytest.approx(expected["q_loss"], rel=1e-12)


def test_shipped_presets_are_unchanged_at_their_own_concentration():
    for preset in PRESETS.values():
        same = apply_overrides(preset, {"concentration": preset.species_named(
            preset.line_named(preset.main_line).upper.species).concentration})
        assert same.transfers == preset.transfers and same.decays == preset.decays
    tm = PRESETS["tm8_1064"]
    assert [t.rate_per_s for t in tm.transfers] == [10240.0, 55.9, 158.9]
    assert tm.ions_per_particle == 4600
    assert not any(d.surface for p in PRESETS.values() for d in p.decays)


# --- a copied preset file --------------------------------------------------------------------

def _tm_text() -> str:
    return (PRESET_DIR / "tm8_1064.toml").read_text(encoding="utf-8")


def _write(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_copied_preset_at_another_concentration_follows_the_laws(tmp_path):
    text = _tm_text().replace("concentration = 0.08\n", "concentration = 0.04\n", 1)
    text = text.replace("ions_per_particle = 4600", "# count from the core volume")
    mine = load_preset(_write(tmp_path, text))
    rates = {t.name: t.rate_per_s for t in mine.transfers}
    assert rates["CR"] == pytest.approx(lee_rates(0.04)["s31"])  # 2560 s⁻¹, not 10240
    assert mine.ions_per_particle == round(4 / 3 * math.pi * (10e-7) ** 3 * 1.38e22 * 0.04)


def test_a_rate_given_at_another_concentration_without_a_law_fails_naming_the_entry(tmp_path):
    text = _tm_text().replace("concentration = 0.08\n", "concentration = 0.04\n", 1)
    text = text.replace("ions_per_particle = 4600", "")
    text = text.replace('concentration_law = { kind = "power", exponent = 2.0 }\n', "")
    with pytest.raises(PresetError, match=r"\[\[transfer\]\] #1 'CR'.*reference_concentration "
                                          r"0\.08.*concentration 0\.04"):
        load_preset(_write(tmp_path, text))
    # the explicit opt-out keeps the number on purpose
    fixed = text.replace("reference_concentration = 0.08\n",
                         'reference_concentration = 0.08\nconcentration_law = "fixed"\n', 1)
    assert load_preset(_write(tmp_path, fixed)).transfers[0].rate_per_s == 10240.0


def test_a_pinned_ion_count_that_disagrees_with_the_concentration_fails(tmp_path):
    text = _tm_text().replace("concentration = 0.08\n", "concentration = 0.04\n", 1)
    with pytest.raises(PresetError, match=r"\[\[species\]\] #1 'Tm'.*ions_per_particle = 4600"):
        load_preset(_write(tmp_path, text))
    pinned = text.replace("ions_per_particle = 4600",
                          "ions_per_particle = 4600\nions_per_particle_fixed = true")
    assert load_preset(_write(tmp_path, pinned)).ions_per_particle == 4600


def test_overriding_a_rate_without_a_law_is_refused_by_name():
    with pytest.raises(OverrideError, match=r"\[\[transfer\]\] 'CR'.*concentration_law"):
        apply_overrides(PRESETS["nd_1064"], {"concentration": 0.05})
    # cm³/s coefficients follow by themselves: k = K·N_acceptor halves with the Yb density
    pryb = PRESETS["pryb_852"]
    less_yb = apply_overrides(pryb, {"concentration.Yb": 0.10})
    for before, after in zip(pryb.transfers, less_yb.transfers):
        ratio = 0.5 if before.acceptor_initial.species == "Yb" else 1.0
        assert less_yb.transfer_rate_per_s(after) == pytest.approx(
            ratio * pryb.transfer_rate_per_s(before), rel=1e-12)


def test_ion_count_follows_concentration_and_core_volume():
    tm = PRESETS["tm8_1064"]
    assert apply_overrides(tm, {"concentration": 0.04}).ions_per_particle == 2300
    assert apply_overrides(tm, {"core_diameter_nm": 40.0}).ions_per_particle == 8 * 4600


def test_unknown_or_out_of_range_overrides_are_refused():
    tm = PRESETS["tm8_1064"]
    with pytest.raises(OverrideError, match="unknown sample parameter 'colour'"):
        apply_overrides(tm, {"colour": 1.0})
    with pytest.raises(OverrideError, match="8 % is 0.08"):
        apply_overrides(tm, {"concentration": 8.0})
    with pytest.raises(OverrideError, match="no species 'Er'"):
        apply_overrides(tm, {"concentration.Er": 0.02})


# --- particle architecture -------------------------------------------------------------------

def test_quenched_fraction_of_the_dead_layer_law():
    assert quenched_fraction(20.0, 0.0, 3.5) == pytest.approx(1 - (6.5 / 10) ** 3)
    assert quenched_fraction(20.0, 1.0, 3.5) == pytest.approx(1 - (7.5 / 10) ** 3)
    assert quenched_fraction(20.0, 3.5, 3.5) == 0.0
    assert quenched_fraction(5.0, 0.0, 3.5) == 1.0


def test_a_bare_core_gets_the_largest_lee_surface_factors_and_the_same_threshold():
    tm = PRESETS["tm8_1064"]
    bare = apply_overrides(tm, {"shell_thickness_nm": 0.0})
    surface = {(str(d.initial), d.final.level): d.rate_per_s for d in bare.decays if d.surface}
    assert surface[("Tm:3F4", "3H6")] == pytest.approx(162.6 * 3.25, rel=2e-3)
    assert surface[("Tm:3H4", "3F4")] == pytest.approx(162.6 * 6.3, rel=2e-3)
    # the same quenching entered the ensemble's way (f1, f2 on W_ref) gives the same threshold
    f1, f2 = (surface[("Tm:3F4", "3H6")] / 162.6, surface[("Tm:3H4", "3F4")] / 162.6)
    assert bare.loop_threshold_kW_cm2() == pytest.approx(
        TM_SURFACE_QUENCHING.apply(tm, (f1, f2)).loop_threshold_kW_cm2(), rel=1e-12)


def test_thinner_shells_raise_the_threshold():
    tm = PRESETS["tm8_1064"]
    thresholds = [apply_overrides(tm, {"shell": t}).loop_threshold_kW_cm2()
                  for t in (5.0, 3.5, 2.5, 1.5, 0.5, 0.0)]
    assert thresholds[0] == thresholds[1] == tm.loop_threshold_kW_cm2()
    assert all(a < b for a, b in zip(thresholds[1:], thresholds[2:]))


def test_passi_spot_follows_lambda_over_2_na_sqrt_s():
    p = predict(PRESETS["tm8_1064"], rise_time=False, numerical_aperture=1.4)
    assert p.spot_fwhm_nm == pytest.approx(1064.0 / (2 * 1.4 * math.sqrt(p.s_max)))


# --- the NAME=VALUE parser -------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}(\.[A-Za-z0-9_]{1,6})?", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False)


@given(names, finite, st.sampled_from(["", " ", "  "]))
def test_parse_assignment_round_trips_any_name_and_finite_value(name, value, pad):
    assert parse_assignment(f"{pad}{name}{pad}={pad}{value!r}{pad}") == (name, value)


@given(st.text(max_size=20).filter(lambda s: "=" not in s))
def test_parse_assignment_without_equals_sign_is_an_error(text):
    with pytest.raises(OverrideError):
        parse_assignment(text)


@given(names, st.sampled_from(["", "abc", "nan", "inf", "-inf", "1e400", "0x10", "1,5"]))
def test_parse_assignment_rejects_non_finite_or_non_numbers(name, value):
    with pytest.raises(OverrideError):
        parse_assignment(f"{name}={value}")


@given(st.sampled_from(["", "1x", "a b", "a-b", "a.b.c", ".a"]), finite)
def test_parse_assignment_rejects_bad_names(name, value):
    with pytest.raises(OverrideError):
        parse_assignment(f"{name}={value!r}")


def test_parse_assignments_and_series():
    assert parse_assignments(["c=0.04", "shell=1"]) == {"c": 0.04, "shell": 1.0}
    with pytest.raises(OverrideError, match="given twice"):
        parse_assignments(["c=0.04", "c=0.05"])
    name, values = parse_series("concentration=0.02:0.20:10")
    assert name == "concentration" and np.allclose(values, np.linspace(0.02, 0.2, 10))
    for bad in ("concentration=0.02:0.2", "c=0.02:0.2:1", "c=a:0.2:3", "c=0:1:x"):
        with pytest.raises(OverrideError):
            parse_series(bad)
