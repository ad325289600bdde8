"""The presets shipped with avlab (``presets/*.toml``), loaded once at import.

Loading is TOML parsing only (no numpy solve, no scipy), so ``avlab.config`` can import
``PRESETS`` to validate a config cheaply.
"""

from __future__ import annotations

from pathlib import Path

from .loader import PresetError, load_preset
from .preset import Preset

PRESET_DIR = Path(__file__).with_name("presets")


def _load_shipped() -> dict[str, Preset]:
    presets: dict[str, Preset] = {}
    paths = sorted(PRESET_DIR.glob("*.toml"))
    if not paths:  # an install without package data (pyproject: sim_devices physics/presets/*.toml)
        raise PresetError(f"no preset files in {PRESET_DIR}: the package was installed without "
                          f"its data files")
    for path in paths:
        preset = load_preset(path)
        if preset.name in presets:
            raise PresetError(f"{path}: preset name {preset.name!r} is already used by "
                              f"{presets[preset.name].source_file}")
        presets[preset.name] = preset
    return presets


#: Shipped presets by name. The default sample is "tm8_1064".
PRESETS: dict[str, Preset] = _load_shipped()
DEFAULT_PRESET = "tm8_1064"


def get_preset(name: str) -> Preset:
    """A shipped preset by name (KeyError listing the known names otherwise)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown sample preset {name!r}; known presets: "
                       f"{', '.join(sorted(PRESETS))}") from None
