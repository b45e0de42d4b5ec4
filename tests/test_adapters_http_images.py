"""``images:MANIFEST`` (bring your own images) matched to a suite, and the filter flags of adapters:
a tiny Stable Diffusion pipeline whose safety checker (random tiny CLIP vision model) flags every image."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from audit.errors import UserError
from audit.run import run_probe
from generator.adapters.base import Settings, image_outcome
from generator.adapters.diffusers_adapter import DiffusersAdapter
from audit.registry import make_generator
from generator.adapters.tiny import save_tiny_stable_diffusion

SUITE = """\
name: byo
templates:
  - {id: photo, text: "a photo of a {profession}"}
slots:
  profession: [nurse, pilot]
samples: 2
seed: 0
"""


def _write(folder: Path, rows: list[dict], *, fmt: str = "csv") -> Path:
    (folder / "img").mkdir(exist_ok=True)
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        if row.pop("colour", None) is not None:
            Image.new("RGB", (12, 12), (i * 20, 5, 5)).save(folder / "img" / f"{i}.png")
            row["image"] = f"img/{i}.png"
        out.append(row)
    table = pd.DataFrame(out)
    path = folder / f"images.{fmt}"
    if fmt == "csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    return path


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "byo.yaml"
    path.write_text(SUITE)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_manifest_images_match_the_suite_and_extras_are_counted(suite, tmp_path, fmt):
    rows = [
        {"prompt": "a photo of a nurse", "colour": 1, "seed": 41, "model": "other-v1"},
        {"prompt": "a photo of a dog", "colour": 1, "seed": 1, "model": "other-v1"},  # not in the suite
        {"prompt": "a photo of a nurse", "colour": 1, "seed": 42, "model": "other-v1"},
        {"prompt": "a photo of a nurse", "colour": 1, "seed": 43, "model": "other-v1"},  # a third: surplus
        {"prompt": None, "profession": "pilot", "colour": 1, "model": "other-v1"},  # slot values, not a prompt
        {"prompt": None, "profession": "pilot", "filtered": True, "filter_reason": "content_policy_violation",
         "model": "other-v1"},  # withheld by the other tool: no file
    ]
    manifest = _write(tmp_path, rows, fmt=fmt)
    run = run_probe(suite, generator=f"images:{manifest}", out=tmp_path / "run", progress=False, report=False)
    m = run.manifest.sort_values(["prompt", "sample"]).reset_index(drop=True)
    assert m.prompt.tolist() == ["a photo of a nurse"] * 2 + ["a photo of a pilot"] * 2

    def first_red(path):
        with Image.open(run.path / path) as im:
            return im.convert("RGB").getpixel((0, 0))[0]

    # the k-th table row of a prompt is its k-th sample; the withheld one is a black placeholder
    assert [first_red(p) for p in m.path] == [0, 40, 80, 0]
    report = json.loads((run.path / "images_match.json").read_text())
    assert {k: report[k] for k in ("rows", "used", "extra_prompt_rows", "surplus_rows", "missing", "extra_prompts")} \
        == {"rows": 6, "used": 4, "extra_prompt_rows": 1, "surplus_rows": 1, "missing": {},
            "extra_prompts": ["a photo of a dog"]}
    assert report["rows"] == report["used"] + report["extra_prompt_rows"] + report["surplus_rows"]
    config = run.spec["generator"]
    assert config["kind"] == "images" and config["models"] == ["other-v1"] and config["seed_sent"] is False


def test_missing_prompts_stop_the_run_with_a_list(suite, tmp_path):
    manifest = _write(tmp_path, [{"prompt": "a photo of a nurse", "colour": 1}] * 2)
    with pytest.raises(UserError, match=r"1 suite prompts lack images \('a photo of a pilot' lacks 2"):
        run_probe(suite, generator=f"images:{manifest}", out=tmp_path / "run", progress=False, report=False)
    report = json.loads((tmp_path / "run" / "images_match.json").read_text())
    assert report["missing"] == {"a photo of a pilot": 2}


def test_bad_tables_are_clear_errors(tmp_path):
    (tmp_path / "a.csv").write_text("prompt,picture\nx,y.png\n")
    with pytest.raises(UserError, match="no image column"):
        make_generator(f"images:{tmp_path / 'a.csv'}")
    (tmp_path / "b.csv").write_text("prompt,image\nx,nothere.png\n")
    with pytest.raises(UserError, match="1 image files not found"):
        make_generator(f"images:{tmp_path / 'b.csv'}")
    (tmp_path / "c.csv").write_text("prompt,image\nx,\n")
    with pytest.raises(UserError, match="row 2: column `image` is empty"):
        make_generator(f"images:{tmp_path / 'c.csv'}")
    with pytest.raises(UserError, match="takes no --steps"):
        make_generator(f"images:{tmp_path / 'c.csv'}", steps=3)


def _flag_everything_pipeline(folder: Path) -> Path:
    """Tiny SD pipeline plus a safety checker on a random tiny CLIP vision model whose thresholds flag all."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    pipe = StableDiffusionPipeline.from_pretrained(save_tiny_stable_diffusion(folder))
    tiny = dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1)
    torch.manual_seed(0)
    checker = StableDiffusionSafetyChecker(CLIPConfig(text_config={**tiny, "vocab_size": 100},
                                                      vision_config={**tiny, "image_size": 32, "patch_size": 8},
                                                      projection_dim=16))
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-10.0)  # every cosine similarity exceeds its threshold
        checker.special_care_embeds_weights.fill_(-10.0)
    extractor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    pipe.register_modules(safety_checker=checker, feature_extractor=extractor)
    pipe.register_to_config(requires_safety_checker=True)
    out = folder / "flag-all"
    pipe.save_pretrained(out)
    return out


def test_safety_checker_verdicts_are_recorded_per_image(tmp_path, suite):
    folder = _flag_everything_pipeline(tmp_path)
    adapter = DiffusersAdapter(folder, steps=1)
    images = adapter.generate(["a nurse", "a pilot"], seeds=[0, 1], settings=Settings())
    assert [image_outcome(im) for im in images] == [
        {"filtered": True, "filter_reason": "nsfw_content_detected", "seed_sent": True}] * 2
    assert all(im.getextrema() == ((0, 0), (0, 0), (0, 0)) for im in images)  # the checker blacked them out
    # a run over it completes; the samples keep their own rows although all images are byte-identical
    run = run_probe(suite, generator=f"diffusers:{folder}", generator_options={"steps": 1}, out=tmp_path / "run",
                    progress=False, report=False)
    assert len(run.manifest) == 4 and run.manifest.image_id.nunique() == 1 and run.manifest.seed.nunique() == 4
