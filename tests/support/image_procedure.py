"""A test procedure that streams an image line by line, the way a confocal scan does, without
depending on the scanner: each line is the detector's counts in a synthetic spot pattern."""

from __future__ import annotations

import numpy as np

from avlab.data import ArrayItem, Axis
from avlab.procedure import Float, Int, Procedure, RunContext
from avlab.views import ImageView


class LineImage(Procedure):
    name = "line_image"
    title = "test image, line by line"
    pixels_x = Int(256, minimum=2, maximum=4096)
    pixels_y = Int(256, minimum=2, maximum=4096)
    field_um = Float(2.0, minimum=0.01, unit="um")
    line_wait_s = Float(0.01, minimum=0.0, unit="s", doc="bench time per line")
    #: Stop (raise) after this many lines (-1: never); for tests of partial images.
    fail_after_lines = Int(-1)
    arrays = [ArrayItem("counts", "counts", shape=("pixels_y", "pixels_x"), dtype="f8",
                        axes=("y_um", "x_um"), interpretation="image",
                        description="photons per pixel")]
    default_plot = "counts"

    def array_axes(self) -> list[Axis]:
        half = self.field_um / 2
        return [Axis("x_um", "um", "fast axis", values=np.linspace(-half, half, self.pixels_x)),
                Axis("y_um", "um", "slow axis", values=np.linspace(-half, half, self.pixels_y))]

    def views(self):
        return (ImageView("image", item="counts"),)

    def run(self, ctx: RunContext) -> None:
        x = np.linspace(-1, 1, self.pixels_x)
        for iy in range(self.pixels_y):
            if iy == self.fail_after_lines:
                raise RuntimeError("stopped on purpose")
            ctx.wait(self.line_wait_s)
            y = -1 + 2 * iy / (self.pixels_y - 1)
            line = 1000.0 * np.exp(-(x ** 2 + y ** 2) / 0.02) + iy  # a spot, and the line index
            ctx.write("counts", (iy,), line)
            ctx.progress((iy + 1) / self.pixels_y, f"line {iy + 1}")
