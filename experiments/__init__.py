"""Experiment procedures. Each module is runnable as a script and listed here for the CLI/GUI.

The registry maps a procedure name to `module:Class`; modules are imported only when used so
that `avlab --help` stays fast.
"""

from __future__ import annotations

from importlib import import_module

PROCEDURES: dict[str, str] = {
    "scurve": "experiments.scurve:SCurve",
}


def load_procedure(name: str) -> type:
    """The procedure class registered under `name`."""
    try:
        target = PROCEDURES[name]
    except KeyError:
        raise KeyError(f"unknown procedure {name!r}; available: {', '.join(PROCEDURES)}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(import_module(module_name), class_name)
