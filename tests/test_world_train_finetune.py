"""World labeler training: fine-tuning from shipped-style weights (--init) and the hard-case pool options."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from audit.errors import UserError
from audit.labelers.world_pool import balanced_attributes, render_pool
from audit.labelers.world_train import train_world_labeler

TINY = dict(n_train=256, n_eval=64, width=8, batch_size=16, progress=False, workers=1)


def test_light_share_draws_that_share_of_light_tones_independently():
    a = balanced_attributes(20000, rng=np.random.default_rng(0), light_share=0.5)
    light = a.skin_tone.le(3)
    assert abs(light.mean() - 0.5) < 0.02
    assert set(a.skin_tone[light]) == {1, 2, 3} and set(a.skin_tone[~light]) == set(range(4, 11))
    # still independent of the other attributes
    shares = a.groupby("presentation").skin_tone.apply(lambda t: t.le(3).mean())
    assert shares.max() - shares.min() < 0.04, shares
    # the default draw is untouched (uniform tones): the shipped weights' pool is still reproducible
    d = balanced_attributes(20000, rng=np.random.default_rng(0))
    assert abs(d.skin_tone.le(3).mean() - 0.3) < 0.02


def test_pool_jpeg_share_and_quality_range_are_honoured():
    _, attrs = render_pool(300, seed=3, jpeg_share=1.0, jpeg_quality=(20, 60), light_share=1.0, progress=False)
    assert attrs.jpeg_quality.between(20, 60).all() and attrs.skin_tone.le(3).all()
    _, none = render_pool(100, seed=3, jpeg_share=0.0, progress=False)
    assert none.jpeg_quality.eq(0).all()


def test_init_fine_tunes_from_the_given_weights_and_records_them(tmp_path):
    train_world_labeler(out=tmp_path / "base", steps=2, **TINY)
    base = load_file(str(tmp_path / "base" / "model.safetensors"))
    # lr 0: a fine-tune keeps the initial conv/linear weights exactly (BatchNorm statistics still update)
    card = train_world_labeler(out=tmp_path / "ft", steps=1, lr=0.0, init=tmp_path / "base", light_share=0.5,
                               jpeg_share=0.5, jpeg_quality=(20, 60), seed=5, **TINY)
    ft = load_file(str(tmp_path / "ft" / "model.safetensors"))
    learned = [k for k in base if k.endswith("weight") and base[k].dim() > 1]
    assert learned and all(torch.equal(base[k], ft[k]) for k in learned)
    # without --init the same run starts elsewhere
    train_world_labeler(out=tmp_path / "scratch", steps=1, lr=0.0, seed=5, **TINY)
    scratch = load_file(str(tmp_path / "scratch" / "model.safetensors"))
    assert not all(torch.equal(base[k], scratch[k]) for k in learned)
    t = card["training"]
    assert f"--init {tmp_path / 'base'}" in t["command"] and "--light-share 0.5" in t["command"]
    assert "--jpeg-share 0.5" in t["command"] and "--jpeg-quality 20 60" in t["command"] and "--lr 0.0" in t["command"]
    assert len(t["init_sha256"]) == 64 and t["light_share"] == 0.5 and t["jpeg_quality"] == [20, 60]


def test_init_with_another_width_or_no_weights_is_a_clear_error(tmp_path):
    train_world_labeler(out=tmp_path / "base", steps=1, **TINY)
    with pytest.raises(UserError, match="width 8 does not match --width 16"):
        train_world_labeler(out=tmp_path / "ft", steps=1, init=tmp_path / "base", **{**TINY, "width": 16})
    with pytest.raises(UserError, match="model.safetensors"):
        train_world_labeler(out=tmp_path / "ft2", steps=1, init=tmp_path / "nothing", **TINY)
    assert not (tmp_path / "ft" / "model.safetensors").exists()


def test_cli_offers_the_fine_tune_options():
    out = subprocess.run([sys.executable, "-m", "audit.cli", "train", "labeler", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for flag in ("--init", "--light-share", "--jpeg-share", "--jpeg-quality"):
        assert flag in out


def test_gap_benchmark_compares_weights_on_the_same_renders():
    out = subprocess.run([sys.executable, "benchmarks/world_labeler_gaps.py", "data/weights/world-labeler", "--n", "64",
                          "--seed", "11"], capture_output=True, text=True, check=True).stdout
    assert out.count("| skin_tone |") == 2 and "augmented (n = 64, seed 11)" in out
