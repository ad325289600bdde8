"""Make a run file whose writer was killed open in every HDF5 tool again.

A writer killed mid-run (SIGKILL, power cut) leaves a structurally sound SWMR file — every
flushed point is there — but HDF5's superblock still says "open for writing", so plain
`h5py.File(path)`, HDFView or silx refuse it ("file is already open for write"); only SWMR
readers (and `avlab inspect`) get in. `h5clear -s` from the HDF5 tools clears that flag; this
module does the same in pure Python so no system package is needed: it zeroes the file
consistency flags of a version 2/3 superblock and rewrites the superblock checksum.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

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


def _find_superblock(fh) -> int:
    for offset in _SUPERBLOCK_OFFSETS:
        fh.seek(offset)
        if fh.read(8) == HDF5_SIGNATURE:
            return offset
    raise RecoverError("no HDF5 superblock found: not an HDF5 file")


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


def recover_run(path: str | os.PathLike[str]) -> str:
    """Repair a run file left by a killed writer; return a one-line account of what was done.

    Clears the write flags, then — if the run still says "running" — records status "failed"
    with a message saying the writer never finished. The measured points are not touched.
    """
    import h5py

    from .storage import MESSAGE_LEN, STATUS_RUNNING, _now_iso, _set_fixed_text

    cleared = clear_write_flags(path)
    with h5py.File(path, "r+") as f:
        entry = f.get("entry")
        if entry is None or "status" not in entry:
            return f"{path}: write flags {'cleared' if cleared else 'were clean'}; not a run file"
        status = entry["status"][()].decode("utf-8", "replace").strip("\x00 ")
        if status != STATUS_RUNNING:
            return (f"{path}: write flags {'cleared' if cleared else 'were clean'}; status "
                    f"{status!r} kept")
        n_points = min((ds.shape[0] for ds in entry["data"].values()), default=0)
        _set_fixed_text(entry["status"], "failed")
        message = (f"writer stopped without finishing (killed or crashed); {n_points} points "
                   f"on disk; recovered by avlab recover at {_now_iso()}")
        _set_fixed_text(entry["status_message"], message[:MESSAGE_LEN])
    return f"{path}: recovered, {n_points} points; status set to 'failed' (writer never finished)"
