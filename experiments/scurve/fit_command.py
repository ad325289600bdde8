"""`avlab fit RUN`: fit a rate-equation preset to a stored S-curve (registered in
`avlab.commands`, so avlab's core knows nothing of it). Imports stay inside the handler so
`avlab --help` does not load scipy or the physics engine."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_command(subparsers: argparse._SubParsersAction) -> Callable[[argparse.Namespace], int]:
    fit = subparsers.add_parser(
        "fit", help="fit a rate-equation preset to a stored S-curve run",
        description="Fit free parameters of a sample preset (docs/physics.md) to the S-curve "
                    "in a run file, with 1-sigma uncertainties. The signal scale is always "
                    "free.")
    fit.add_argument("file", help="S-curve run file (.h5)")
    fit.add_argument("--preset", default=None,
                     help="preset to start from (default: the run's simulated sample, else "
                          "tm8_1064)")
    fit.add_argument("--free", default="beta,background", metavar="NAMES",
                     help="comma-separated free parameters: beta, sigma_esa, "
                          "cross_relaxation, quenching, intensity_scale, background "
                          "(default: beta,background)")
    return run_fit


def run_fit(args: argparse.Namespace) -> int:
    from avlab.storage import read_run

    from .model_fit import FitParameter, ModelFitError, fit_scurve, scurve_data_from_run

    try:
        run = read_run(args.file)
    except (OSError, ValueError) as exc:
        print(f"avlab: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if run.procedure != "scurve":
        print(f"avlab: {args.file} holds a {run.procedure!r} run, not an S-curve",
              file=sys.stderr)
        return EXIT_USAGE
    preset = args.preset or str(run.sample.get("name", ("tm8_1064", ""))[0]) or "tm8_1064"
    names = [n.strip() for n in args.free.split(",") if n.strip()]
    try:
        data = scurve_data_from_run(run)
        result = fit_scurve(preset, *data, [FitParameter(n) for n in names])
    except (ModelFitError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"avlab: {message}", file=sys.stderr)
        return EXIT_USAGE
    failures = result.failures()
    print(f"fit of preset {preset} to {args.file} ({len(data[0])} points)"
          + (" — FAILED, the numbers below are not results" if failures else ""))
    for line in result.summary_lines():
        print(f"  {line}")
    if failures:
        print(f"avlab: the fit of {args.file} failed: " + "; ".join(failures), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
