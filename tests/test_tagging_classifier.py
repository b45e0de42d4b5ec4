"""The optional model-based caption classifier on a tiny random BERT saved to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.dataset.caption_classifier import CaptionClassifier, agreement
from audit.errors import UserError

FIXTURE = Path("/work/shared/fixtures/laion_captions_1000.parquet")


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """A randomly initialised 2-label BERT classifier with a character-level WordPiece vocab, built offline."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny-cls")
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=160, num_labels=2,
                     id2label={0: "neutral", 1: "toxic"}, label2id={"neutral": 0, "toxic": 1})
    model = BertForSequenceClassification(cfg).eval()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, model, tok


def test_predict_matches_a_direct_forward_pass(tiny_classifier):
    import torch

    path, model, tok = tiny_classifier
    clf = CaptionClassifier(path, batch_size=3)
    caps = ["a woman with a dog", "", None, "Double Teamed #2 Porn Movie", "Women's leather jacket", "x"]
    p = clf.predict(caps)
    assert np.isnan(p[1]) and np.isnan(p[2])  # nothing to read: a visible non-answer
    for i in (0, 3, 4, 5):
        enc = tok([caps[i]], return_tensors="pt", truncation=True, max_length=128)
        with torch.inference_mode():
            want = model(**enc).logits.softmax(-1)[0, 1].item()
        assert p[i] == pytest.approx(want, abs=1e-5)
    assert np.array_equal(p[~np.isnan(p)], clf.predict(caps)[~np.isnan(p)])  # deterministic


def test_agreement_and_errors(tiny_classifier, tmp_path):
    a = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    b = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)
    got = agreement(a, b)
    po, pe = 6 / 8, (3 / 8) * (3 / 8) + (5 / 8) * (5 / 8)
    assert got["kappa"] == pytest.approx((po - pe) / (1 - pe))
    assert (got["both"], got["lexicon_only"], got["model_only"], got["neither"]) == (2, 1, 1, 4)
    with pytest.raises(UserError, match="not found"):
        CaptionClassifier(tmp_path / "missing")
    with pytest.raises(UserError, match="no positive label"):
        CaptionClassifier(tiny_classifier[0], positive_labels=["hateful"])
    with pytest.raises(UserError, match="not a text classifier"):
        CaptionClassifier(tmp_path)


def test_dataset_audit_cli_reports_the_classifier_beside_the_lexicon(tiny_classifier, tmp_path):
    """`dataset audit --caption-classifier` (real CLI, real parquet of 1,000 real captions, tiny random model)."""
    import json
    import os
    import subprocess
    import sys

    path, _, _ = tiny_classifier
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "dataset", "audit", str(FIXTURE), "--out", str(out),
                           "--caption-classifier", str(path), "--classifier-sample", "50", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "caption classifier: model rate" in proc.stdout
    res = json.loads((out / "results.json").read_text())["caption_classifier"]
    assert res["rows"] == 1000 and res["rows_with_text"] + res["no_text"] == 1000
    assert res["read_unflagged"] == 50 and res["read_flagged"] == res["lexicon_flagged"] > 0
    assert res["lexicon_rate"] == pytest.approx(res["lexicon_flagged"] / res["rows_with_text"])
    assert res["model_lo"] <= res["model_rate"] <= res["model_hi"]
    a = res["agreement"]
    assert a["both"] + a["lexicon_only"] + a["model_only"] + a["neither"] == a["n"] == 50 + res["read_flagged"]
    assert a["both"] + a["lexicon_only"] == res["read_flagged"]
    assert "Caption classifier beside the lexicon" in (out / "dataset_card.md").read_text()
    # the same folder twice gives the same samples and figures (seeded)
    out2 = tmp_path / "out2"
    subprocess.run([sys.executable, "-m", "audit.cli", "dataset", "audit", str(FIXTURE), "--out", str(out2),
                    "--caption-classifier", str(path), "--classifier-sample", "50", "--no-progress"],
                   capture_output=True, text=True, env=env, timeout=600, check=True)
    res2 = json.loads((out2 / "results.json").read_text())["caption_classifier"]
    assert res2["model_rate"] == res["model_rate"] and res2["agreement"] == res["agreement"]
    bad = subprocess.run([sys.executable, "-m", "audit.cli", "dataset", "audit", str(FIXTURE), "--out",
                          str(tmp_path / "out3"), "--caption-classifier", str(tmp_path / "missing")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode != 0 and "caption classifier folder not found" in bad.stderr
    assert not (tmp_path / "out3").exists()
