"""`nidaqmx.stream_readers`: the counter reader the galvo driver uses, filling the caller's
uint32 array in place as the real reader does."""

from __future__ import annotations

import numpy as np

from .constants import READ_ALL_AVAILABLE


class CounterReader:
    """Reads counter samples (here: cumulative edge counts latched on a sample clock)."""

    def __init__(self, task_in_stream) -> None:
        self._in_stream = task_in_stream

    def read_many_sample_uint32(self, data: np.ndarray,
                                number_of_samples_per_channel: int = READ_ALL_AVAILABLE,
                                timeout: float = 10.0) -> int:
        """Read `number_of_samples_per_channel` latches into `data` (uint32, C-contiguous, at
        least that long); returns the samples read. Blocks (bench time) until they exist or
        `timeout` s pass (DaqReadError -200284)."""
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint32
                and data.flags.c_contiguous):
            raise TypeError("data must be a C-contiguous numpy.uint32 array")
        task = self._in_stream.task
        n = int(number_of_samples_per_channel)
        if n == READ_ALL_AVAILABLE:
            n = data.shape[0]
        if data.shape[0] < n:
            raise ValueError(f"data holds {data.shape[0]} samples, {n} requested")
        data[:n] = task._card.read_latches(task, n, float(timeout))
        return n
