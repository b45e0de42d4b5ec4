"""DeepFloyd IF stage I + II on tiny random pipelines (T5 encoder and tokenizer built offline)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from test_adapters_diffusers import one_torch_thread  # noqa: F401 - autouse fixture

from generator.adapters.base import Settings
from generator.adapters.deepfloyd import DeepFloydIFAdapter
from generator.adapters.resolve import adapter_from_spec
from generator.adapters.tiny import save_tiny_deepfloyd_if


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    return save_tiny_deepfloyd_if(tmp_path_factory.mktemp("if"))


def test_two_stage_generation_is_seeded_and_uses_settings(stages):
    s1, s2 = stages
    assert isinstance(adapter_from_spec(f"diffusers-if:{s1},{s2}"), DeepFloydIFAdapter)
    adapter = DeepFloydIFAdapter(s1, s2, steps=2, sr_steps=2)
    prompts = ["a photo of a nurse", "a photo of a dark-skinned chef"]
    images = adapter.generate(prompts, seeds=[1, 2], settings=Settings())
    assert [im.size for im in images] == [(32, 32)] * 2  # stage II's size, not stage I's 8 px
    clone = pickle.loads(pickle.dumps(adapter))  # ships without models, reloads the same
    again = clone.generate(prompts, seeds=[1, 2], settings=Settings())
    for a, b in zip(images, again):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = adapter.generate(prompts[:1], seeds=[1], settings=Settings(guidance=1.0, thresholding="none"))[0]
    assert not np.array_equal(np.asarray(images[0]), np.asarray(other))
    config = adapter.config()
    assert config["kind"] == "diffusers-if" and all(len(f) == 64 for f in config["fingerprints"])
