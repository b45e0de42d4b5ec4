"""``world build --jpeg-quality``: the same people as the PNG build, stored as JPEG at a drawn quality."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from generator.world.build import build_world


def test_jpeg_build_has_the_png_builds_people_and_jpeg_images(tmp_path):
    png = build_world(n=30, out=tmp_path / "png", seed=2, shard_size=15, workers=1, progress=False)
    jpg = build_world(n=30, out=tmp_path / "jpg", seed=2, shard_size=15, workers=1, progress=False,
                      jpeg_quality=(20, 40))
    a, b = png.truth, jpg.truth
    assert "jpeg_quality" not in a.columns
    assert b["jpeg_quality"].between(20, 40).all() and b["jpeg_quality"].nunique() > 1
    pd.testing.assert_frame_equal(a, b.drop(columns="jpeg_quality"))  # same people, captions, nuisances
    with tarfile.open(tmp_path / "png" / "00001.tar") as tp, tarfile.open(tmp_path / "jpg" / "00001.tar") as tj:
        key = b["key"].iloc[20]
        assert f"{key}.jpg" in tj.getnames() and f"{key}.png" not in tj.getnames()
        data = tj.extractfile(f"{key}.jpg").read()
        assert data[:2] == b"\xff\xd8"
        lossy = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)
        exact = np.asarray(Image.open(io.BytesIO(tp.extractfile(f"{key}.png").read())).convert("RGB"), dtype=float)
    diff = np.abs(lossy - exact).mean()
    assert 0.5 < diff < 20  # recompressed, but the same picture
    meta = pd.read_parquet(tmp_path / "jpg" / "00001.parquet")
    assert meta["URL"].str.endswith(".jpg").all()


def test_jpeg_build_is_its_own_build(tmp_path):
    build_world(n=10, out=tmp_path / "w", seed=0, shard_size=10, workers=1, progress=False)
    with pytest.raises(ValueError, match="holds a different build"):
        build_world(n=10, out=tmp_path / "w", seed=0, shard_size=10, workers=1, progress=False, jpeg_quality=(30, 60))


@pytest.mark.parametrize("quality", [(0, 50), (60, 40), (50, 96)])
def test_jpeg_quality_range_is_checked(tmp_path, quality):
    with pytest.raises(ValueError, match="--jpeg-quality .*fix"):
        build_world(n=5, out=tmp_path / "w", seed=0, workers=1, progress=False, jpeg_quality=quality)
