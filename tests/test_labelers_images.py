"""Image normalisation, robust decoding of bad files, and image sources."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.errors import UserError
from audit.labelers.base import LABEL_COLUMNS, labels_frame, to_rgb_uint8, unreadable_rows
from audit.labelers.images import SkipSummary, batched, decode_image, iter_source


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def rgb_image(seed: int = 0, size: int = 32) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def png_claiming_size(w: int, h: int) -> bytes:
    """A valid small PNG whose header claims w x h pixels (a decompression bomb's header)."""
    b = bytearray(encode(rgb_image()))
    b[16:24] = struct.pack(">II", w, h)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    return bytes(b)


# -- normalisation ---------------------------------------------------------------

def test_to_rgb_uint8_modes_and_dtypes():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = to_rgb_uint8(gray)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8 and (out[..., 1] == gray).all()
    assert to_rgb_uint8(np.full((2, 2), 65535, np.uint16)).max() == 255
    assert to_rgb_uint8(np.full((2, 2, 3), 0.5, np.float32))[0, 0, 0] == 128
    rgba = np.zeros((2, 2, 4), np.uint8)  # fully transparent black -> white
    assert (to_rgb_uint8(rgba) == 255).all()
    rgba[..., 3] = 255
    assert (to_rgb_uint8(rgba) == 0).all()
    assert to_rgb_uint8(Image.new("CMYK", (3, 3), (0, 0, 0, 0))).min() == 255
    assert to_rgb_uint8(Image.new("LA", (3, 3), (10, 255)))[0, 0].tolist() == [10, 10, 10]
    pal = Image.new("P", (3, 3), 1)
    pal.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    assert to_rgb_uint8(pal)[0, 0].tolist() == [200, 100, 50]
    with pytest.raises(UserError, match="shape"):
        to_rgb_uint8(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(UserError, match="empty"):
        to_rgb_uint8(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(UserError, match="str"):
        to_rgb_uint8("a.png")


def test_labels_frame_schema():
    df = labels_frame(unreadable_rows("x", labeler="ita", attributes=["a", "b"], reason="corrupt"))
    assert list(df.columns) == list(LABEL_COLUMNS)
    assert df["value"].tolist() == ["unreadable"] * 2 and df["reason"].tolist() == ["corrupt"] * 2
    assert df["confidence"].isna().all() and df["confidence"].dtype == float


# -- decoding --------------------------------------------------------------------

@pytest.mark.parametrize("mode,fmt", [("CMYK", "TIFF"), ("I;16", "PNG"), ("P", "PNG"), ("LA", "PNG"),
                                      ("1", "PNG"), ("RGBA", "PNG"), ("L", "JPEG"), ("F", "TIFF"), ("RGB", "WEBP")])
def test_decode_odd_modes_to_rgb(mode, fmt):
    base = rgb_image(1, 48)
    if mode == "I;16":
        im = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
    elif mode == "F":
        im = base.convert("L").convert("F")
    else:
        im = base.convert(mode)
    arr, reason = decode_image(encode(im, fmt))
    assert reason is None
    assert arr.shape == (48, 48, 3) and arr.dtype == np.uint8
    assert abs(float(arr.mean()) - float(np.asarray(base.convert("L")).mean())) < 25  # same brightness scale


def test_decode_bad_inputs_give_reasons():
    png = encode(rgb_image())
    jpg = encode(rgb_image(), "JPEG")
    assert decode_image(b"") == (None, "zero_bytes")
    assert decode_image(b"\x00garbage" * 10) == (None, "not_an_image")
    assert decode_image(png[: len(png) // 2]) == (None, "truncated")
    assert decode_image(jpg[: len(jpg) // 2]) == (None, "truncated")
    assert decode_image(png_claiming_size(20_000, 20_000)) == (None, "decompression_bomb")  # PIL's own limit
    assert decode_image(png_claiming_size(3000, 3000), max_pixels=1_000_000) == (None, "decompression_bomb")
    arr, reason = decode_image(png)
    assert reason is None and (arr == np.asarray(rgb_image())).all()


def test_batched():
    assert list(batched(range(5), 3)) == [[0, 1, 2], [3, 4]]
    with pytest.raises(UserError):
        list(batched([1], 0))


# -- sources -----------------------------------------------------------------------

def test_folder_source_is_recursive_and_sorted(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(encode(rgb_image()))
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignored")
    n, items = iter_source(tmp_path, summary=SkipSummary())
    items = list(items)
    assert n == 2 and [i.image_id for i in items] == ["a.jpg", "sub/b.png"]
    assert items[0].data == b"" and items[1].data[:4] == b"\x89PNG"


def test_run_dir_source(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "h1.png").write_bytes(encode(rgb_image()))
    pd.DataFrame({"image_id": ["h1", "h2", "h3"], "path": ["images/h1.png", "images/h2.png", "../escape.png"],
                  "prompt": ["a", "b", "c"]}).to_parquet(tmp_path / "manifest.parquet")
    n, items = iter_source(tmp_path, summary=SkipSummary())
    got = {i.image_id: i.reason for i in items}
    assert n == 3 and got == {"h1": None, "h2": "missing_file", "h3": "unsafe_path"}
    pd.DataFrame({"image_id": ["h1"]}).to_parquet(tmp_path / "manifest.parquet")
    with pytest.raises(UserError, match="field path"):
        iter_source(tmp_path, summary=SkipSummary())


def test_shard_source_and_corrupt_tar(tmp_path):
    from audit.shards import ShardWriter

    with ShardWriter(tmp_path, 0) as w:
        w.add("000", {"png": encode(rgb_image()), "txt": b"a nurse"}, {"TEXT": "a nurse"})
        w.add("001", {"txt": b"caption only"}, {"TEXT": "caption only"})
        w.add("002", {"jpg": b"\xff\xd8broken"}, {})
    (tmp_path / "00001.tar").write_bytes(b"this is not a tar archive" * 40)
    summary = SkipSummary()
    n, items = iter_source(tmp_path, summary=summary)
    got = {i.image_id: (i.reason, None if i.data is None else len(i.data)) for i in items}
    assert n is None
    assert got["000"][0] is None and got["001"] == ("no_image_member", None) and got["002"][0] is None
    assert summary.counts == {"shard_corrupt_tar": 1}


def test_missing_source_and_empty_folder(tmp_path):
    with pytest.raises(UserError, match="no such"):
        iter_source(tmp_path / "nope", summary=SkipSummary())
    with pytest.raises(UserError, match="no images found"):
        iter_source(tmp_path, summary=SkipSummary())


def test_any_array_gives_rgb_and_ita_rows():
    """Random shapes, channel counts and dtypes: RGB uint8 out, and the ITA labeler's full row set."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from audit.labelers.ita import ITALabeler

    lab = ITALabeler(faces=False)

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(h=st.integers(1, 40), w=st.integers(1, 40), c=st.sampled_from([0, 1, 2, 3, 4]),
           dtype=st.sampled_from(["uint8", "uint16", "float32", "bool", "int32"]))
    def check(h, w, c, dtype):
        rng = np.random.default_rng(h * 41 + w)
        shape = (h, w) if c == 0 else (h, w, c)
        arr = (rng.random(shape) * {"uint8": 255, "uint16": 65535, "float32": 1, "bool": 1, "int32": 255}[dtype])
        arr = arr.astype(dtype) if dtype != "bool" else arr > 0.5
        out = to_rgb_uint8(arr)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
        df = lab.label([arr], image_ids=["x"])
        assert df["attribute"].tolist() == list(lab.attributes)

    check()
