"""Exceptions of the avlab application layer."""

from __future__ import annotations


class AvlabError(Exception):
    """Base class of avlab's own errors."""


class SafetyLimitError(AvlabError):
    """A request would exceed a safety limit from the lab config; nothing was sent."""


class DetectorOverloadError(SafetyLimitError):
    """The detector saw more light than its configured limit; the run stops to protect it."""


class RunAborted(AvlabError):
    """The run was asked to stop (abort button, Ctrl-C)."""


class ParameterError(AvlabError, ValueError):
    """A procedure parameter is missing, malformed or out of its limits."""


class BenchError(AvlabError):
    """The bench could not be set up (an instrument failed to connect)."""


class InstrumentFaultError(AvlabError):
    """A role reported a fault during a run (a laser trip, a cryostat alarm, a flooded
    detector that did not clear): the run ends with the fault named, no point recorded from
    the tripped instrument."""
