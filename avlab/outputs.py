"""Reserve every file a run will write before any instrument is touched.

A run writes its HDF5 file and siblings next to it (the PNG plot, later others). Checking
and claiming all of them up front means a bad ``--out`` (wrong suffix, unwritable directory,
a name already taken) is refused before a laser is switched on, and two runs can never end
up writing the same name — even 20 started in the same second.

How a name is claimed: each output is created empty with ``O_CREAT | O_EXCL``, which the
file system grants to exactly one process. The run file is claimed the same way; the
:class:`~avlab.storage.RunWriter` then takes over that empty file (``reserved=True``) instead
of creating it, and refuses if it is no longer empty. A zero-byte output therefore means
"reserved, never written"; :meth:`RunOutputs.release_unused` removes those (a run with no
points makes no plot; a run that never started leaves no empty run file).

Rules:

* the run file has an HDF5 suffix (``.h5``, ``.hdf5``, ``.nxs``): ``--out run.png`` would
  make the plot overwrite the run file, so it is refused;
* neither the run file nor any sibling may exist: nothing is ever overwritten;
* default names are ``<directory>/<procedure>_<YYYYmmdd-HHMMSS>.h5``, then ``-2``, ``-3`` ...
  for the next free name whose run file *and* siblings can all be claimed.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AvlabError

__all__ = ["HDF5_SUFFIXES", "OutputError", "RunOutputs", "reserve_outputs"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".nxs")
#: Highest "-N" tried for a default name before giving up (a runaway loop guard).
_MAX_DEFAULT_TRIES = 10_000


class OutputError(AvlabError):
    """A run's outputs cannot be claimed: bad name, existing file, unwritable directory."""


@dataclass
class RunOutputs:
    """The claimed paths of one run: the run file and each sibling by suffix."""

    run_file: Path
    siblings: dict[str, Path] = field(default_factory=dict)

    def sibling(self, suffix: str) -> Path:
        """The claimed path for ``suffix`` (e.g. ".png"); KeyError if none was reserved."""
        return self.siblings[suffix]

    @property
    def paths(self) -> list[Path]:
        return [self.run_file, *self.siblings.values()]

    def release_unused(self) -> list[Path]:
        """Remove every claimed output that is still empty (never written); return them.

        Safe to call more than once, and after the run: written files are never removed.
        """
        removed = []
        for path in self.paths:
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                pass
        return removed


def _claim(path: Path) -> bool:
    """Create ``path`` empty, atomically; False if it exists (OutputError if it cannot)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot create {path}: {reason}; choose another --out or "
                          "directory") from exc
    os.close(fd)
    return True


def _claim_all(paths: list[Path]) -> Path | None:
    """Claim every path or none; returns the first path found to exist, or None."""
    claimed: list[Path] = []
    try:
        for path in paths:
            if not _claim(path):
                for done in claimed:
                    done.unlink(missing_ok=True)
                return path
            claimed.append(path)
    except BaseException:
        for done in claimed:
            done.unlink(missing_ok=True)
        raise
    return None


def _check_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write runs into {directory}: it is a file, not a "
                          "directory") from None
    except OSError as exc:
        raise OutputError(f"cannot create the output directory {directory}: "
                          f"{exc.strerror or exc}") from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {directory}: permission denied; choose "
                          "another --out or directory")


def reserve_outputs(
    out: Path | None,
    *,
    procedure: str,
    directory: Path = Path("runs"),
    siblings: Sequence[str] = (".png",),
) -> RunOutputs:
    """Check and claim a run's output files before anything moves.

    ``out`` is the requested run file (``--out``), or None for a default name in
    ``directory``. ``siblings`` are the suffixes of files written next to it (same stem).
    Raises :class:`OutputError` with the reason; on error nothing is left behind.
    """
    suffixes = list(siblings)
    for suffix in suffixes:
        if not isinstance(suffix, str) or not suffix.startswith(".") or len(suffix) < 2 \
                or "/" in suffix or os.sep in suffix:
            raise ValueError(f"sibling suffix {suffix!r} must look like '.png'")
        if suffix.lower() in HDF5_SUFFIXES:
            raise ValueError(f"sibling suffix {suffix!r} is the run file's kind")
    if len(set(suffixes)) != len(suffixes):
        raise ValueError(f"sibling suffixes repeat: {suffixes}")

    if out is not None:
        out = Path(out)
        if out.suffix.lower() not in HDF5_SUFFIXES:
            hint = f"; e.g. --out {out.with_suffix('.h5')}" if out.name else ""
            raise OutputError(
                f"--out {out}: a run file needs an HDF5 suffix ({', '.join(HDF5_SUFFIXES)}); "
                f"the plot and other outputs are written next to it with their own "
                f"suffixes{hint}")
        _check_directory(out.parent)
        planned = [out, *(out.with_suffix(s) for s in suffixes)]
        taken = _claim_all(planned)
        if taken is not None:
            raise OutputError(f"{taken} already exists; avlab never overwrites a file, so "
                              f"choose another --out than {out}")
        return RunOutputs(out, {s: out.with_suffix(s) for s in suffixes})

    if not procedure or "/" in procedure or os.sep in procedure or procedure in (".", ".."):
        raise ValueError(f"procedure name {procedure!r} cannot be part of a file name")
    directory = Path(directory)
    _check_directory(directory)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1, _MAX_DEFAULT_TRIES + 1):
        stem = f"{procedure}_{stamp}" + (f"-{n}" if n > 1 else "")
        run_file = directory / f"{stem}.h5"
        planned = [run_file, *(directory / f"{stem}{s}" for s in suffixes)]
        if _claim_all(planned) is None:
            return RunOutputs(run_file, {s: directory / f"{stem}{s}" for s in suffixes})
    raise OutputError(f"no free run file name in {directory} for {procedure}_{stamp} after "
                      f"{_MAX_DEFAULT_TRIES} tries")
