"""The built-in instruments: one declaration (a `DriverSpec` named `SPEC`) per driver.

Each module here describes one driver of the `drivers` package to avlab — role kinds,
options, how it opens and is prepared, its simulated twin, how the bench wraps it (see
avlab/specs.py). avlab finds every module of this package that defines `SPEC`; there is no
list to edit. The declarations live outside `drivers` because they use avlab's types, and
`drivers` must stay importable without avlab. Drivers from other packages declare themselves
the same way and register through the `avlab.drivers` entry-point group (docs/instruments.md).
"""
