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
