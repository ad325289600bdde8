"""avlab: instrument control and acquisition for photon-avalanche nanoparticle (ANP) labs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("avlab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
