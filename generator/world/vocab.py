"""The world's vocabulary, re-exported from its one owner :mod:`audit.schema`.

Spec, renderer and captions import these names from here; they are defined once,
in :mod:`audit.schema`, which labelers, report and gate read too.

Examples
--------
>>> len(PROFESSIONS) >= 16, skin_group(2), skin_group(8)
(True, 'light', 'dark')
"""

from __future__ import annotations

from audit.schema import (
    ACTIVITIES, AGE_GROUPS, MST_HEX, MST_TONES, PRESENTATIONS, PROFESSIONS, SKIN_GROUPS, UNSAFE_PROPS, hex_to_rgb,
    skin_group,
)

__all__ = [
    "PROFESSIONS", "MST_HEX", "MST_TONES", "PRESENTATIONS", "AGE_GROUPS", "ACTIVITIES",
    "UNSAFE_PROPS", "SKIN_GROUPS", "skin_group", "hex_to_rgb",
]
