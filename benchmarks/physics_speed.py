"""Speed of the rate-equation engine, next to plain scipy on the same equations.

Prints (never asserts), all measured in this run:

* a steady-state S-curve of 1000 log-spaced points for a preset at a temperature not seen before
  (compile + Newton continuation + exact slopes; target < 0.5 s), and the same answers from the
  cached table (target < 10 ms);
* the same steady states from ``scipy.integrate.solve_ivp(method="BDF")`` with the same analytic
  Jacobian, integrating each point from the dark state (on a subset, extrapolated to 1000);
* one rise curve, 0–30 s from the dark state (target < 10 ms): the engine (LSODA via ODEPACK with
  the analytic Jacobian) vs ``solve_ivp`` BDF and LSODA;
* one 1-ms dwell step of a particle that carries its state (the photon counter's use);
* `avlab model --series` over ten concentrations and ten temperatures (target < 1 s each,
  predictions; the PNG is timed separately).

    python benchmarks/physics_speed.py [--preset tm8_1064] [--temperature 123.4] [--bdf-points 40]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def best_of(repeats: int, func) -> tuple[float, object]:
    """(best wall time in s, last result) over `repeats` calls."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tm8_1064")
    parser.add_argument("--temperature", type=float, default=123.4,
                        help="K; a temperature no cache has seen (default 123.4)")
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--bdf-points", type=int, default=40,
                        help="points actually solved with solve_ivp BDF (then extrapolated)")
    args = parser.parse_args()

    import scipy
    from scipy.integrate import solve_ivp

    from sim_devices.physics import (
        PRESETS,
        ParticleDynamics,
        compile_model,
        emission_table,
        get_preset,
        steady_state_curve,
    )
    from sim_devices.physics.dynamics import integrate
    from sim_devices.physics.model import _compile
    from sim_devices.physics.table import TABLE_POINTS

    preset = get_preset(args.preset)
    intensities = np.logspace(-3, 4, args.points)
    print(f"preset {preset.name} at {args.temperature:g} K; numpy {np.__version__}, "
          f"scipy {scipy.__version__}")
    print(f"levels {compile_model(preset).n_full} (reduced {compile_model(preset).n_reduced}), "
          f"lines {len(preset.lines)}")

    # --- warm-up of imports and code paths (not what is measured) ------------------------
    steady_state_curve(preset, intensities[:50])
    ParticleDynamics(preset).advance(1e-3, 1.0)

    # --- steady-state S-curve, uncached ----------------------------------------------------
    print("\nsteady-state S-curve, 1000 points (populations, every line, exact slope S)")
    temperatures = iter(args.temperature + 0.001 * np.arange(1, 100))

    def uncached():
        _compile.cache_clear()
        return steady_state_curve(preset, intensities, temperature_K=next(temperatures))

    t_newton, curve = best_of(5, uncached)
    k = int(np.argmax(curve.slope))
    print(f"  Newton continuation, uncached (compile + solve) : {t_newton * 1e3:8.1f} ms"
          f"   [target < 500 ms]   S_max {curve.slope[k]:.2f} at {intensities[k]:.3g} kW/cm²")
    for other in sorted(PRESETS):
        if other == preset.name:
            continue
        t_other, _ = best_of(3, lambda o=other: (_compile.cache_clear(), steady_state_curve(
            o, intensities, temperature_K=next(temperatures))))
        print(f"  … {other:28s} uncached             : {t_other * 1e3:8.1f} ms")
    t_table, table = best_of(1, lambda: emission_table(preset, args.temperature))
    print(f"  table build ({TABLE_POINTS} points, first use at this T): {t_table * 1e3:8.1f} ms")
    t_cached, _ = best_of(20, lambda: (emission_table(preset, args.temperature)
                                       .emission_per_ion(intensities),
                                       emission_table(preset, args.temperature).slope(intensities)))
    print(f"  cached table, 1000 emissions + slopes          : {t_cached * 1e3:8.3f} ms"
          f"   [target < 10 ms]")
    image = np.random.default_rng(0).uniform(0.0, 20.0, 10_000)
    t_image, _ = best_of(20, lambda: table.emission_per_ion(image))
    print(f"  cached table, 10^4-pixel image lookup          : {t_image * 1e3:8.3f} ms")

    # --- the same with solve_ivp BDF --------------------------------------------------------
    model = compile_model(preset, args.temperature)
    subset = intensities[:: max(1, args.points // args.bdf_points)]

    def bdf_steady(intensity: float) -> np.ndarray:
        c, M = model.linear_terms(float(model.flux(intensity)))
        H, G = model.H, model.G
        solution = solve_ivp(lambda t, z: c + (M + H @ z) @ z, (0.0, 60.0),
                             np.zeros(model.n_reduced), method="BDF",
                             jac=lambda t, z: M + G @ z, rtol=1e-10, atol=1e-16)
        return solution.y[:, -1]

    start = time.perf_counter()
    bdf = np.array([bdf_steady(i) for i in subset])
    t_bdf = (time.perf_counter() - start) / len(subset) * args.points
    newton = model.reduced(steady_state_curve(model, subset).populations)
    deviation = np.max(np.abs(bdf - newton) / np.maximum(np.abs(newton), 1e-14))
    print(f"  solve_ivp BDF to 60 s per point (analytic jac): {t_bdf * 1e3:8.1f} ms"
          f"   (measured on {len(subset)} points, ×{args.points / len(subset):.0f}); "
          f"max rel. deviation from Newton {deviation:.1e}")
    print(f"  → Newton continuation is {t_bdf / t_newton:.0f}× faster than BDF")

    # --- one rise curve ---------------------------------------------------------------------
    i_th = table.s_max()[1]
    intensity = 1.05 * i_th
    times = np.concatenate(([0.0], np.logspace(-6, np.log10(30.0), 300)))
    flux = float(model.flux(intensity))
    row = model.line_matrix[model.main_line_index]
    print(f"\none rise curve from the dark state, 0–30 s, 301 output times, at {intensity:.3g} "
          f"kW/cm² (1.05 I_th)")

    def ours():
        z, _ = integrate(model, np.zeros(model.n_reduced), times, flux)
        return z @ row

    def scipy_curve(method: str):
        c, M = model.linear_terms(flux)
        H, G = model.H, model.G
        solution = solve_ivp(lambda t, z: c + (M + H @ z) @ z, (0.0, 30.0),
                             np.zeros(model.n_reduced), method=method, t_eval=times,
                             jac=lambda t, z: M + G @ z, rtol=1e-9, atol=1e-16)
        return solution.y.T @ row

    t_ours, reference = best_of(7, ours)
    print(f"  engine: LSODA (ODEPACK odeint, analytic jac)    : {t_ours * 1e3:8.2f} ms"
          f"   [target < 10 ms]")
    for method in ("BDF", "LSODA"):
        t_method, trace = best_of(3, lambda m=method: scipy_curve(m))
        agreement = np.max(np.abs(trace - reference)) / reference[-1]
        print(f"  solve_ivp {method:5s} (analytic jac)              : {t_method * 1e3:8.2f} ms"
              f"   ({t_method / t_ours:.1f}× the engine; max deviation {agreement:.1e} of final)")

    # --- a dwell step carrying state -----------------------------------------------------
    particle = ParticleDynamics(preset, args.temperature)
    particle.set_steady_state(0.9 * i_th)
    steps = []
    for _ in range(200):
        start = time.perf_counter()
        particle.advance(1e-3, i_th)
        steps.append(time.perf_counter() - start)
    print(f"\none 1-ms dwell step carrying state (ParticleDynamics.advance): "
          f"{statistics.median(steps) * 1e6:.0f} µs (median of 200)")

    # --- avlab model: a design series ----------------------------------------------------
    import tempfile
    from pathlib import Path

    from avlab.model_cli import evaluate_many, plot_series, plotted_columns

    tm = get_preset("tm8_1064")
    for name, values in (("concentration", np.linspace(0.02, 0.20, 10) + 1e-6),
                         ("temperature_K", np.linspace(20.3, 400.3, 10))):
        start = time.perf_counter()
        rows = evaluate_many(tm, [({name: float(v)} if name == "concentration" else {},
                                   {name: float(v)} if name != "concentration" else {})
                                  for v in values])
        t_rows = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            plot_series(Path(tmp) / "series.png", name, values, plotted_columns(rows),
                        title="benchmark")
            t_png = time.perf_counter() - start
        print(f"\navlab model --series {name}, 10 points in-process: "
              f"{t_rows:.2f} s predictions + {t_png:.2f} s PNG (the whole command, as a user "
              "runs it: benchmarks/model_series.py)")


if __name__ == "__main__":
    main()
