"""One table of names: built-in labelers and generators, and third-party ones through entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit import registry
from audit.cli import main
from audit.errors import UserError

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import pandas as pd

class Gen:
    def __init__(self, target, **options):
        self.target, self.options = target, options
    def generate(self, prompts, *, seeds, settings):
        from PIL import Image
        return [Image.new("RGB", (8, 8), (seed % 256, 0, 0)) for seed in seeds]
    def config(self):
        return {"kind": "plugin", "target": self.target, **self.options}

def make_generator(target=None, **options):
    return Gen(target, **options)

class Lab:
    name = "redness"
    attributes = {"red": ("low", "high")}
    domain = "any RGB image"
    def label(self, images, *, image_ids):
        import numpy as np
        rows = [{"image_id": i, "labeler": self.name, "attribute": "red",
                 "value": "high" if np.asarray(im)[..., 0].mean() > 127 else "low", "confidence": 1.0}
                for im, i in zip(images, image_ids)]
        return pd.DataFrame(rows)

def make_labeler(**options):
    return Lab()
'''


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    """An installed plugin: a module and a dist-info folder with entry points, on sys.path."""
    (tmp_path / "myplugin.py").write_text(PLUGIN)
    info = tmp_path / "myplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[imagen_audit.generators]\nmygen = myplugin:make_generator\n\n"
                                           "[imagen_audit.labelers]\nredness = myplugin:make_labeler\n"
                                           "ita = myplugin:make_labeler\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("myplugin", None)


def test_builtin_names():
    assert sorted(registry.LABELERS) == ["agegender", "clip", "deepface", "ita", "world"]
    assert sorted(registry.GENERATORS) == ["a1111", "builtin", "diffusers", "diffusers-if", "images", "openai"]
    assert registry.make_labeler("ita", faces=False).faces is False
    with pytest.raises(UserError, match="needs two stages"):
        registry.make_generator("diffusers-if:only-one")
    with pytest.raises(UserError, match="is not understood"):
        registry.make_generator("dalle")


def test_entry_points_add_generators_and_labelers(plugin):
    gen = registry.make_generator("mygen:some-target", steps=3, device=None)
    assert gen.config() == {"kind": "plugin", "target": "some-target", "steps": 3}
    assert registry.make_labeler("redness").name == "redness"
    # a plugin never replaces a built-in name
    assert type(registry.make_labeler("ita")).__name__ == "ITALabeler"


def test_cli_and_run_probe_use_plugins(plugin, tmp_path, capsys):
    src = tmp_path / "imgs"
    src.mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(src / "a.png")
    out = tmp_path / "l.parquet"
    assert main(["label", str(src), "--labeler", "redness", "--out", str(out), "--no-progress"]) == 0
    import pandas as pd

    assert pd.read_parquet(out).value.tolist() == ["high"]
    run_dir = tmp_path / "run"
    assert main(["probe", "run", "activities", "--generator", "mygen:x", "--samples", "1", "--labelers", "redness",
                 "--out", str(run_dir), "--no-report", "--no-progress"]) == 0
    labels = pd.read_parquet(run_dir / "labels.parquet")
    assert set(labels.labeler) == {"redness"} and len(labels) == labels.image_id.nunique()


def test_a_broken_plugin_is_a_clear_error(tmp_path, monkeypatch):
    info = tmp_path / "broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[imagen_audit.labelers]\nbroken = no_such_module:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError, match="plugin 'broken'.*cannot be loaded"):
        registry.make_labeler("broken")


def test_no_dotted_string_lookup_in_the_package():
    for folder in ("audit", "generator", "probes"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            assert "import_module(" not in text and "__import__(" not in text, path


def test_ita_labeler_on_numpy_array_through_registry():
    lab = registry.make_labeler("ita", faces=False)
    df = lab.label([np.full((8, 8, 3), 200, np.uint8)], image_ids=["x"])
    assert list(df.attribute) == list(lab.attributes)
