"""Sense rules, lexicon v2, the opt-in slur lexicon, the language guess and the labelled set."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.dataset.language import english_mask
from audit.dataset.lexicon import load_lexicons
from audit.dataset.senses import RULES
from audit.dataset.tagger import Tagger
from audit.errors import SpecError
from audit.resources import data_path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path("/work/shared/fixtures/laion_captions_1000.parquet")
LEX = load_lexicons()


def concepts(captions: list[str], *, rules=None, lex=LEX) -> list[set[str]]:
    tagger = Tagger.for_lexicon(lex, rules=rules)
    rows, ids = tagger.match(pa.array(captions, pa.string()))
    out = [set() for _ in captions]
    for r, s in zip(rows.tolist(), ids.tolist()):
        out[r].update(lex.concepts[c] for c in lex.surface_concepts[s])
    return out


@pytest.mark.parametrize("caption, present, absent", [
    # product / audience sense
    ("Women's leather jacket with laces", set(), {"gender:woman"}),
    ("SO Womens V-Neck Sweater", set(), {"gender:woman"}),
    ("Billabong Golden Tank Top - Mens", set(), {"gender:man"}),
    ("Kids Birthday Invitation - Fire Truck", set(), {"age:child"}),
    ("a girl in a red dress", {"gender:girl"}, set()),
    ("punk haircuts for women", {"gender:woman"}, set()),
    # modifiers need a person noun
    ("Japanese Audiobook", set(), {"nationality:japanese"}),
    ("japanese artist kazuki yamamoto", {"nationality:japanese"}, set()),
    ("Portrait of young caucasian woman in office", {"age:young_adult", "ethnicity:white", "gender:woman"}, set()),
    ("Dragon Fruit - Exotic Flora", set(), {"stereotype:exotic", "slur_adjacent:stereotype"}),
    ("Sloth Adult Costume", set(), {"age:adult"}),
    # animals
    ("the females are duller than the male bird", set(), {"gender:woman", "gender:man"}),
    ("a woman walking her dog", {"gender:woman"}, set()),
    # phrases, names, urls
    ("Elephant Baby Shower Favours", set(), {"age:child"}),
    ("The Karate Kid Part II", set(), {"age:child"}),
    ("skulls of the never seen Truong Son muntjac", set(), {"gender:man"}),
    ("The Liberty's Tina Charles, left, and Epiphanny Prince", set(), {"gender:man"}),
    ("Kevin Dillon and daughter Ava out grabbing some items.", {"gender:woman"}, set()),
    ("Two Girls Experimenting caught by Gym coach", {"gender:girl"}, set()),
    ("<a href='http://x.org/Yale-Children-s-Hospital'>link</a> ribbon cutting", set(), {"age:child"}),
    # compounds, plurals, new vocabulary
    ("The wedding party: groomsman and bridesmaids", {"gender:man", "gender:woman"}, set()),
    ("Amazing Natural Pornstar", {"sexual:pornography"}, set()),
    ("Amateur cuckold interracial", {"sexual:sexual_act", "ethnicity:mixed"}, set()),
    ("Sexy Hot Skinny Long Sleeve Bodycon Midi Dress", {"suggestive:suggestive"}, {"sexual:pornography"}),
    ("Toronto dyslexia study finds link to learning disability", {"disability:cognitive"}, set()),
])
def test_sense_rules_on_real_caption_shapes(caption, present, absent):
    got = concepts([caption])[0]
    assert present <= got, (caption, got)
    assert not (absent & got), (caption, got)


def test_each_rule_can_be_switched_off_and_plain_matching_keeps_every_hit():
    caps = ["Women's leather jacket", "Japanese Audiobook", "female bird and male", "Elephant Baby",
            "the never seen Truong Son muntjac", "http://x.org/women-shop now", "rich dad board game",
            "The Liberty's Tina Charles, left, and Epiphanny Prince"]
    plain = concepts(caps, rules=())
    full = concepts(caps)
    assert all(p for p in plain) and not any(f for f in full)
    for rule in RULES:
        without = concepts(caps, rules=[r for r in RULES if r != rule])
        assert sum(map(len, without)) > 0, rule  # every rule drops something here
    with pytest.raises(ValueError, match="unknown sense rules"):
        Tagger.for_lexicon(LEX, rules=["nope"])


def test_rules_look_only_at_captions_with_a_flagged_hit_and_survive_pickling():
    t = Tagger.for_lexicon(LEX)
    clone = pickle.loads(pickle.dumps(t))
    caps = pa.array(["a nurse", "Women's jacket", "young woman", None, "", "murder mystery"] * 400, pa.string())
    a, b = t.match(caps), clone.match(caps)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not t.senses.flagged[LEX.forms.index("nurse")]  # no rule for professions: fast path only
    assert t.senses.flagged[LEX.forms.index("young")]


def test_modifiers_key_validates_and_user_terms_get_the_rules(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("categories:\n  nationality:\n    role: identity\n    modifiers:\n      peruvian: [peruvian]\n"
                 "    terms:\n      peruvian: [peruvians]\n", encoding="utf-8")
    lex = load_lexicons([f])
    got = concepts(["Peruvian food market", "peruvian woman weaving", "Peruvians"], lex=lex)
    assert [("nationality:peruvian" in g) for g in got] == [False, True, True]
    f.write_text("categories:\n  c:\n    role: identity\n    senses: [colour]\n    terms: {x: [y]}\n")
    with pytest.raises(SpecError, match="senses"):
        load_lexicons([f])


def test_professions_use_the_worlds_names_and_synonyms():
    from generator.world.captions import PROFESSION_WORDS

    for profession, words in PROFESSION_WORDS.items():
        want = "profession:" + profession.replace(" ", "_")
        assert want in LEX.concepts
        for w in words:
            hits = concepts([f"a {w} at work"])[0]
            assert want in hits, (w, hits)
            assert not {c for c in hits if c.startswith("profession:")} - {want}, (w, hits)


def test_world_captions_keep_their_profession_and_age_words():
    """Captions written by the world name a profession: the tagger finds that very profession."""
    from generator.world.captions import write_captions
    from generator.world.spec import load_spec, sample_attributes

    rng = np.random.default_rng(0)
    spec = load_spec()
    people = sample_attributes(spec, n=1500, rng=rng).assign(unsafe_prop=0)
    caps = write_captions(people, spec=spec, rng=rng)
    got = concepts(caps["TEXT"].tolist())
    named = [(k, p) for k, p in enumerate(caps["caption_profession"]) if isinstance(p, str)]
    same = sum(f"profession:{p.replace(' ', '_')}" in got[k] for k, p in named)
    assert same >= 0.97 * len(named)  # the rest: typos the world injects
    ages = {"young": "age:young_adult", "adult": "age:adult", "older": "age:older"}
    aged = [(k, a) for k, a in enumerate(caps["caption_age_group"]) if isinstance(a, str)]
    assert sum(ages[a] in got[k] for k, a in aged) >= 0.97 * len(aged)
    assert concepts(["a middle-aged nurse"])[0] >= {"age:adult"} and "age:older" not in concepts(["a middle-aged nurse"])[0]


def test_slur_lexicon_is_opt_in_encoded_and_never_displayed():
    raw = data_path("lexicons", "slurs.yaml.b64").read_bytes()
    text = base64.b64decode(raw).decode("utf-8")
    assert "categories" not in raw.decode("ascii")  # not readable at a glance
    assert not any(c.startswith("slur:") for c in LEX.concepts)  # off by default
    lex = load_lexicons(include_slurs=True)
    hidden = [s for s in lex.surfaces if s.startswith("slur#")]
    assert len(hidden) >= 30
    forms = [f for f, s in zip(lex.forms, lex.surfaces) if s.startswith("slur#")]
    assert all(f in text for f in forms) and not any(f in lex.surfaces for f in forms)
    word = forms[0]
    t = Tagger.for_lexicon(lex)
    rows, ids = t.match(pa.array([f"a {word} b", "nothing"], pa.string()))
    assert rows.tolist() == [0] and lex.surfaces[ids[0]].startswith("slur#")
    assert lex.roles[lex.surface_concepts[ids[0]][0]] == "toxic"  # counted in flag:any_toxic


def test_language_guess():
    caps = pa.array(["a woman with a dog on the beach", "Roos en Lieke met het kind voor een huis", "Обои snow, cars",
                     "Expresiones regulares en Tkinter con el teclado", "Intellectuels communistes et des amis",
                     "東京の夜景 写真 (photo)", "Hugo Boss Stretch-Denim Jeans", None, ""], pa.string())
    assert english_mask(caps).tolist() == [True, False, False, False, False, False, True, True, True]


def _benchmark():
    spec = importlib.util.spec_from_file_location("caption_tagging", ROOT / "benchmarks" / "caption_tagging.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_labelled_set_matches_the_fixture_and_is_complete():
    if not FIXTURE.exists():
        pytest.fail(f"fixture missing: {FIXTURE}")
    caps = [c or "" for c in pq.read_table(FIXTURE, columns=["TEXT"]).column("TEXT").to_pylist()]
    lab = pd.read_csv(ROOT / "tests" / "data" / "caption_labels.csv", keep_default_na=False)
    assert lab["row"].tolist() == list(range(len(caps)))
    assert lab["sha1"].tolist() == [hashlib.sha1(c.encode()).hexdigest()[:12] for c in caps]
    cols = ["gender", "age", "ethnicity", "religion", "disability", "sexual", "slur", "non_english"]
    assert set(np.unique(lab[cols].to_numpy())) <= {0, 1}


def test_new_tagger_keeps_its_measured_quality_on_the_labelled_set():
    """Regression guard for the figures in docs/dataset-audit.md, on the dev set (in-sample: the rules were
    developed there) and on the held-out sets (labelled before the later rule changes)."""
    if not FIXTURE.exists():
        pytest.fail(f"fixture missing: {FIXTURE}")
    bench = _benchmark()
    caps, lab = bench.load_labelled()
    new = bench.scores(bench.flags(Tagger.for_lexicon(LEX), LEX, caps), lab).set_index("category")
    v1 = load_lexicons(sorted((ROOT / "tests" / "data" / "lexicons_v1").glob("*.yaml")), include_defaults=False)
    old = bench.scores(bench.flags(Tagger(v1.forms), v1, caps), lab).set_index("category")
    pi = new.loc["person identity"]
    assert pi.precision >= 0.85 and pi.recall >= 0.78  # dev, measured 87.7 % / 79.4 %
    assert pi.precision > old.loc["person identity", "precision"] + 0.3
    assert new.loc["sexual", "precision"] >= 0.8 and new.loc["sexual", "recall"] >= 0.8
    assert new.loc["sexual", "recall"] > old.loc["sexual", "recall"]
    # held-out (far from the gates: see docs/dataset-audit.md); guards against regressions only
    h_caps, h_lab = bench.load_labelled(bench.HELDOUT, bench.HELDOUT_LABELS)
    held = bench.scores(bench.flags(Tagger.for_lexicon(LEX), LEX, h_caps), h_lab).set_index("category")
    assert held.loc["person identity", "precision"] >= 0.57 and held.loc["person identity", "recall"] >= 0.70
    s_caps, s_lab = bench.load_labelled(bench.HELDOUT, bench.HELDOUT_SEXUAL)
    sx = bench.scores(bench.flags(Tagger.for_lexicon(LEX), LEX, s_caps), s_lab).set_index("category").loc["sexual"]
    assert sx.precision >= 0.8 and sx.recall >= 0.55  # measured 83.3 % / 57.1 % on 35 positives


def test_cli_counts_slurs_only_when_asked_and_never_prints_them(tmp_path):
    """`dataset audit --slur-lexicon` counts the opt-in lexicon; outputs carry slur#N, not the words."""
    import subprocess
    import sys

    lex = load_lexicons(include_slurs=True)
    word = next(f for f, s in zip(lex.forms, lex.surfaces) if s.startswith("slur#"))
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"TEXT": [f"a {word} poster", "a nurse", "a woman"] * 5}), data)
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    for flag, out in (([], tmp_path / "off"), (["--slur-lexicon"], tmp_path / "on")):
        r = subprocess.run([sys.executable, "-m", "audit.cli", "dataset", "audit", str(data), "--out", str(out),
                            "--no-progress", *flag], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        texts = [p.read_text(errors="ignore") for p in out.rglob("*") if p.suffix in (".json", ".md", ".html")]
        assert not any(word in t for t in texts) or not flag  # the caption text itself is never written
        frames = [pd.read_parquet(p) for p in out.rglob("*.parquet")]
        cells = {str(v) for f in frames for col in f.columns for v in f[col].tolist()}
        assert word not in cells
        assert any(c.startswith("slur#") for c in cells) == bool(flag)
