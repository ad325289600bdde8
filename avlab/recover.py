"""Make a run file whose writer was killed open in every HDF5 tool again.

A writer killed mid-run (SIGKILL, power cut) leaves a structurally sound SWMR file — every
flushed point and every flushed line of an image is there — but HDF5's superblock still says
"open for writing", so plain `h5py.File(path)`, HDFView or silx refuse it ("file is already
open for write"); only SWMR readers (and `avlab inspect`) get in. `h5clear -s` from the HDF5
tools clears that flag; this module does the same in pure Python so no system package is
needed: it zeroes the file consistency flags of a version 2/3 superblock and rewrites the
superblock checksum.

Which files may be recovered
----------------------------
Clearing the flags of a file that a live process is still writing would let other tools read
half-written metadata and lets the writer carry on into a file marked "failed". So every run
file records its writer (host name, process id and, on Linux, the process start time) when it
is created, and :func:`recover_run` refuses while that writer is alive:

* same host, that pid alive (and, where the start time is known, the same process — not a
  later process that reuses the pid): refused, the run is still being written;
* same host, no such process: the writer is gone; the file is recovered;
* another host: this machine cannot tell, so it is refused unless ``force=True``
  (``avlab recover --force``) says the operator knows that run has stopped.

The superblock reader here is also what :mod:`avlab.storage` uses to refuse truncated files
before HDF5 opens them (a SWMR open of a cut file retries its metadata reads for minutes).
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: HDF5 looks for the superblock at 0, 512, 1024, 2048, ... (after a user block).
_SUPERBLOCK_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)


class RecoverError(RuntimeError):
    """The file is not an HDF5 file this tool can repair."""


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 `hashlittle`, the checksum HDF5 uses for its metadata."""
    mask = 0xFFFFFFFF
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & mask
    offset = 0
    while length > 12:
        a = (a + int.from_bytes(data[offset:offset + 4], "little")) & mask
        b = (b + int.from_bytes(data[offset + 4:offset + 8], "little")) & mask
        c = (c + int.from_bytes(data[offset + 8:offset + 12], "little")) & mask
        a = (a - c) & mask; a ^= _rot(c, 4); c = (c + b) & mask
        b = (b - a) & mask; b ^= _rot(a, 6); a = (a + c) & mask
        c = (c - b) & mask; c ^= _rot(b, 8); b = (b + a) & mask
        a = (a - c) & mask; a ^= _rot(c, 16); c = (c + b) & mask
        b = (b - a) & mask; b ^= _rot(a, 19); a = (a + c) & mask
        c = (c - b) & mask; c ^= _rot(b, 4); b = (b + a) & mask
        offset += 12
        length -= 12
    if length == 0:
        return c
    tail = data[offset:] + b"\x00" * (12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & mask
    b = (b + int.from_bytes(tail[4:8], "little")) & mask
    c = (c + int.from_bytes(tail[8:12], "little")) & mask
    c ^= b; c = (c - _rot(b, 14)) & mask
    a ^= c; a = (a - _rot(c, 11)) & mask
    b ^= a; b = (b - _rot(a, 25)) & mask
    c ^= b; c = (c - _rot(b, 16)) & mask
    a ^= c; a = (a - _rot(c, 4)) & mask
    b ^= a; b = (b - _rot(a, 14)) & mask
    c ^= b; c = (c - _rot(b, 24)) & mask
    return c


def _find_superblock(fh: BinaryIO, size: int | None = None) -> int:
    for offset in _SUPERBLOCK_OFFSETS:
        if size is not None and offset + 8 > size:
            break
        fh.seek(offset)
        if fh.read(8) == HDF5_SIGNATURE:
            return offset
    raise RecoverError("no HDF5 superblock found: not an HDF5 file")


@dataclass(frozen=True)
class Superblock:
    """What the superblock says about the file as a whole (all byte counts)."""

    offset: int            #: where the superblock starts (after any user block)
    version: int
    base_address: int      #: absolute address that the file's addresses are relative to
    end_address: int | None  #: absolute end of file HDF5 expects; None if undefined
    write_flags: int       #: non-zero while a writer has (or had) the file open
    checksum_ok: bool      #: always True for versions 0/1, which have no checksum


def read_superblock(fh: BinaryIO, size: int) -> Superblock:
    """Parse the superblock of an open binary file of ``size`` bytes.

    Raises RecoverError if there is no HDF5 signature or the superblock is cut off.
    """
    base = _find_superblock(fh, size)
    fh.seek(base)
    block = fh.read(96)
    if len(block) < 12:
        raise RecoverError("the HDF5 superblock is cut off")
    version = block[8]
    if version in (0, 1):
        size_offsets = block[13]
        first = 24 + (4 if version == 1 else 0)
        flags_at = 20
    elif version in (2, 3):
        size_offsets = block[9]
        first = 12
        flags_at = 11
    else:
        raise RecoverError(f"unknown HDF5 superblock version {version}")
    if size_offsets not in (2, 4, 8):
        raise RecoverError(f"superblock gives an invalid address size {size_offsets}")
    need = first + 4 * size_offsets + (4 if version >= 2 else 0)
    if len(block) < need:
        raise RecoverError("the HDF5 superblock is cut off")

    def address(k: int) -> int:
        at = first + k * size_offsets
        return int.from_bytes(block[at:at + size_offsets], "little")

    undefined = (1 << (8 * size_offsets)) - 1
    base_address = address(0)
    eof = address(2)
    checksum_ok = True
    if version >= 2:
        n = first + 4 * size_offsets
        checksum_ok = lookup3(block[:n]) == int.from_bytes(block[n:n + 4], "little")
        flags = block[flags_at]
    else:
        flags = int.from_bytes(block[flags_at:flags_at + 4], "little")
    return Superblock(
        offset=base, version=version,
        base_address=0 if base_address == undefined else base_address,
        end_address=None if eof == undefined else (0 if base_address == undefined else base_address) + eof,
        write_flags=flags, checksum_ok=checksum_ok,
    )


def clear_write_flags(path: str | os.PathLike[str]) -> bool:
    """Clear the 'open for writing' flags of a file left by a killed writer.

    Returns True if flags were set and are now cleared, False if the file was already clean.
    Never call it on a file a live process is still writing.
    """
    path = Path(path)
    with open(path, "r+b") as fh:
        base = _find_superblock(fh)
        fh.seek(base + 8)
        version, size_offsets = struct.unpack("<BB", fh.read(2))
        if version < 2:
            raise RecoverError(f"superblock version {version} has no consistency flags to clear")
        fh.seek(base)
        # signature, version, offsets size, lengths size, flags, then four addresses.
        n_bytes = 12 + 4 * size_offsets
        block = bytearray(fh.read(n_bytes + 4))
        stored = int.from_bytes(block[n_bytes:n_bytes + 4], "little")
        if lookup3(bytes(block[:n_bytes])) != stored:
            raise RecoverError("superblock checksum does not match: the file is damaged")
        if block[11] == 0:
            return False
        block[11] = 0
        block[n_bytes:n_bytes + 4] = lookup3(bytes(block[:n_bytes])).to_bytes(4, "little")
        fh.seek(base)
        fh.write(block)
    return True


def process_start_ticks(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or "" if unknown.

    Together with the pid it identifies one process: a pid can be reused after its process
    ended, the pair cannot (until the next boot, which ends every writer anyway).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else ""


def writer_identity() -> dict[str, str]:
    """Who is writing a new run file: stored in the file so `recover` can check it."""
    pid = os.getpid()
    return {"writer_host": socket.gethostname(), "writer_pid": str(pid),
            "writer_start_ticks": process_start_ticks(pid)}


def writer_still_running(host: str, pid_text: str, start_ticks: str) -> bool | None:
    """True if the recorded writer is alive, False if it is gone, None if this host can't tell."""
    if host != socket.gethostname():
        return None
    try:
        pid = int(pid_text)
    except ValueError:
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    if start_ticks:
        current = process_start_ticks(pid)
        if current and current != start_ticks:
            return False  # the pid now belongs to a later process
    return True


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def recover_run(path: str | os.PathLike[str], *, force: bool = False) -> str:
    """Repair a run file left by a killed writer; return a one-line account of what was done.

    Refuses (RecoverError) while the process that writes the file is alive, and for files
    written on another host unless ``force`` (see the module docstring for the rule). Then
    clears the write flags and — if the run still says "running" — records status "failed"
    with a message saying the writer never finished. Measured points and array lines are
    not touched: lines never written stay at their fill value (NaN for float images).
    """
    import h5py

    from .storage import STATUS_RUNNING, DamagedRunFileError, _now_iso, _open_for_reading

    path = Path(path)
    try:
        with _open_for_reading(path) as f:
            entry = f.get("entry")
            status = ""
            if isinstance(entry, h5py.Group) and isinstance(entry.get("status"), h5py.Dataset):
                status = _text(entry["status"][()]).strip("\x00 ")
            host = _text(f.attrs.get("writer_host", ""))
            pid = _text(f.attrs.get("writer_pid", ""))
            ticks = _text(f.attrs.get("writer_start_ticks", ""))
    except DamagedRunFileError as exc:
        raise RecoverError(str(exc)) from exc
    if status == STATUS_RUNNING and pid and not force:
        alive = writer_still_running(host, pid, ticks)
        if alive:
            raise RecoverError(
                f"the run is still being written by process {pid} on this host; wait for it "
                "to finish, or stop it (Ctrl-C in its terminal) and recover afterwards")
        if alive is None:
            raise RecoverError(
                f"the run was written on host {host!r} (process {pid}), so this machine "
                "cannot tell whether it is still being written; recover it there, or use "
                "--force if you know that run has stopped")

    cleared = clear_write_flags(path)
    flags = "write flags cleared" if cleared else "write flags were clean"
    with h5py.File(path, "r+") as f:
        entry = f.get("entry")
        if entry is None or "status" not in entry:
            return f"{path}: {flags}; not a run file"
        status = _text(entry["status"][()]).strip("\x00 ")
        if status != STATUS_RUNNING:
            return f"{path}: {flags}; status {status!r} kept"
        # Every run of the file still marked running: the main one and, in a series file,
        # the inner run that was being written (its own entry).
        others = []
        for name, group in f.items():
            if (name == "entry" or not isinstance(group, h5py.Group)
                    or not isinstance(group.get("status"), h5py.Dataset)
                    or _text(group["status"][()]).strip("\x00 ") != STATUS_RUNNING):
                continue
            _mark_failed(group, _now_iso())
            others.append(name)
        n_points, arrays = _mark_failed(entry, _now_iso())
    return (f"{path}: recovered, {n_points} points{arrays}; status set to 'failed' "
            "(writer never finished)" + (f"; also {', '.join(others)}" if others else ""))


def _mark_failed(entry: Any, when: str) -> tuple[int, str]:
    """Set a run entry left 'running' to 'failed' with what it holds; (points, arrays text)."""
    import h5py

    from .storage import MESSAGE_LEN, _set_fixed_text

    data = entry.get("data")
    n_points = min((ds.shape[0] for ds in data.values() if isinstance(ds, h5py.Dataset)),
                   default=0) if isinstance(data, h5py.Group) else 0
    arrays = _array_account(entry)
    _set_fixed_text(entry["status"], "failed")
    message = (f"writer stopped without finishing (killed or crashed); {n_points} points"
               f"{arrays} on disk; recovered by avlab recover at {when}")
    _set_fixed_text(entry["status_message"], message[:MESSAGE_LEN])
    return n_points, arrays


def _array_account(entry: object) -> str:
    """", and 37 of 256 rows of counts" style text for the array items of a run."""
    from .storage import _array_groups, _rows_written

    parts = []
    for name, ds in _array_groups(entry):  # type: ignore[arg-type]
        written, total = _rows_written(ds)
        parts.append(f"{written} of {total} rows of {name}")
    return (", and " + ", ".join(parts)) if parts else ""
