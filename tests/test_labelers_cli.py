"""``imagen-audit label`` end to end on folders with bad files, shards and a run directory."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
from PIL import Image

from audit.cli import main
from audit.labelers.base import LABEL_COLUMNS
from audit.labelers.ita import MST_RGB


def png(arr: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    im = Image.fromarray(arr)
    if mode:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def face_patch(mst: int) -> np.ndarray:
    img = np.zeros((48, 48, 3), np.uint8)
    img[:] = (30, 60, 150)
    img[8:40, 12:36] = MST_RGB[mst - 1]
    return img


def test_label_folder_with_bad_files(tmp_path, capsys):
    src = tmp_path / "imgs"
    (src / "deep").mkdir(parents=True)
    (src / "mst2.png").write_bytes(png(face_patch(2)))
    (src / "deep" / "mst8.jpg").write_bytes(png(face_patch(8), "JPEG"))
    (src / "cmyk.tif").write_bytes(png(face_patch(5), "TIFF", "CMYK"))
    (src / "empty.png").write_bytes(b"")
    (src / "junk.png").write_bytes(b"not a png at all" * 8)
    good = png(face_patch(4))
    (src / "cut.png").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out" / "labels.parquet"
    rc = main(["label", str(src), "--labeler", "ita", "--no-faces", "--out", str(out), "--batch-size", "2"])
    assert rc == 0
    df = pd.read_parquet(out)
    assert list(df.columns) == list(LABEL_COLUMNS)
    assert df.groupby("image_id").size().eq(5).all() and df["image_id"].nunique() == 6
    tone = df[df.attribute == "skin_tone"].set_index("image_id")["value"].to_dict()
    assert tone["mst2.png"] == "2" and tone["cmyk.tif"] == "5" and abs(int(tone["deep/mst8.jpg"]) - 8) <= 1
    reasons = df[df.value == "unreadable"].groupby("image_id")["reason"].first().to_dict()
    assert reasons == {"empty.png": "zero_bytes", "junk.png": "not_an_image", "cut.png": "truncated"}
    side = json.loads((tmp_path / "out" / "labels.skipped.json").read_text())
    assert side["images"] == 6 and side["labelled"] == 3 and side["skipped_total"] == 3
    assert side["skipped_by_reason"] == {"not_an_image": 1, "truncated": 1, "zero_bytes": 1}
    assert not list((tmp_path / "out").glob("*.tmp"))
    printed = capsys.readouterr().out
    assert "labelled 3 of 6" in printed and "skipped 3" in printed and "truncated 1" in printed


def test_label_shards_and_run_dir(tmp_path):
    from audit.shards import ShardWriter

    shards = tmp_path / "shards"
    with ShardWriter(shards, 0) as w:
        w.add("k0", {"png": png(face_patch(6)), "txt": b"x"}, {"TEXT": "x"})
        w.add("k1", {"txt": b"no image"}, {"TEXT": "no image"})
    out = tmp_path / "s.parquet"
    assert main(["label", str(shards), "--labeler", "ita", "--no-faces", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert df[(df.image_id == "k0") & (df.attribute == "skin_tone")]["value"].item() == "6"
    assert set(df[df.image_id == "k1"]["reason"]) == {"no_image_member"}

    run = tmp_path / "run"
    (run / "img").mkdir(parents=True)
    (run / "img" / "a.png").write_bytes(png(face_patch(9)))
    pd.DataFrame({"image_id": ["hashA", "hashB"], "path": ["img/a.png", "img/b.png"]}).to_parquet(
        run / "manifest.parquet")
    out = tmp_path / "r.parquet"
    assert main(["label", str(run), "--labeler", "ita", "--no-faces", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert df[(df.image_id == "hashA") & (df.attribute == "skin_group")]["value"].item() == "dark"
    assert set(df[df.image_id == "hashB"]["reason"]) == {"missing_file"}


def test_label_errors_are_user_errors(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(png(face_patch(3)))
    assert main(["label", str(tmp_path), "--labeler", "clip", "--out", str(tmp_path / "l.parquet")]) == 2
    assert "--clip-model" in capsys.readouterr().err
    assert main(["label", str(tmp_path), "--labeler", "deepface", "--deepface-home", str(tmp_path / "w"),
                 "--out", str(tmp_path / "l.parquet")]) == 2
    assert "deepface weights missing" in capsys.readouterr().err
    assert main(["label", str(tmp_path), "--labeler", "ita", "--out", str(tmp_path / "l.csv")]) == 2
    assert main(["label", str(tmp_path / "nope"), "--labeler", "ita", "--out", str(tmp_path / "l.parquet")]) == 2
    assert not (tmp_path / "l.parquet").exists()


def test_label_world_labeler_from_a_weights_folder(tmp_path):
    """--labeler world loads WorldLabeler.from_pretrained(folder) and writes its attributes per image."""
    from safetensors.torch import save_file

    from audit.labelers.world import WorldLabeler, build_model

    weights = tmp_path / "w"
    weights.mkdir()
    save_file(build_model(width=8).state_dict(), str(weights / "model.safetensors"))
    (weights / "config.json").write_text(json.dumps({"width": 8}))
    src = tmp_path / "imgs"
    src.mkdir()
    (src / "a.png").write_bytes(png(face_patch(5)))
    (src / "b.png").write_bytes(b"")
    out = tmp_path / "w.parquet"
    assert main(["label", str(src), "--labeler", "world", "--world-weights", str(weights), "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    attrs = WorldLabeler.attributes
    assert sorted(df[df.image_id == "a.png"]["attribute"]) == sorted(attrs)
    assert (df[df.image_id == "b.png"]["value"] == "unreadable").sum() == len(attrs)
    assert main(["label", str(src), "--labeler", "world", "--world-weights", str(tmp_path / "none"),
                 "--out", str(out)]) == 2
