"""Gated photon counters (SDK-level devices)."""

from .base import PhotonCounter, dead_time_corrected_rate_cps

__all__ = ["PhotonCounter", "dead_time_corrected_rate_cps"]
