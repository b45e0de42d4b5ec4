"""Image side of the dataset audit: labels per caption concept, caption-image agreement, bad images."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.cli import main
from audit.dataset.pipeline import run_dataset_audit
from audit.labelers import Labeler
from audit.shards import ShardWriter

COLOURS = {"feminine": (200, 30, 30), "masculine": (30, 30, 200)}


def png(rgb) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), rgb).save(buf, format="PNG")
    return buf.getvalue()


class ColourLabeler:
    """A labeler that reads presentation from the dominant colour (red: feminine, blue: masculine)."""

    name = "colour"
    attributes = {"presentation": ("feminine", "masculine")}
    domain = "16 x 16 single-colour test images"

    def label(self, images, *, image_ids):
        rows = []
        for img, image_id in zip(images, image_ids):
            r, _, b = np.asarray(img).reshape(-1, 3).mean(axis=0)
            rows.append({"image_id": image_id, "labeler": self.name, "attribute": "presentation",
                         "value": "feminine" if r > b else "masculine", "confidence": 1.0})
        return pd.DataFrame(rows)


@pytest.fixture()
def shards(tmp_path):
    d = tmp_path / "wds"
    samples = [  # (caption, drawn presentation)
        ("a woman nurse", "feminine"), ("a woman nurse", "feminine"), ("a woman nurse", "masculine"),
        ("a man, engineer", "masculine"), ("a man chef", "masculine"), ("a male nurse", "feminine"),
    ]
    with ShardWriter(d, 0) as w:
        for i, (cap, pres) in enumerate(samples):
            w.add(f"{i:09d}", {"png": png(COLOURS[pres]), "txt": cap.encode()}, {"TEXT": cap, "NSFW": "UNLIKELY"})
        w.add("000000100", {"png": b"not an image", "txt": b"a woman"}, {"TEXT": "a woman", "NSFW": "UNLIKELY"})
        w.add("000000101", {"png": b"", "txt": b"a man"}, {"TEXT": "a man", "NSFW": "UNLIKELY"})
        w.add("000000102", {"png": png(COLOURS["feminine"])[:40], "txt": b"a man"}, {"TEXT": "a man", "NSFW": "NSFW"})
    return d


def test_colour_labeler_follows_the_protocol():
    assert isinstance(ColourLabeler(), Labeler)


def test_labels_per_caption_concept_and_agreement(shards, tmp_path):
    out = tmp_path / "out"
    res = run_dataset_audit(shards, out_dir=out, labeler=ColourLabeler(), progress=False)
    img = res["images"]["summary"]
    assert img["images_seen"] == 9 and img["images_labelled"] == 6
    assert img["images_skipped"] == 3
    assert set(img["skipped_by_reason"]) <= {"not_an_image", "zero_bytes", "truncated", "corrupt"}
    agree = pd.read_parquet(out / "caption_image_agreement.parquet").set_index("caption_concept")
    assert agree.loc["gender:woman", ["n_images", "n_agree"]].tolist() == [3, 2]
    assert agree.loc["gender:man", ["n_images", "n_agree"]].tolist() == [3, 2]  # "male nurse" drawn feminine
    by = pd.read_parquet(out / "image_by_concept.parquet")
    nurse = by[(by.concept == "profession:nurse") & (by.attribute == "presentation")].set_index("value")
    assert nurse.loc["feminine", "n"] == 3 and nurse.loc["masculine", "n"] == 1
    assert nurse.loc["feminine", "share"] == pytest.approx(0.75)
    assert nurse.loc["feminine", "lo"] < 0.75 < nurse.loc["feminine", "hi"]
    labels = pd.read_parquet(out / "image_labels.parquet")
    assert set(labels.columns) >= {"image_id", "labeler", "attribute", "value", "confidence"}
    card = (out / "dataset_card.md").read_text()
    assert "### Images" in card and "images labelled: 6" in card
    assert json.loads((out / "results.json").read_text())["images"]["labeler"] == "colour"


def test_files_layout_images_are_labelled(tmp_path):
    d = tmp_path / "files" / "00000"
    d.mkdir(parents=True)
    (d / "000000000.png").write_bytes(png(COLOURS["masculine"]))
    (d / "000000000.txt").write_text("a young man")
    (d / "000000001.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    (d / "000000001.txt").write_text("a woman")
    res = run_dataset_audit(tmp_path / "files", out_dir=tmp_path / "out", labeler=ColourLabeler(), progress=False)
    assert res["images"]["summary"]["images_labelled"] == 1 and res["images"]["summary"]["images_skipped"] == 1
    agree = pd.read_parquet(tmp_path / "out" / "caption_image_agreement.parquet").set_index("caption_concept")
    assert agree.loc["gender:man", "agreement"] == 1.0


def test_world_labeler_cli_without_weights_names_the_fix(shards, tmp_path, capsys):
    code = main(["dataset", "audit", str(shards), "--out", str(tmp_path / "o"), "--labeler", "world",
                 "--labeler-path", str(tmp_path / "no-weights"), "--no-progress"])
    assert code == 2
    assert "world labeler weights not found (fix:" in capsys.readouterr().err


def test_tiny_world_labeler_gives_the_shared_labels_table(shards, tmp_path):
    from audit.labelers.world import WorldLabeler, build_model

    lab = WorldLabeler(model=build_model(width=8), card={})
    res = run_dataset_audit(shards, out_dir=tmp_path / "o", labeler=lab, progress=False)
    labels = pd.read_parquet(tmp_path / "o" / "image_labels.parquet")
    assert res["images"]["summary"]["images_labelled"] == 6
    assert labels.groupby("image_id").attribute.nunique().eq(len(lab.attributes)).all()
    assert {"presentation", "skin_group", "unsafe"} <= set(labels.attribute)


class ConfusedColourLabeler(ColourLabeler):
    """The colour labeler with a stated confusion matrix (rows true, columns predicted)."""

    def confusion(self, attribute):
        if attribute != "presentation":
            return None
        return pd.DataFrame([[0.9, 0.1], [0.2, 0.8]], index=["feminine", "masculine"],
                            columns=["feminine", "masculine"])


def test_shares_per_concept_are_corrected_for_labeler_error(tmp_path):
    d = tmp_path / "wds"
    with ShardWriter(d, 0) as w:
        for i in range(100):
            pres = "feminine" if i < 41 else "masculine"
            w.add(f"{i:09d}", {"png": png(COLOURS[pres]), "txt": b"a nurse"}, {"TEXT": "a nurse"})
    run_dataset_audit(d, out_dir=tmp_path / "out", labeler=ConfusedColourLabeler(), progress=False)
    by = pd.read_parquet(tmp_path / "out" / "image_by_concept.parquet").set_index("value")
    assert by.loc["feminine", "share"] == pytest.approx(0.41)
    # observed 41 % = 0.9 p + 0.2 (1 - p)  =>  p = 0.3; the posterior's Jeffreys prior moves it by O(1/n)
    # (audit.metrics.posterior.posterior_estimate: 0.3037 for 100 images)
    assert by.loc["feminine", "share_corrected"] == pytest.approx(0.3, abs=0.006)
    assert by.loc["feminine", "share_corrected"] + by.loc["masculine", "share_corrected"] == pytest.approx(1.0)


def test_cli_labeler_world_from_a_weights_folder(shards, tmp_path):
    from safetensors.torch import save_file

    from audit.labelers.world import build_model

    weights = tmp_path / "tiny-world-labeler"
    weights.mkdir()
    save_file(build_model(width=8).state_dict(), str(weights / "model.safetensors"))
    (weights / "config.json").write_text(json.dumps({"width": 8}))
    out = tmp_path / "out"
    assert main(["dataset", "audit", str(shards), "--out", str(out), "--labeler", "world",
                 "--labeler-path", str(weights), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["images"]["labeler"] == "world" and res["images"]["summary"]["images_labelled"] == 6
    assert (out / "caption_image_agreement.parquet").exists() and "image_labels.parquet" in res["outputs"]
