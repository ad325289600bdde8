"""Data exchanged between instruments and the code that drives them, owned by neither side.

A driver (`drivers`) and its simulated twin (`sim_devices`) must agree on what a raster frame,
a scanned line, a time histogram or a pump waveform is. Those types live here, with the number
and unit checks they need, so that neither package imports the other to share them. Importing
this package needs numpy only; it imports nothing from `drivers`, `sim_devices` or `avlab`.

* `scanning`: `RasterFrame`, `LineResult`, `assemble_image`;
* `galvo`: `GalvoCalibration` (µm ↔ V, voltage and slew limits), `RasterWaveform`,
  `raster_waveform`, `ScanLimitError`;
* `timetagging`: `TimeHistogram`, `CountTrace`, `GatedCounts`, and the ps/channel checks;
* `modulation`: `PumpWaveform`, `check_waveform`;
* `numbers`: the finite/integer checks behind them.
"""
