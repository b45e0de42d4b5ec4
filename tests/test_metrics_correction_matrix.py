"""Labeler-error correction with the matrix that matches the input: identity-like matrices, files, JPEG worlds.

Issue 15's world-dataset gate: a corrected estimate must not be worse than raw where the
labeler makes no errors, its interval must not be narrower than the raw one, the matrix
used must be the one given (``dataset audit --confusion FILE``) and say so, and where the
labeler does err on the audited images a matched matrix must lower the error.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from audit.dataset.confusion import WithConfusion, confusion_counts_table, load_confusion_file
from audit.dataset.results import image_shares
from audit.errors import UserError

VALUES = ["light", "medium", "dark"]


class CountsLabeler:
    """Unit-test double: a labeler offering validation counts for ``skin_group``."""

    name = "toy"

    def __init__(self, counts: np.ndarray):
        self.counts = np.asarray(counts, dtype=float)

    def confusion_counts(self, attribute):
        return pd.DataFrame(self.counts, index=VALUES, columns=VALUES) if attribute == "skin_group" else None

    def confusion(self, attribute):
        c = self.confusion_counts(attribute)
        return None if c is None else c.div(c.sum(axis=1), axis=0)


def _images(p: dict[str, list[float]], n: int, rng, confusion: np.ndarray | None = None):
    """Per-image labels of ``n`` images per concept drawn from ``p``, passed through ``confusion`` if given."""
    ids, concept, value = [], [], []
    for c, probs in p.items():
        true = rng.choice(3, size=n, p=probs)
        seen = true if confusion is None else np.array([rng.choice(3, p=confusion[t]) for t in true])
        ids += [f"{c}{i}" for i in range(n)]
        concept += [c] * n
        value += [VALUES[k] for k in seen]
    labels = pd.DataFrame({"image_id": ids, "attribute": "skin_group", "value": value})
    return labels, pd.DataFrame({"image_id": ids, "concept": concept})


TRUTH = {"profession:pilot": [0.56, 0.27, 0.17], "profession:nurse": [0.2, 0.3, 0.5],
         "profession:chef": [0.3, 0.6, 0.1], "profession:plumber": [0.02, 0.08, 0.9]}


def test_identity_matrix_leaves_shares_unchanged_and_intervals_no_narrower():
    labels, concepts = _images(TRUTH, 150, np.random.default_rng(0))
    t = image_shares(labels, concepts, labeler=CountsLabeler(np.diag([6000.0, 6000.0, 8000.0])), n_resamples=1000)
    assert np.allclose(t["share_corrected"], t["share"], atol=1e-9)  # no error to remove: the raw estimate
    width_raw, width_cor = t["hi"] - t["lo"], t["hi_corrected"] - t["lo_corrected"]
    # the matrix's own uncertainty can only widen the interval (the draw interval alone was up to 7% narrower)
    assert (width_cor >= width_raw - 1e-9).all()
    assert ((t["lo_corrected"] <= t["lo"] + 1e-9) & (t["hi_corrected"] >= t["hi"] - 1e-9)).all()


def test_near_identity_matrix_is_not_worse_than_raw():
    """A matrix within noise of the identity (a few confusions in 6,000) moves estimates by < 0.005."""
    near = np.array([[6003.0, 7.0, 0.0], [7.0, 6018.0, 0.0], [0.0, 0.0, 7965.0]])
    rng = np.random.default_rng(1)
    err_raw = err_cor = 0.0
    for _ in range(5):
        labels, concepts = _images(TRUTH, 150, rng)  # a perfect labeler
        t = image_shares(labels, concepts, labeler=CountsLabeler(near), n_resamples=200)
        p = np.array([TRUTH[c][VALUES.index(v)] for c, v in zip(t["concept"], t["value"])])
        assert (t["share_corrected"] - t["share"]).abs().max() < 0.005
        err_raw += np.abs(t["share"] - p).mean()
        err_cor += np.abs(t["share_corrected"] - p).mean()
    assert err_cor <= err_raw * 1.02


def test_matched_estimated_matrix_lowers_error_and_covers():
    """A labeler that confuses light and medium: correction with an estimated matrix beats raw and covers."""
    true_c = np.array([[0.9, 0.1, 0.0], [0.04, 0.95, 0.01], [0.0, 0.02, 0.98]])
    rng = np.random.default_rng(2)
    err_raw = err_cor = 0.0
    covered = cells = 0
    for _ in range(20):
        est = np.array([rng.multinomial(2000, row) for row in true_c], dtype=float)  # validation counts
        labels, concepts = _images(TRUTH, 300, rng, confusion=true_c)
        t = image_shares(labels, concepts, labeler=CountsLabeler(est), n_resamples=400)
        p = np.array([TRUTH[c][VALUES.index(v)] for c, v in zip(t["concept"], t["value"])])
        err_raw += np.abs(t["share"] - p).mean()
        err_cor += np.abs(t["share_corrected"] - p).mean()
        covered += int(((t["lo_corrected"] <= p) & (p <= t["hi_corrected"])).sum())
        cells += len(t)
    assert err_cor < 0.75 * err_raw
    assert covered / cells >= 0.93


def test_confusion_file_is_used_and_named(tmp_path):
    f = tmp_path / "val.json"
    f.write_text(json.dumps({"skin_group": confusion_counts_table(
        pd.Series(["light"] * 90 + ["medium"] * 100 + ["dark"] * 50),
        pd.Series(["light"] * 80 + ["medium"] * 10 + ["medium"] * 100 + ["dark"] * 50), classes=VALUES)}))
    matrices = load_confusion_file(f)
    assert matrices["skin_group"].loc["light", "medium"] == 10
    own = CountsLabeler(np.diag([100.0, 100.0, 100.0]))
    lab = WithConfusion(own, matrices, source=str(f))
    labels, concepts = _images({"profession:pilot": [0.5, 0.3, 0.2]}, 200, np.random.default_rng(3))
    with_file = image_shares(labels, concepts, labeler=lab, n_resamples=50)
    with_card = image_shares(labels, concepts, labeler=own, n_resamples=50)
    assert with_file["confusion_source"].str.startswith(f"file {f}").all()
    assert with_card["confusion_source"].str.startswith("toy labeler's own matrix (validation counts").all()
    # the file's light->medium error moves mass back to light; the card's identity does not
    light = with_file["value"] == "light"
    assert float(with_file.loc[light, "share_corrected"].iloc[0]) > float(with_card.loc[light, "share_corrected"].iloc[0])


@pytest.mark.parametrize("content, words", [
    ("[1, 2]", "JSON object"),
    ('{"skin_group": {"classes": ["a", "b"], "matrix": [[1, 2]]}}', "'skin_group'"),
    ('{"skin_group": {"classes": ["a", "b"], "matrix": [[1, 0], [0, 0]]}}', "positive sum"),
    ("{not json", "cannot read"),
])
def test_bad_confusion_file_names_file_and_field(tmp_path, content, words):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(UserError, match="bad.json") as e:
        load_confusion_file(f)
    assert words in str(e.value) and "fix:" in str(e.value)


def test_dataset_audit_cli_uses_the_confusion_file(tmp_path):
    """``world build --jpeg-quality`` + ``dataset audit --confusion``: the audit names and uses the file."""
    from generator.world.build import build_world

    world = tmp_path / "w"
    build_world(n=40, out=world, seed=3, shard_size=40, workers=1, progress=False, jpeg_quality=(30, 60))
    f = tmp_path / "matched.json"
    f.write_text(json.dumps({"presentation": {"classes": ["feminine", "masculine", "androgynous"],
                                              "matrix": [[90, 10, 0], [0, 100, 0], [0, 0, 100]]}}))
    out = tmp_path / "a"
    subprocess.run([sys.executable, "-m", "audit.cli", "dataset", "audit", str(world), "--out", str(out),
                    "--labeler", "world", "--confusion", str(f), "--no-progress"], check=True, capture_output=True)
    by = pd.read_parquet(out / "image_by_concept.parquet")
    src = by.dropna(subset=["confusion_source"]).groupby("attribute")["confusion_source"].first()
    assert src["presentation"].startswith(f"file {f}")
    assert src["skin_group"].startswith("world labeler card, split 'clean'")  # not in the file: the card's
    res = json.loads((out / "results.json").read_text())
    assert res["images"]["confusion_sources"]["presentation"].startswith("file")
