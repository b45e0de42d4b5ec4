"""Scripts under scripts/ run end to end on small settings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from generator.cascade import BASE_PRESETS, SR_PRESETS, ImagenCascadePipeline, build_unet

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_labelers_on_generated_reports_agreement_per_labeler(tmp_path, capsys):
    torch.manual_seed(0)
    ImagenCascadePipeline(build_unet(BASE_PRESETS["tiny-16"]), build_unet(SR_PRESETS["tiny-sr-64"])).save_pretrained(
        tmp_path / "cascade")
    assert _load("labelers_on_generated").main(["--weights", str(tmp_path / "cascade"), "--per-prompt", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 72                                   # 24 professions x 3 skin groups
    for name in ("world", "ita_faces", "ita_whole_image"):
        assert 0.0 <= out[name]["agreement"] <= 1.0
        assert set(out[name]["by_asked"]) == {"light", "medium", "dark"}


def _tiny_cascade(folder: Path) -> str:
    torch.manual_seed(0)
    ImagenCascadePipeline(build_unet(BASE_PRESETS["tiny-16"]), build_unet(SR_PRESETS["tiny-sr-64-text"]),
                          sr_residual_scale=2.0).save_pretrained(folder)
    return str(folder)


def test_sr_text_usage_reports_caption_versus_image(tmp_path, capsys):
    assert _load("sr_text_usage").main(["--weights", _tiny_cascade(tmp_path / "c"), "--n", "6", "--sr-steps", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 6 and out["renders"] >= 0.5                  # the shipped labeler reads clean renders
    shares = out["sr_other_age_named_follows_caption"] + out["sr_other_age_named_follows_image"]
    assert 0.0 <= shares <= 1.0 and set(out["sr_true_age_named_by_age"]) <= {"young", "adult", "older"}


def test_base_age_probe_reads_renders_and_base_samples(tmp_path, capsys):
    args = ["--weights", _tiny_cascade(tmp_path / "c"), "--n-train", "96", "--n-eval", "32", "--steps", "3",
            "--per-prompt", "1"]
    assert _load("base_age_probe").main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["size"] == 16 and out["n_samples"] == 72               # 24 professions x 3 ages
    assert 0.0 <= out["held_out_renders"] <= 1.0 and set(out["base_samples_by_age"]) == {"young", "adult", "older"}
