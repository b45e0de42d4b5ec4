"""One owner per fact: the schema module, and labelers that declare what they emit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from audit import schema
from audit.labelers.base import Labeler

ROOT = Path(__file__).resolve().parents[1]


def test_non_answers_are_the_agreed_values():
    assert schema.NON_ANSWERS == ("no_face", "out_of_domain", "unreadable", "filtered")
    assert (schema.NO_FACE, schema.OUT_OF_DOMAIN, schema.UNREADABLE, schema.FILTERED) == schema.NON_ANSWERS


def test_schema_import_is_torch_free():
    code = "import sys, audit.schema; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_swatches_and_vocabulary_are_defined_once():
    """The Monk swatch hex codes and the profession list appear in one source file only."""
    files = [p for p in (ROOT / "audit").rglob("*.py")] + [p for p in (ROOT / "generator").rglob("*.py")]
    holders = {p.relative_to(ROOT).as_posix() for p in files if "#f6ede4" in p.read_text()}
    assert holders == {"audit/schema.py"}
    holders = {p.relative_to(ROOT).as_posix() for p in files if '"nurse", "doctor", "firefighter", "chef"' in p.read_text()}
    assert holders == {"audit/schema.py"}


def test_world_reexports_are_the_schema_objects():
    from audit.labelers import ita, world
    from generator.world import vocab

    assert vocab.MST_HEX is schema.MST_HEX and vocab.skin_group is schema.skin_group
    assert world.HEADS["profession"] is schema.PROFESSIONS and world.skin_group_of is schema.skin_group
    assert ita.MST_HEX == tuple(schema.MST_HEX.values())


def test_labelers_declare_attributes_values_and_domain():
    from audit.labelers.clip import CLIPLabeler
    from audit.labelers.deepface import DeepFaceLabeler
    from audit.labelers.ita import ITALabeler
    from audit.labelers.world import WorldLabeler

    for cls in (WorldLabeler, ITALabeler, CLIPLabeler, DeepFaceLabeler):
        assert isinstance(cls.domain, str) and cls.domain
        assert cls.attributes and all(isinstance(v, tuple) for v in cls.attributes.values()), cls
    assert WorldLabeler.attributes["skin_group"] == ("light", "medium", "dark")
    assert ITALabeler.attributes["ita"] == ()  # a numeric reading
    assert tuple(DeepFaceLabeler.attributes_for(("age",))) == ("age", "age_group")


def test_ita_emits_only_declared_values():
    from audit.labelers.ita import MST_RGB, ITALabeler

    lab = ITALabeler(faces=False)
    assert isinstance(lab, Labeler)
    imgs = [np.broadcast_to(MST_RGB[k], (16, 16, 3)) for k in range(10)] + [np.zeros((16, 16, 3), np.uint8)]
    df = lab.label(imgs, image_ids=[str(i) for i in range(len(imgs))])
    assert list(df.attribute.unique()) == list(lab.attributes)
    for attr, values in lab.attributes.items():
        got = set(df.loc[df.attribute == attr, "value"])
        if values:
            assert got <= set(values) | {schema.NO_SKIN, *schema.NON_ANSWERS}, (attr, got - set(values))
