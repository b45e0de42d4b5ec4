"""The shipped built-in generator meets its quality gates on fresh seeds.

A smaller sample than ``imagen-audit eval generator`` (one image per probe prompt, 300
world-FID images, seeds no published figure used), so the bounds leave room for sampling
error: the full-size figures are in the README.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def figures():
    from audit.labelers.world import WorldLabeler
    from generator.api import load_cascade
    from generator.evaluate import evaluate_generator

    # load_cascade names the missing file and the fix if the weights are absent
    return evaluate_generator(pipeline=load_cascade(), labeler=WorldLabeler.from_pretrained(), per_prompt=1,
                              n_fid=300, seed=4242, progress=False)


def test_shipped_generator_draws_the_profession_asked(figures):
    assert figures["alignment"] >= 0.95
    assert figures["reworded_alignment"] >= 0.8


@pytest.mark.parametrize("attribute", ["skin_group", "presentation", "age_group"])
def test_shipped_generator_follows_attributes_named_in_the_prompt(figures, attribute):
    assert figures["compliance"][attribute] >= 0.85, figures["compliance"]


def test_shipped_generator_images_look_like_the_world(figures):
    assert figures["world_fid_ratio"] <= 3.5     # 300 images: the small-sample bias raises it a little
