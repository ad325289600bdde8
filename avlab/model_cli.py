"""`avlab model`: what a sample design will do, before it is synthesised or put on a bench.

For a preset (a shipped name or a TOML file) and optional overrides it prints S_max, the
S-peak, tangent and loop thresholds, the PA gain, the peak rise time t½ and the PASSI spot
FWHM at S_max; with ``--series NAME=START:STOP:COUNT`` it prints one row per value and writes
a PNG, e.g. to see which Tm concentration gives the steepest avalanche:

    avlab model --set concentration=0.04 --set temperature_K=77
    avlab model --series concentration=0.02:0.20:10 --png tm_concentration.png

Sample parameters (concentration, core, shell) go through
`sim_devices.physics.overrides.apply_overrides`, so they follow the laws the preset carries;
temperature, NA and wavelength are conditions of the prediction.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

#: Conditions of the prediction (not sample parameters), with their short spellings.
CONDITIONS = {"temperature_K": "temperature_K", "temperature": "temperature_K",
              "T": "temperature_K", "numerical_aperture": "numerical_aperture",
              "na": "numerical_aperture", "NA": "numerical_aperture",
              "wavelength_nm": "wavelength_nm", "wavelength": "wavelength_nm"}
DEFAULT_NA = 1.49
#: The rate equations hold the preset's cross-sections, valid at its pump wavelength only.
WAVELENGTH_TOLERANCE_NM = 5.0

EXIT_OK, EXIT_USAGE = 0, 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `avlab model` on the main parser's subcommands."""
    p = subparsers.add_parser(
        "model", help="predict S_max, thresholds, t½ and spot size of a sample design",
        description="Predictions from the rate equations, without a bench. Sample parameters: "
                    "concentration (fraction, 0.08 = 8 %%), concentration.<Species>, "
                    "core_diameter_nm, shell_thickness_nm; conditions: temperature_K, "
                    "numerical_aperture (NA), wavelength_nm.")
    p.add_argument("--preset", default="tm8_1064",
                   help="shipped preset name or a preset TOML file (default tm8_1064)")
    p.add_argument("--set", dest="assignments", metavar="NAME=VALUE", action="append",
                   default=[], help="a sample parameter or condition (repeatable)")
    p.add_argument("--series", metavar="NAME=START:STOP:COUNT",
                   help="vary one parameter over COUNT evenly spaced values; prints a table and "
                        "writes a PNG")
    p.add_argument("--png", metavar="FILE", help="PNG of the series (default "
                                                 "model_<preset>_<name>.png)")
    p.add_argument("--no-rise-time", action="store_true",
                   help="skip the t½ search (the slowest part)")
    return p


