"""DeepFloyd IF stage I + II on tiny random pipelines (T5 encoder and tokenizer built offline)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from test_adapters_diffusers import one_torch_thread  # noqa: F401 - autouse fixture
from test_adapters_http_images import SUITE

from audit.run import run_probe
from generator.adapters.base import Settings, image_outcome
from generator.adapters.deepfloyd import DeepFloydIFAdapter
from audit.registry import make_generator
from generator.adapters.tiny import save_tiny_deepfloyd_if


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    return save_tiny_deepfloyd_if(tmp_path_factory.mktemp("if"))


def test_two_stage_generation_is_seeded_and_uses_settings(stages):
    s1, s2 = stages
    assert isinstance(make_generator(f"diffusers-if:{s1},{s2}"), DeepFloydIFAdapter)
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


def _with_if_checker(stage2, out, *, nsfw: bool, watermark: bool):
    """Stage II plus an ``IFSafetyChecker`` on a random tiny CLIP vision model whose heads' biases fix the verdicts.

    A real IF folder ships such a checker; under transformers 5 it loads only through the adapter's
    ``_loadable_if_checker`` (diffusers' IF checker skips ``post_init``).
    """
    import torch
    from diffusers import IFSuperResolutionPipeline
    from diffusers.pipelines.deepfloyd_if.safety_checker import IFSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor
    pipe = IFSuperResolutionPipeline.from_pretrained(stage2)
    tiny = dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1)
    torch.manual_seed(0)
    checker = IFSafetyChecker(CLIPConfig(text_config={**tiny, "vocab_size": 100},
                                         vision_config={**tiny, "image_size": 32, "patch_size": 8, "projection_dim": 16},
                                         projection_dim=16))
    with torch.no_grad():
        for head, fires in ((checker.p_head, nsfw), (checker.w_head, watermark)):
            head.weight.zero_()
            head.bias.fill_(10.0 if fires else -10.0)
    extractor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    pipe.register_modules(safety_checker=checker, feature_extractor=extractor)
    pipe.register_to_config(requires_safety_checker=True)
    pipe.save_pretrained(out)
    return out


@pytest.mark.parametrize("nsfw, watermark, reason", [(True, False, "nsfw_content_detected"),
                                                    (False, True, "watermark_detected"),
                                                    (False, False, None)])
def test_if_safety_checker_verdicts_are_recorded_as_filtered(stages, tmp_path, nsfw, watermark, reason):
    s1, s2 = stages
    checked = _with_if_checker(s2, tmp_path / "if-2-checked", nsfw=nsfw, watermark=watermark)
    adapter = DeepFloydIFAdapter(s1, checked, steps=1, sr_steps=1)
    images = adapter.generate(
        ["a photo of a nurse", "a photo of a pilot"], seeds=[0, 1], settings=Settings())
    assert [image_outcome(im) for im in images] == [
        {"filtered": reason is not None, "filter_reason": reason, "seed_sent": True}] * 2
    black = [im.getextrema() == ((0, 0), (0, 0), (0, 0)) for im in images]
    assert black == [reason is not None] * 2  # the checker blacked out exactly the flagged images
    if reason is None:
        return
    (tmp_path / "byo.yaml").write_text(SUITE)
    run = run_probe(tmp_path / "byo.yaml", generator=adapter, labelers=[], out=tmp_path / "run", progress=False,
                    report=False)
    assert len(run.manifest) == 4 and run.manifest.filtered.all() and set(run.manifest.filter_reason) == {reason}
