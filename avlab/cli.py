"""Command line: `avlab run`, `avlab inspect`, `avlab procedures`, `avlab config`, `avlab gui`.

Heavy modules (scipy, h5py, matplotlib, drivers) are imported inside the commands, so
`avlab --help` answers at once and needs neither Qt nor scipy.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import model_cli

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avlab",
        description="Instrument control and acquisition for photon-avalanche nanoparticle labs. "
                    "Without --config everything runs on the built-in simulated bench.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a procedure and write one HDF5 run file",
                         description="Run a procedure (see `avlab procedures`).")
    run.add_argument("procedure", help="procedure name (`avlab procedures` lists them)")
    run.add_argument("--config", metavar="FILE", help="lab config TOML (default: simulated bench)")
    run.add_argument("--set", dest="assignments", metavar="NAME=VALUE", action="append",
                     default=[], help="set a procedure parameter (repeatable)")
    run.add_argument("--sample", dest="sample", metavar="NAME=VALUE", action="append", default=[],
                     help="simulated sample design, e.g. concentration=0.04 (repeatable)")
    run.add_argument("--out", metavar="FILE", help="run file to create (never overwritten); "
                                                   "default runs/<procedure>_<time>.h5")
    run.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")

    inspect = sub.add_parser("inspect", help="summarise an HDF5 run file")
    inspect.add_argument("file", help="run file (.h5)")

    recover = sub.add_parser("recover", help="make a run file left by a killed run open in "
                                             "every HDF5 tool (status becomes 'failed')")
    recover.add_argument("file", help="run file (.h5) whose writer was killed")
    recover.add_argument("--force", action="store_true",
                         help="recover a file written on another host (whose writer this "
                              "machine cannot check); never needed for local runs")

    instruments = sub.add_parser(
        "instruments", help="connect every configured role and show identity and a live reading",
        description="Connects every role of the config (default: the simulated bench), prints "
                    "its identity, status and a live reading, and reports problems per role "
                    "without stopping at the first.")
    instruments.add_argument("--config", metavar="FILE", help="lab config TOML")

    sim = sub.add_parser("sim", help="the simulated bench as a service")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)
    serve = sim_sub.add_parser(
        "serve", help="serve every simulated message-based instrument on loopback TCP ports",
        description="Serve the simulated instruments of the config (default: the built-in "
                    "simulated bench) on 127.0.0.1, in real time, until Ctrl-C. Any client "
                    "reaches them with a pyvisa resource TCPIP0::127.0.0.1::<port>::SOCKET "
                    "(pyvisa-py) or a pyserial URL socket://127.0.0.1:<port>.")
    serve.add_argument("--config", metavar="FILE", help="lab config TOML")
    serve.add_argument("--base-port", type=int, default=50000, metavar="N",
                       help="first port for twins without a real port (0: any free port)")
    serve.add_argument("--no-real-ports", action="store_true",
                       help="do not use the instruments' real ports (the port an instrument's own network interface uses)")
    serve.add_argument("--duration", type=float, default=None, metavar="S",
                       help="stop after S seconds (default: run until Ctrl-C)")

    gui = sub.add_parser("gui", help="the lab desktop GUI (needs the gui extra)",
                         description="Instruments, procedures, a run queue, live views, files.")
    gui.add_argument("--config", metavar="FILE", help="lab config TOML (default: simulated bench)")
    gui.add_argument("--screenshots", metavar="DIR",
                     help="run a short demonstration (a procedure's demo_values), save each "
                          "main view as PNG in DIR and exit (no display needed)")
    gui.add_argument("--quit-after", type=float, metavar="S", help="close after S seconds")

    procs = sub.add_parser("procedures", help="list procedures and their parameters")
    procs.add_argument("name", nargs="?", help="show only this procedure")

    model_cli.add_parser(sub)
    config = sub.add_parser("config", help="check a lab config and show what it sets up")
    config.add_argument("file", nargs="?", help="lab config TOML (default: the built-in one)")
    config.add_argument("--drivers", action="store_true",
                        help="also list every known driver (built-in and installed), its role "
                             "kinds and its simulated twin")
    return parser


def _add_registered_commands(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Subcommands that installed packages register (entry-point group avlab.commands)."""
    from .registry import commands

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    handlers: dict[str, Any] = {}
    for name, ep in commands().items():
        if name in sub.choices:
            continue  # a built-in command wins
        try:
            handlers[name] = ep.load()(sub)
        except Exception as exc:  # a broken plug-in must not break avlab
            logging.getLogger(__name__).warning("command %s (%s) not available: %s", name,
                                                ep.value, exc)
    return handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    extra = _add_registered_commands(parser)
    # Unknown options are left for the procedure's own flags (Procedure.cli_flags).
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.procedure_flags = rest
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.version:
        from . import __version__

        print(f"avlab {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = {**extra, "run": _cmd_run, "inspect": _cmd_inspect, "recover": _cmd_recover,
               "sim": _cmd_sim, "instruments": _cmd_instruments, "procedures": _cmd_procedures,
               "config": _cmd_config, "model": model_cli.run, "gui": _cmd_gui}[args.command]
    try:
        return handler(args)
    except BrokenPipeError:
        # The reader went away (`avlab sim serve | head`): nothing is wrong with the command.
        _quiet_stdout()
        return EXIT_OK


