"""Hardware-timed raster scanning with synchronised photon counting (SDK-level devices).

Importing this package needs numpy only; the NI-DAQ backend (`nidaq_galvo`) imports nidaqmx
when a scanner is created.
"""

from .base import (
    LineResult,
    RasterFrame,
    ScannerConnectionError,
    ScannerTimeoutError,
    ScanningCounter,
    assemble_image,
)
from .calibration import (
    GalvoCalibration,
    RasterWaveform,
    ScanLimitError,
    raster_positions_um,
    raster_waveform,
)

__all__ = [
    "GalvoCalibration", "LineResult", "RasterFrame", "RasterWaveform", "ScanLimitError",
    "ScannerConnectionError", "ScannerTimeoutError", "ScanningCounter", "assemble_image",
    "raster_positions_um", "raster_waveform",
]
