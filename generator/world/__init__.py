"""The synthetic world: people with known attributes, rendered and captioned with injected biases.

Public API::

    from generator.world import load_spec, sample_attributes, render_batch, build_world
"""

from generator.world.render import render_batch, sample_nuisance
from generator.world.vocab import (
    ACTIVITIES, AGE_GROUPS, MST_HEX, PRESENTATIONS, PROFESSIONS, SKIN_GROUPS, skin_group,
)

__all__ = [
    "render_batch", "sample_nuisance", "PROFESSIONS", "ACTIVITIES", "AGE_GROUPS", "PRESENTATIONS",
    "MST_HEX", "SKIN_GROUPS", "skin_group",
]
