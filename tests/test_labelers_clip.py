"""CLIP zero-shot labeler end to end on a tiny random CLIP saved to a temporary folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.errors import SpecError, UserError
from audit.labelers.base import LABEL_COLUMNS, Labeler
from audit.labelers.clip import DEFAULT_PROMPTS, CLIPLabeler, load_prompt_sets, validate_prompt_sets


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A randomly initialised CLIP (32x32 images) with a byte-level tokenizer built offline."""
    import torch
    from tokenizers import pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    specials = ["<|startoftext|>", "<|endoftext|>"]
    tokens = specials + alphabet + [c + "</w>" for c in alphabet]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = CLIPTokenizer(vocab=vocab, merges=[])
    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77,
                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                         pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    model = CLIPModel(cfg).eval()
    proc = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok,
    )
    path = tmp_path_factory.mktemp("tiny-clip")
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path, model, proc


def _images():
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, (40, 50, 3), dtype=np.uint8),
        rng.integers(0, 256, (64, 64), dtype=np.uint8),  # grayscale
        rng.integers(0, 256, (20, 30, 4), dtype=np.uint8),  # RGBA
    ]


def test_clip_labeler_end_to_end_matches_direct_computation(tiny_clip):
    import torch

    path, model, proc = tiny_clip
    lab = CLIPLabeler(path)
    assert isinstance(lab, Labeler)
    df = lab.label(_images(), image_ids=["a", "b", "c"])
    assert list(df.columns) == list(LABEL_COLUMNS)
    assert len(df) == 3 * len(DEFAULT_PROMPTS)
    assert set(df["attribute"]) == set(DEFAULT_PROMPTS)
    for _, row in df.iterrows():
        probs = json.loads(row["probs"])
        assert set(probs) == set(DEFAULT_PROMPTS[row["attribute"]])
        assert abs(sum(probs.values()) - 1) < 1e-4
        assert row["value"] == max(probs, key=probs.get)
        assert abs(row["confidence"] - probs[row["value"]]) < 1e-5

    # the same softmax computed directly with the saved model (single prompt per class)
    from audit.labelers.base import to_rgb_uint8
    img = to_rgb_uint8(_images()[0])
    texts = [t[0] for t in DEFAULT_PROMPTS["presentation"].values()]
    with torch.inference_mode():
        out = model(**proc(text=texts, images=[img], return_tensors="pt", padding=True))
        direct = torch.softmax(out.logits_per_image[0], -1).numpy()
    got = json.loads(df[(df.image_id == "a") & (df.attribute == "presentation")]["probs"].iloc[0])
    np.testing.assert_allclose([got[k] for k in DEFAULT_PROMPTS["presentation"]], direct, atol=1e-4)


def test_clip_custom_prompts_and_yaml(tiny_clip, tmp_path):
    path, _, _ = tiny_clip
    f = tmp_path / "prompts.yaml"
    f.write_text("profession:\n  nurse: [a photo of a nurse, a nurse at work]\n  doctor: a photo of a doctor\n")
    prompts = load_prompt_sets(f)
    lab = CLIPLabeler(path, prompts=prompts)
    df = lab.label(_images()[:2], image_ids=["x", "y"])
    assert df["attribute"].unique().tolist() == ["profession"]
    assert set(df["value"]) <= {"nurse", "doctor"}


def test_clip_bad_prompts_and_missing_model(tmp_path):
    with pytest.raises(SpecError, match="presentation"):
        validate_prompt_sets({"presentation": {"feminine": "a woman"}})
    with pytest.raises(SpecError, match="a.b"):
        validate_prompt_sets({"a": {"b": "", "c": "x"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(SpecError, match="bad.yaml"):
        load_prompt_sets(bad)
    with pytest.raises(UserError, match="allow-download"):
        CLIPLabeler(tmp_path / "no-such-model")


def test_clip_through_cli(tiny_clip, tmp_path):
    import io

    import pandas as pd
    from PIL import Image

    from audit.cli import main

    path, _, _ = tiny_clip
    src = tmp_path / "imgs"
    src.mkdir()
    for i, arr in enumerate(_images()):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG")
        (src / f"{i}.png").write_bytes(buf.getvalue())
    (src / "bad.png").write_bytes(b"")
    out = tmp_path / "clip.parquet"
    assert main(["label", str(src), "--labeler", "clip", "--clip-model", str(path), "--out", str(out),
                 "--batch-size", "2"]) == 0
    df = pd.read_parquet(out)
    assert df.groupby("image_id").size().eq(len(DEFAULT_PROMPTS)).all() and df["image_id"].nunique() == 4
    assert set(df[df.image_id == "bad.png"]["value"]) == {"unreadable"}
    good = df[df.image_id != "bad.png"]
    assert good["confidence"].between(0, 1).all() and good["probs"].notna().all()
