"""Find procedures and extra commands that packages register through entry points.

Core code never names a procedure: `avlab run X`, `avlab procedures` and the GUI ask this
registry, which reads the `avlab.procedures` entry-point group of every installed
distribution (avlab's own `experiments` package registers its procedures the same way in
pyproject.toml). A lab's own package adds a procedure with one line in its pyproject:

    [project.entry-points."avlab.procedures"]
    my_scan = "my_lab_procedures.scan:MyScan"

`avlab.commands` works alike for extra subcommands (a callable that adds its subparser).
Modules are imported only when a procedure or command is used, so listing stays fast.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

PROCEDURE_GROUP = "avlab.procedures"
COMMAND_GROUP = "avlab.commands"


class RegistryError(KeyError):
    """An unknown name, or a registered target that cannot be loaded."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _group(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)  # the first distribution on the path wins, as import does
    return dict(sorted(found.items()))


def procedure_names() -> list[str]:
    """Names of every registered procedure."""
    return list(_group(PROCEDURE_GROUP))


def load_procedure(name: str) -> type:
    """The procedure class registered under `name`."""
    from .procedure import Procedure

    registered = _group(PROCEDURE_GROUP)
    if name not in registered:
        raise RegistryError(f"unknown procedure {name!r}; available: "
                            f"{', '.join(registered) or '(none registered)'}")
    try:
        cls = registered[name].load()
    except Exception as exc:
        raise RegistryError(f"procedure {name!r} is registered as {registered[name].value!r}, "
                            f"which cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Procedure)):
        raise RegistryError(f"procedure {name!r} ({registered[name].value}) is not a "
                            "Procedure subclass")
    return cls


def commands() -> dict[str, EntryPoint]:
    """Extra subcommands: name -> entry point of a callable `add(subparsers) -> handler`."""
    return _group(COMMAND_GROUP)


def load_command(ep: EntryPoint) -> Any:
    return ep.load()
