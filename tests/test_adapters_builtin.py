"""The builtin adapter on a tiny random built-in cascade (generator.cascade) saved to a folder."""

from __future__ import annotations

import numpy as np
import pytest
from test_adapters_diffusers import one_torch_thread  # noqa: F401 - autouse fixture

from generator.adapters.base import Settings
from generator.api import builtin_adapter


@pytest.fixture(scope="module")
def cascade_dir(tmp_path_factory):
    import torch

    from generator.cascade import BASE_PRESETS, SR_PRESETS, ImagenCascadePipeline, build_unet

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cascade")
    ImagenCascadePipeline(build_unet(BASE_PRESETS["tiny-16"]), build_unet(SR_PRESETS["tiny-sr-64"])).save_pretrained(
        folder)
    return folder


def test_builtin_cascade_generates_and_takes_its_sampler_options(cascade_dir):
    adapter = builtin_adapter(path=cascade_dir, steps=2)
    assert adapter.config()["kind"] == "builtin"
    assert adapter.config()["pipeline_class"] == "generator.cascade.ImagenCascadePipeline"
    prompts = ["a photo of the face of a nurse", "a photo of a dark-skinned chef"]
    base = adapter.generate(prompts, seeds=[1, 2], settings=Settings())
    assert [im.size for im in base] == [(64, 64)] * 2
    again = adapter.generate(prompts, seeds=[1, 2], settings=Settings())
    np.testing.assert_array_equal(np.asarray(base[0]), np.asarray(again[0]))
    for settings in (Settings(thresholding="none"), Settings(scheduler="ddim"), Settings(guidance=1.0)):
        other = adapter.generate(prompts[:1], seeds=[1], settings=settings)[0]
        assert not np.array_equal(np.asarray(base[0]), np.asarray(other)), settings.label