def run(args: argparse.Namespace) -> int:
    """Run `avlab model`; returns the process exit code."""
    plotter = None
    if args.series:
        from .plot_worker import PlotWorker

        # Forked first: it loads matplotlib on the other core while this one loads the
        # physics and predicts (the PNG job carries plain numbers: nothing else to load).
        plotter = PlotWorker(modules=())
    from sim_devices.physics import PresetError, get_preset, load_preset
    from sim_devices.physics.overrides import OverrideError, parse_assignments, parse_series

    try:
        if args.preset.endswith(".toml") or Path(args.preset).is_file():
            preset = load_preset(args.preset)
        else:
            preset = get_preset(args.preset)
        sample, conditions = split_assignments(parse_assignments(args.assignments))
        series = parse_series(args.series) if args.series else None
        if series is not None and (series[0] in sample or CONDITIONS.get(series[0])
                                   in conditions):
            raise OverrideError(f"{series[0]} is both --set and --series")
        start = time.perf_counter()
        if series is None:
            prediction = evaluate(preset, sample, conditions, rise_time=not args.no_rise_time)
            print_prediction(prediction)
            return EXIT_OK
        name, values = series
        rows = evaluate_many(preset, [_with(sample, conditions, name, float(v))
                                      for v in values], rise_time=not args.no_rise_time)
        elapsed = time.perf_counter() - start
    except (KeyError, PresetError, OverrideError) as exc:
        if plotter is not None:
            plotter.close()
        print(f"avlab: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return EXIT_USAGE
    print_series(name, values, rows)
    png = Path(args.png) if args.png else Path(f"model_{preset.name}_{name}.png")
    start = time.perf_counter()
    title = f"{preset.name} {_described(sample, conditions)}"
    try:
        plotter.call(plot_series, png, name, list(values), plotted_columns(rows), title=title)
    finally:
        plotter.close()
    print(f"{len(values)} points in {elapsed:.2f} s, plot in {time.perf_counter() - start:.2f} s: "
          f"{png}")
    return EXIT_OK


def _described(sample: dict[str, float], conditions: dict[str, float]) -> str:
    fixed = [f"{k}={v:g}" for k, v in {**sample, **conditions}.items()]
    return f"[{', '.join(fixed)}]" if fixed else ""


def split_assignments(values: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """{name: value} → (sample parameters, conditions), conditions under canonical names."""
    sample: dict[str, float] = {}
    conditions: dict[str, float] = {}
    for name, value in values.items():
        if name in CONDITIONS:
            conditions[CONDITIONS[name]] = value
        else:
            sample[name] = value
    return sample, conditions


def _with(sample: dict[str, float], conditions: dict[str, float], name: str,
          value: float) -> tuple[dict[str, float], dict[str, float]]:
    if name in CONDITIONS:
        return sample, {**conditions, CONDITIONS[name]: value}
    return {**sample, name: value}, conditions


def evaluate(preset: Any, sample: dict[str, float], conditions: dict[str, float], *,
             rise_time: bool = True) -> Any:
    """The Prediction of `preset` with the sample overrides at the conditions."""
    return evaluate_many(preset, [(sample, conditions)], rise_time=rise_time)[0]


def evaluate_many(preset: Any, points: list[tuple[dict[str, float], dict[str, float]]], *,
                  rise_time: bool = True) -> list[Any]:
    """Predictions of `preset` at every (sample overrides, conditions) point, their t½
    peaks searched together (sim_devices.physics.predict.predict_many)."""
    from sim_devices.physics.predict import predict_many

    return predict_many([design_point(preset, sample, conditions)
                         for sample, conditions in points], rise_time=rise_time)


def design_point(preset: Any, sample: dict[str, float], conditions: dict[str, float]) -> Any:
    """The checked Sample (sim_devices.physics.predict) of `preset` with the overrides at the
    conditions; OverrideError names a value out of range."""
    from sim_devices.physics.overrides import OverrideError, apply_overrides
    from sim_devices.physics.predict import Sample

    temperature_K = conditions.get("temperature_K")
    if temperature_K is not None and not 0.0 < temperature_K <= 1000.0:
        raise OverrideError(f"temperature_K = {temperature_K:g}: must be in (0, 1000] K")
    na = conditions.get("numerical_aperture", DEFAULT_NA)
    if not 0.0 < na <= 1.7:
        raise OverrideError(f"numerical_aperture = {na:g}: must be in (0, 1.7]")
    wavelength = conditions.get("wavelength_nm", preset.pump_wavelength_nm)
    if abs(wavelength - preset.pump_wavelength_nm) > WAVELENGTH_TOLERANCE_NM:
        raise OverrideError(
            f"wavelength_nm = {wavelength:g}: {preset.name}'s cross-sections belong to its "
            f"{preset.pump_wavelength_nm:g}-nm pump (±{WAVELENGTH_TOLERANCE_NM:g} nm); choose "
            f"the preset for that pump instead (e.g. tm8_1450)")
    return Sample(apply_overrides(preset, sample), temperature_K, na, wavelength)


def _num(value: float, fmt: str) -> str:
    return format(value, fmt) if math.isfinite(value) else "—"


def print_prediction(p: Any) -> None:
    print(f"sample   {p.preset_name}")
    print(f"         T = {p.temperature_K:g} K, {p.ions_per_particle} ions per particle")
    if not p.avalanche:
        print(f"no photon avalanche: S_max = {_num(p.s_max, '.2f')} (loop threshold "
              f"{_num(p.threshold_loop_kW_cm2, '.4g')} kW/cm²)")
        return
    rows = [
        ("S_max", _num(p.s_max, ".2f")),
        ("threshold, S peak", f"{_num(p.threshold_s_peak_kW_cm2, '.4g')} kW/cm²"),
        ("threshold, tangent", f"{_num(p.threshold_tangent_kW_cm2, '.4g')} kW/cm²"),
        ("threshold, loop", f"{_num(p.threshold_loop_kW_cm2, '.4g')} kW/cm²"),
        ("PA gain I(2·I_th)/I(I_th)", _num(p.pa_gain_2x, ".1f")),
        ("t½ peak", f"{_num(1e3 * p.rise_half_time_peak_s, '.0f')} ms at "
                    f"{_num(p.rise_half_time_peak_kW_cm2, '.3g')} kW/cm²"),
        ("PASSI spot FWHM at S_max", f"{_num(p.spot_fwhm_nm, '.1f')} nm (λ "
                                     f"{p.wavelength_nm:g} nm, NA {p.numerical_aperture:g})"),
    ]
    for label, value in rows:
        print(f"{label:<27}{value}")


_COLUMNS = ("S_max", "I_th S-peak", "I_th tangent", "I_th loop", "gain 2x", "t½ peak ms",
            "FWHM nm", "ions")


def _row(p: Any) -> list[str]:
    return [_num(p.s_max, ".2f"), _num(p.threshold_s_peak_kW_cm2, ".4g"),
            _num(p.threshold_tangent_kW_cm2, ".4g"), _num(p.threshold_loop_kW_cm2, ".4g"),
            _num(p.pa_gain_2x, ".1f"), _num(1e3 * p.rise_half_time_peak_s, ".0f"),
            _num(p.spot_fwhm_nm, ".1f"), str(p.ions_per_particle)]


def print_series(name: str, values: Any, rows: list[Any]) -> None:
    """One line per value; thresholds in kW/cm²."""
    header = [name, *_COLUMNS]
    lines = [[f"{v:g}", *_row(p)] for v, p in zip(values, rows)]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)) + "   (thresholds in kW/cm²)")
    for line in lines:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths)))
    best = max(range(len(rows)), key=lambda i: rows[i].s_max if rows[i].avalanche else -1.0)
    if rows[best].avalanche:
        print(f"steepest avalanche: S_max {rows[best].s_max:.2f} at {name} = {values[best]:g}")


