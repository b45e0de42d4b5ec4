"""deepface labeler through deepface's own code path, on tiny ONNX graphs made here (no download).

The graphs are placed where deepface looks ($DEEPFACE_HOME/.deepface/weights/<its file names>)
and run by deepface's onnxruntime backend: detection, preprocessing, analyze and the
label mapping are deepface's; only the weights are ours.
"""

from __future__ import annotations

import json

import numpy as np
import pytest



from audit.errors import UserError
from audit.labelers.deepface import WEIGHT_FILES, DeepFaceLabeler, missing_weights


def _export(module, path):
    import torch

    torch.onnx.export(module.eval(), (torch.zeros(1, 224, 224, 3),), str(path), dynamo=False,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})


def make_weights(home):
    """Gender: softmax of +-(channel 2 - channel 0) means; age: peaked at 37; race: peaked at class 2."""
    import torch

    class ChannelContrast(torch.nn.Module):
        def forward(self, x):
            m = x.mean(dim=(1, 2))
            d = (m[:, 2] - m[:, 0]) * 20.0
            return torch.softmax(torch.stack([d, -d], dim=1), dim=1)

    class Peaked(torch.nn.Module):
        def __init__(self, n, k):
            super().__init__()
            self.register_buffer("bias", torch.full((n,), -30.0).index_fill(0, torch.tensor([k]), 30.0))

        def forward(self, x):
            return torch.softmax(x.mean(dim=(1, 2, 3))[:, None] * 0 + self.bias, dim=1)

    folder = home / ".deepface" / "weights"
    folder.mkdir(parents=True)
    names = WEIGHT_FILES["onnx"]
    _export(ChannelContrast(), folder / names["gender"])
    _export(Peaked(101, 37), folder / names["age"])
    _export(Peaked(6, 2), folder / names["race"])


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("deepface-home")
    make_weights(home)
    return home


@pytest.fixture(scope="module")
def labeler(home):
    return DeepFaceLabeler(weights_home=home, backend="onnx", detector_backend="skip")


def test_deepface_labels_through_deepface(labeler):
    red = np.zeros((100, 100, 3), np.uint8)
    red[..., 0] = 220
    blue = np.zeros((100, 100, 3), np.uint8)
    blue[..., 2] = 220
    df = labeler.label([red, blue], image_ids=["red", "blue"])
    assert set(df["attribute"]) == {"gender", "presentation", "race", "age", "age_group"}
    assert len(df) == 2 * 5
    v = df.set_index(["image_id", "attribute"])["value"]
    assert {v["red", "gender"], v["blue", "gender"]} == {"Woman", "Man"}
    assert v["red", "presentation"] == {"Woman": "feminine", "Man": "masculine"}[v["red", "gender"]]
    assert v["red", "race"] == "black"  # deepface's class 2
    assert v["red", "age"] == "37" and v["red", "age_group"] == "adult"
    g = json.loads(df[(df.image_id == "red") & (df.attribute == "gender")]["probs"].iloc[0])
    assert abs(sum(g.values()) - 1) < 1e-4 and g[v["red", "gender"]] > 0.99


def test_deepface_detector_finds_face_or_says_no_face(home):
    import skimage.data

    lab = DeepFaceLabeler(weights_home=home, backend="onnx", detector_backend="opencv",
                          actions=("age",))
    df = lab.label([skimage.data.astronaut(), np.full((120, 120, 3), 128, np.uint8)], image_ids=["astro", "grey"])
    v = df.set_index(["image_id", "attribute"])["value"]
    assert v["astro", "age"] == "37"
    assert v["grey", "age"] == "no_face" and v["grey", "age_group"] == "no_face"
    assert df[df.image_id == "grey"]["reason"].str.contains("no face").all()


def test_deepface_refuses_to_download(tmp_path):
    assert len(missing_weights(tmp_path, backend="pytorch", actions=["gender", "race", "age"])) == 3
    with pytest.raises(UserError, match="gender_model_weights.onnx"):
        DeepFaceLabeler(weights_home=tmp_path, backend="onnx")
    with pytest.raises(UserError, match="not valid"):
        DeepFaceLabeler(weights_home=tmp_path, actions=("emotion",))


def test_deepface_through_cli(home, tmp_path):
    import io

    import pandas as pd
    from PIL import Image

    from audit.cli import main

    src = tmp_path / "imgs"
    src.mkdir()
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), (200, 30, 30), np.uint8)).save(buf, "PNG")
    (src / "red.png").write_bytes(buf.getvalue())
    (src / "zero.png").write_bytes(b"")
    out = tmp_path / "df.parquet"
    assert main(["label", str(src), "--labeler", "deepface", "--deepface-backend", "onnx", "--deepface-detector",
                 "skip", "--deepface-home", str(home), "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    v = df.set_index(["image_id", "attribute"])["value"]
    assert v["red.png", "age"] == "37" and v["red.png", "race"] == "black"
    assert set(df[df.image_id == "zero.png"]["reason"]) == {"zero_bytes"}
