"""`avlab thermometry-calibration SERIES`: build a thermometry calibration from a stored
temperature series and write it (JSON) with its PNG (registered in `avlab.commands`).

A command rather than a procedure because it touches no instrument: it only reads the series
file. The output is what `avlab run thermometry --calibration FILE` reads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_OK, EXIT_USAGE = 0, 2


def add_command(subparsers: argparse._SubParsersAction) -> Callable[[argparse.Namespace], int]:
    cal = subparsers.add_parser(
        "thermometry-calibration",
        help="build a thermometry calibration (JSON + PNG) from a temperature series",
        description="Fit the chosen feature against the stage temperature of each completed "
                    "step of a series over temperature_K, and write the calibration with its "
                    "relative sensitivity (%%/K) and temperature resolution.")
    cal.add_argument("series", help="series run file (.h5): do=scurve for 'emission', "
                                    "do=spectrum for 'band_ratio'")
    cal.add_argument("--method", choices=("emission", "band_ratio"), default="emission",
                     help="emission at a fixed pump intensity near threshold, or the ratio "
                          "of two emission bands (default: emission)")
    cal.add_argument("--intensity", type=float, default=None, metavar="KW_CM2",
                     help="pump intensity of the feature (kW/cm²); required for emission, "
                          "default for band_ratio: the middle of the measured range")
    cal.add_argument("--ratio", default="Tm 475/Tm 800", metavar="BAND/BAND",
                     help="band_ratio: numerator/denominator band names (default: "
                          "'Tm 475/Tm 800')")
    cal.add_argument("--out", default=None, metavar="FILE",
                     help="calibration file to write (default: SERIES with .cal.json); the "
                          "PNG goes next to it; never overwritten")
    return run_calibration


def run_calibration(args: argparse.Namespace) -> int:
    from .plot import plot_calibration
    from .procedure import build_calibration

    out = Path(args.out) if args.out else Path(args.series).with_suffix(".cal.json")
    png = out.with_suffix(".png")
    for path in (out, png):
        if path.exists():
            print(f"avlab: {path} exists; not overwritten", file=sys.stderr)
            return EXIT_USAGE
    try:
        cal = build_calibration(args.series, args.intensity, method=args.method,
                                ratio=args.ratio)
    except (OSError, ValueError, KeyError) as exc:
        print(f"avlab: {args.series}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    cal.save(out)
    plot_calibration(cal, png)
    for line in cal.summary():
        print(line)
    print(f"wrote {out}")
    print(f"wrote {png}")
    return EXIT_OK