# --- commands --------------------------------------------------------------------------------

def _cmd_gui(args: argparse.Namespace) -> int:
    from .gui import main as gui_main  # Qt is imported only inside

    return gui_main(args.config, args.screenshots, args.quit_after)


def _cmd_run(args: argparse.Namespace) -> int:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="pymeasure")
    from .config import ConfigError, load_config, with_sample_overrides
    from .errors import AvlabError
    from .outputs import OutputError, reserve_outputs
    from .registry import load_procedure

    try:
        procedure_cls = load_procedure(args.procedure)
        config = with_sample_overrides(load_config(args.config), args.sample)
        procedure = procedure_cls()
        procedure.set_from_strings(_flag_assignments(procedure_cls, args.procedure_flags)
                                   + args.assignments)
    except (KeyError, ConfigError, AvlabError) as exc:
        print(f"avlab: {_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    try:  # every output is claimed before any instrument is touched
        outputs = reserve_outputs(Path(args.out) if args.out else None,
                                  procedure=procedure.name, siblings=procedure.outputs)
    except OutputError as exc:
        print(f"avlab: {exc}", file=sys.stderr)
        return EXIT_USAGE
    plotter = None
    if not args.no_plot and outputs.siblings.get(".png") is not None:
        from .plot_worker import PlotWorker

        plotter = PlotWorker()  # loads matplotlib on the other core while the run goes
    try:
        return _run_reserved(procedure, config, outputs, plotter=plotter)
    finally:
        if plotter is not None:
            plotter.close()
        outputs.release_unused()


def _flag_assignments(procedure_cls: Any, argv: list[str]) -> list[str]:
    """`--flag VALUE` options a procedure declares in `cli_flags`, as `name=value` strings."""
    from .errors import ParameterError

    flags = getattr(procedure_cls, "cli_flags", {})
    parser = argparse.ArgumentParser(prog=f"avlab run {procedure_cls.name}", add_help=False,
                                     allow_abbrev=False, exit_on_error=False)
    for flag, name in flags.items():
        parser.add_argument(flag, dest=name, metavar="VALUE")
    try:
        values, unknown = parser.parse_known_args(argv)
    except argparse.ArgumentError as exc:
        raise ParameterError(str(exc)) from None
    if unknown:
        known = ", ".join(flags) or "none; use --set NAME=VALUE"
        raise ParameterError(f"unrecognized arguments: {' '.join(unknown)} (options of "
                             f"{procedure_cls.name}: {known})")
    return [f"{name}={value}" for name, value in vars(values).items() if value is not None]


def _run_reserved(procedure: Any, config: Any, outputs: Any, *, plotter: Any) -> int:
    from .bench import Bench
    from .errors import AvlabError
    from .runner import Runner
    from .storage import RunFileExistsError

    print(f"avlab {procedure.name} on {config.name} ({config.source})")
    try:
        bench = Bench(config)
    except AvlabError as exc:
        print(f"avlab: {exc}", file=sys.stderr)
        return EXIT_FAILED
    with bench:
        bar = ProgressBar(sys.stderr)
        try:
            # in the try: describing the data checks parameter combinations (ParameterError)
            result = Runner(procedure, bench, outputs.run_file, listeners=[bar],
                            reserved=True).run()
        except (AvlabError, RunFileExistsError, ValueError) as exc:
            print(f"avlab: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            bar.close()
    _report(result, procedure, png=outputs.siblings.get(".png") if plotter else None,
            plotter=plotter)
    if result.status == "completed":
        return EXIT_OK
    if result.status == "aborted":
        return EXIT_INTERRUPTED if "Ctrl-C" in result.message else EXIT_ABORTED
    return EXIT_FAILED


def _report(result: Any, procedure: Any, *, png: Path | None, plotter: Any = None) -> None:
    print(f"run file : {result.path}")
    print(f"status   : {result.status}" + (f" ({result.message})" if result.message else ""))
    print(f"points   : {result.n_points}   bench time {result.bench_time_s:.1f} s, "
          f"wall time {result.duration_s:.2f} s")
    print("shutdown : " + ", ".join(f"{r}: {o}" for r, o in result.shutdown.outcomes.items()))
    if result.analysis is not None:
        print("analysis :")
        for line in result.analysis.summary:
            print(f"  {line}")
    elif result.analysis_error:
        print(f"analysis : not possible ({result.analysis_error})")
    if png is not None and result.data is not None:
        try:
            written = plotter.plot(procedure, result.data, result.analysis, png)
            if written is not None:
                print(f"plot     : {written}")
        except Exception as exc:  # a plot must never hide the result
            print(f"plot     : failed ({type(exc).__name__}: {exc})")


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .storage import summarize

    path = Path(args.file)
    if not path.is_file():
        print(f"avlab: no such file: {path}", file=sys.stderr)
        return EXIT_USAGE
    try:
        text = summarize(path)
    except (OSError, ValueError) as exc:
        print(f"avlab: cannot read {path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return _print_to_pipe(text)


def _print_to_pipe(text: str) -> int:
    """Print, and end quietly when the reader closes the pipe (`avlab inspect f | head`)."""

    try:
        print(text, flush=True)
    except BrokenPipeError:
        _quiet_stdout()
    return EXIT_OK


def _quiet_stdout() -> None:
    """After a broken pipe: Python flushes stdout again at exit; point it at devnull so
    that cannot fail with a second traceback."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _cmd_recover(args: argparse.Namespace) -> int:
    from .recover import RecoverError, recover_run

    try:
        print(recover_run(args.file, force=args.force))
    except (OSError, ValueError, RecoverError) as exc:
        print(f"avlab: cannot recover {args.file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_instruments(args: argparse.Namespace) -> int:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="pymeasure")
    from .bench import Bench
    from .config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"avlab: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{config.name} ({config.source})")
    problems = 0
    with Bench(config, keep_going=True) as bench:
        for role, inst in config.instruments.items():
            print(f"{role}  [{inst.driver} @ {inst.resource}]")
            if role in bench.failures:
                problems += 1
                print(f"  PROBLEM: {bench.failures[role]}")
                continue
            device = bench[role]
            print(f"  identity: {device.identity}")
            try:
                print(f"  status:   {device.live_status()}")
            except Exception as exc:  # report and go on to the next role
                problems += 1
                print(f"  PROBLEM:  {type(exc).__name__}: {exc}")
    print(f"{len(config.instruments) - problems} of {len(config.instruments)} roles OK")
    return EXIT_OK if problems == 0 else EXIT_FAILED


def _cmd_sim(args: argparse.Namespace) -> int:
    import time

    from .config import ConfigError, load_config
    from .simulation import serve

    try:
        config = load_config(args.config)
        server, _world, skipped = serve(config, base_port=args.base_port,
                                       real_ports=not args.no_real_ports)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"avlab: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with server:
        print(f"serving the simulated bench of {config.name} on {server.host} (real time)")
        for served in server.served:
            if served.name == "faults":
                continue
            driver = config.instruments[served.name].driver
            print(f"  {served.name:<12} {driver:<16} {served.visa_resource:<36} "
                  f"{served.serial_url}")
        for role in skipped:
            print(f"  {role:<12} {config.instruments[role].driver:<16} (SDK-level: in-process "
                  "only)")
        control = next(s for s in server.served if s.name == "faults")
        print(f"fault control: {control.serial_url}  (lines: LIST | INJECT <role> <fault> | "
              "CLEAR <role>)")
        print("Ctrl-C to stop", flush=True)
        try:
            if args.duration is None:
                while True:
                    time.sleep(3600)
            else:
                time.sleep(args.duration)
        except KeyboardInterrupt:
            pass
    print("stopped")
    return EXIT_OK


def _cmd_procedures(args: argparse.Namespace) -> int:
    from .registry import load_procedure, procedure_names

    names = [args.name] if args.name else procedure_names()
    for name in names:
        try:
            cls = load_procedure(name)
        except KeyError as exc:
            print(f"avlab: {_message(exc)}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{name}: {cls.title}")
        flags = {name: flag for flag, name in getattr(cls, "cli_flags", {}).items()}
        for name, param in cls.parameters().items():
            also = f"  (or {flags[name]} VALUE)" if name in flags else ""
            print(f"  --set {param.describe()}{also}")
    return EXIT_OK


def _cmd_config(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"avlab: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{config.source}: OK — {config.name}")
    print(f"  optics: NA {config.optics.numerical_aperture}, transmission to sample "
          f"{config.optics.transmission_to_sample}")
    for role, inst in config.instruments.items():
        limits = ", ".join(f"{k} = {v:g}" for k, v in inst.limits.items()) or "none"
        kind = inst.kind + (f" {inst.wavelength_nm:g} nm" if inst.wavelength_nm else "")
        print(f"  {role:<12} {kind:<17} {inst.driver:<16} {inst.resource:<28} limits: {limits}")
    if args.drivers:
        from .specs import driver_specs

        print("drivers:")
        for name, spec in sorted(driver_specs().items()):
            twin = ("no twin" if spec.twin is None else "twin, served" if spec.twin.served
                    else "twin, in-process")
            print(f"  {name:<20} {'/'.join(spec.kinds):<13} {twin:<17} {spec.description}")
    return EXIT_OK


# --- helpers ---------------------------------------------------------------------------------

def _message(exc: BaseException) -> str:
    return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)


class ProgressBar:
    """A run-event listener: a one-line bar with the time left on a terminal; sparse
    progress lines elsewhere (logs, CI); warnings from the run as they happen."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.points = 0
        self._last_decile = -1

    def __call__(self, event: Any) -> None:
        from .events import LogMessage, PointRecorded, Progress

        if isinstance(event, PointRecorded):
            self.points += 1
        elif isinstance(event, Progress):
            self._progress(event.fraction, event.message, event.remaining_s)
        elif isinstance(event, LogMessage) and event.level >= logging.WARNING and self.tty:
            self.stream.write(f"\r{'':<80}\r{event.level_name.lower()}: {event.message}\n")

    def _progress(self, fraction: float, message: str, remaining_s: float | None) -> None:
        left = f"{remaining_s:5.0f} s left" if remaining_s is not None else ""
        if self.tty:
            filled = int(fraction * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {fraction:4.0%} {self.points:4d} pts {left:>12}  "
                              f"{message:<32}")
            self.stream.flush()
            return
        decile = int(fraction * 10)
        if decile > self._last_decile:
            self._last_decile = decile
            self.stream.write(f"progress {fraction:4.0%}  {self.points} points  {message}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


if __name__ == "__main__":
    sys.exit(main())
