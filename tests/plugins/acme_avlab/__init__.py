"""A made-up instrument maker's avlab plugin, used by tests/test_driver_plugins.py.

It holds what a lab's own package would hold for a new instrument — driver, twin, spec — and
nothing of it is known to avlab until the package is installed with its entry point.
"""
