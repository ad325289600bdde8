"""`nidaqmx.stream_writers`: the writer the galvo driver uses (numpy in, no per-sample Python)."""

from __future__ import annotations

import numpy as np

from .errors import DaqWriteError


class AnalogMultiChannelWriter:
    """Writes a (channels, samples) float64 array to an AO task's buffer."""

    def __init__(self, task_out_stream, auto_start: bool = False) -> None:
        self._out_stream = task_out_stream
        self.auto_start = auto_start

    def write_many_sample(self, data: np.ndarray, timeout: float = 10.0) -> int:
        """Samples per channel written. Like the real writer, the array must be C-contiguous
        float64 with one row per channel of the task."""
        task = self._out_stream.task
        if not (isinstance(data, np.ndarray) and data.dtype == np.float64
                and data.flags.c_contiguous):
            raise TypeError("data must be a C-contiguous numpy.float64 array")
        if data.ndim != 2 or data.shape[0] != len(task.ao_channels.channel_names):
            raise DaqWriteError(
                f"Write cannot be performed: the array has {data.shape[0] if data.ndim else 0} "
                f"rows but the task has {len(task.ao_channels.channel_names)} channels",
                -200524, 0, task.name)
        task._card.write(task, data)
        if self.auto_start:
            task.start()
        return int(data.shape[1])
