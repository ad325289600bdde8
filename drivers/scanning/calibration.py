"""Galvo calibration, waveform limits and the raster waveform builder, under their old import
path: they live in `instrument_data.galvo`, shared with the simulated bench."""

from instrument_data.galvo import (
    AXES,
    GalvoCalibration,
    RasterWaveform,
    ScanLimitError,
    raster_positions_um,
    raster_waveform,
)

__all__ = ["AXES", "GalvoCalibration", "RasterWaveform", "ScanLimitError",
           "raster_positions_um", "raster_waveform"]