PLOTTED = ("s_max", "threshold_s_peak_kW_cm2", "threshold_tangent_kW_cm2",
           "threshold_loop_kW_cm2", "rise_half_time_peak_s", "spot_fwhm_nm")


def plotted_columns(rows: list[Any]) -> dict[str, list[float]]:
    """What plot_series draws, as plain numbers (NaN where there is no avalanche): the plot
    worker then needs no physics module to unpickle it."""
    return {attr: [float(getattr(p, attr)) if p.avalanche else math.nan for p in rows]
            for attr in PLOTTED}


def plot_series(path: Path, name: str, values: Any, columns: dict[str, list[float]], *,
                title: str) -> None:
    """S_max, thresholds, t½ peak and spot FWHM against the varied parameter (matplotlib Agg)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    x = np.asarray(values, dtype=float)

    def col(attr: str, scale: float = 1.0) -> np.ndarray:
        return np.asarray(columns[attr], dtype=float) * scale

    fig = Figure(figsize=(10, 7))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True)
    ax = axes[0, 0]
    ax.plot(x, col("s_max"), "o-", color="C3")
    ax.set_ylabel("S_max (local slope)")
    ax = axes[0, 1]
    ax.plot(x, col("threshold_s_peak_kW_cm2"), "o-", label="S peak")
    ax.plot(x, col("threshold_tangent_kW_cm2"), "s--", label="tangent")
    ax.plot(x, col("threshold_loop_kW_cm2"), "^:", label="loop (linear stability)")
    ax.set_yscale("log")
    # plain-text tick labels at 1, 2 and 5 per decade: matplotlib's default log labels are
    # mathtext, and typesetting them was a third of the plot's time
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
    ax.set_ylabel("threshold (kW/cm²)")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    ax.plot(x, col("rise_half_time_peak_s", 1e3), "o-", color="C2")
    ax.set_ylabel("peak t½ (ms)")
    ax = axes[1, 1]
    ax.plot(x, col("spot_fwhm_nm"), "o-", color="C4")
    ax.set_ylabel("PASSI spot FWHM at S_max (nm)")
    for ax in axes[1]:
        ax.set_xlabel(f"{name} (fraction of RE sites)" if name.startswith("concentration")
                      else name)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    # fixed margins: tight_layout would cost ~0.2 s of text measuring per plot
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.93, wspace=0.3, hspace=0.1)
    fig.savefig(path, dpi=100)
