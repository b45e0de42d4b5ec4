"""Lexicon v3 (training-set vocabulary, demonyms, LDNOOBW sexual terms), drop reasons, the learned sense model
and the labelled training set."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.dataset.lexicon import load_lexicons
from audit.dataset.sense_model import CATEGORIES, SenseModel, features, hash_features
from audit.dataset.senses import RULES
from audit.dataset.tagger import Tagger, _lower
from audit.errors import SpecError, UserError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
LEX = load_lexicons()


def concepts(captions: list[str], tagger: Tagger) -> list[set[str]]:
    rows, ids = tagger.match(pa.array(captions, pa.string()))
    out = [set() for _ in captions]
    for r, s in zip(rows.tolist(), ids.tolist()):
        out[r].update(LEX.concepts[c] for c in LEX.surface_concepts[s])
    return out


def _benchmark():
    spec = importlib.util.spec_from_file_location("caption_tagging", ROOT / "benchmarks" / "caption_tagging.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("caption, present, absent", [
    # demonyms (countryinfo): modifiers before a person noun only
    ("The first Bangladeshi batsman to score 200", {"nationality:bangladeshi", "gender:man"}, set()),
    ("A Syrian refugee looks from a bus", {"nationality:syrian"}, set()),
    ("Turkish Lamb Kebabs with grilled tomatoes", set(), {"nationality:turkish"}),
    ("Polish pottery bowl", set(), {"nationality:polish"}),
    ("Sikh devotees at the Golden Temple", {"religion:sikh"}, set()),
    ("A photo of an Airman looking over technical orders", {"gender:man"}, set()),
    ("Three junior girls on golf green", {"age:young_adult", "gender:girl"}, set()),
    # LDNOOBW / better_profanity terms (explicit), not the words with everyday senses
    ("amateur anal threesome", {"sexual:sexual_act"}, set()),
    ("upskirt voyeur pics", {"sexual:pornography"}, set()),
    ("Cock and hen ceramic figurines", set(), {"sexual:sexual_act", "sexual:pornography"}),
    ("Bareback riding lesson on a pony", set(), {"sexual:sexual_act", "sexual:pornography"}),
    ("Golden shower tree in bloom", set(), {"sexual:sexual_act", "sexual:pornography"}),
])
def test_lexicon_v3_forms(caption, present, absent):
    got = concepts([caption], Tagger.for_lexicon(LEX))[0]
    assert present <= got, (caption, got)
    assert not (absent & got), (caption, got)


def test_demonyms_file_is_what_the_generator_writes():
    """The shipped demonyms.yaml is generated, not edited: every form is a modifier of its own concept."""
    doc = __import__("yaml").safe_load((ROOT / "data" / "lexicons" / "demonyms.yaml").read_text())
    mods = doc["categories"]["nationality"]["modifiers"]
    assert len(mods) > 200
    assert all(len(v) == 1 and v[0].replace(" ", "_").replace("-", "_") == k for k, v in mods.items())
    assert {"bangladeshi", "emirati", "argentine", "scottish"} <= set(mods)
    assert "gibraltar" not in mods and "christmas_island" not in mods


def test_keep_reports_which_rule_drops_each_hit():
    t = Tagger.for_lexicon(LEX)
    caps = pa.array(["Women's leather jacket", "a smiling woman", "Japanese Audiobook", "Elephant Baby Shower"])
    lower = _lower(caps)
    row, sid, start, end = t._scan(lower)
    ok, why = t.senses.keep(lower, row, sid, start, end, original=caps, reasons=True)
    assert np.array_equal(ok, t.senses.keep(lower, row, sid, start, end, original=caps))
    assert np.array_equal(ok, why == 0)
    by = {(int(r), LEX.surfaces[s]): int(w) for r, s, w in zip(row, sid, why)}
    assert by[0, "women"] >> RULES.index("product") & 1
    assert by[1, "woman"] == 0
    assert by[2, "japanese"] >> RULES.index("modifier") & 1
    assert by[3, "baby"] & (1 << RULES.index("not_person") | 1 << RULES.index("animal"))


def test_features_are_stable_strings_hashed_with_crc32():
    f = features("Smiling businessman eating a salad", "gender", ["businessman"], [], True)
    assert {"cat:gender", "kept:True", "form:businessman", "prev:smiling", "next:eating", "w:salad",
            "cap:False"} <= set(f)
    idx = hash_features(f, 1 << 15)
    assert idx.tolist() == sorted(set(idx.tolist())) and idx.max() < 1 << 15
    assert hash_features(["w:salad"], 1 << 15).tolist() == hash_features(["w:salad"], 1 << 15).tolist()


def test_model_round_trips_through_json_and_rejects_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    w = np.where(rng.random(64) < 0.3, rng.normal(size=64), 0.0)
    m = SenseModel(w, bias=-0.25, threshold=0.4, meta={"note": "test"})
    p = tmp_path / "m.json"
    m.save(p)
    back = SenseModel.load(p)
    items = [["cat:gender", "w:a"], ["cat:age", "w:b", "form:kid"], []]
    assert np.allclose(back.probability(items), m.probability(items), atol=1e-5)
    assert back.threshold == 0.4 and back.meta == {"note": "test"}
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(UserError, match="not found"):
        SenseModel.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpecError, match="not JSON"):
        SenseModel.load(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text(json.dumps({"dim": 8, "index": [1]}))
    with pytest.raises(SpecError, match="not a sense model"):
        SenseModel.load(tmp_path / "bad2.json")


def test_fit_learns_a_separable_rule_and_is_deterministic():
    from audit.dataset.sense_train import fit

    feats = [["cat:gender", "w:dress"]] * 20 + [["cat:gender", "w:smiling"]] * 20
    y = np.array([0] * 20 + [1] * 20)
    w1, b1 = fit(feats, y, c=1.0, dim=256)
    w2, b2 = fit(feats, y, c=1.0, dim=256)
    assert np.array_equal(w1, w2) and b1 == b2
    p = SenseModel(w1, bias=b1).probability([["cat:gender", "w:dress"], ["cat:gender", "w:smiling"]])
    assert p[0] < 0.2 and p[1] > 0.8


def test_model_decides_identity_hits_only_and_survives_pickling():
    model = SenseModel.load()
    with_model = Tagger.for_lexicon(LEX, sense_model=model)
    caps = ["Smiling businessman eating a salad", "SO Womens V-Neck Sweater", "porn video xxx", "a nurse"]
    got = concepts(caps, with_model)
    rules = concepts(caps, Tagger.for_lexicon(LEX))
    assert "gender:man" in got[0] and not any(c.startswith("gender:") for c in got[1])
    # non-identity categories keep the rules' decision
    assert {c for c in got[2] if not c.startswith(("gender", "age"))} == \
        {c for c in rules[2] if not c.startswith(("gender", "age"))}
    assert "profession:nurse" in got[3]
    clone = pickle.loads(pickle.dumps(with_model))
    assert concepts(caps, clone) == got
    # a model that says no to everything removes every identity hit and nothing else
    never = Tagger.for_lexicon(LEX, sense_model=SenseModel(np.zeros(8), bias=-10.0))
    none = concepts(caps, never)
    ident = {"gender", "age", "ethnicity", "nationality", "skin_tone", "religion", "disability"}
    assert not any(LEX.category_of(c) in ident for s in none for c in s)
    assert none[3] == {"profession:nurse"}
    with pytest.raises(ValueError, match="sense model needs"):
        Tagger(LEX.forms, sense_model=model)


def test_shipped_model_records_its_training_and_cross_validation():
    meta = SenseModel.load().meta
    assert meta["command"] == "python -m audit.dataset.sense_train"
    assert set(meta["trained_on"]) == {"dev", "train"}
    cv = meta["cross_validation"]
    for k in ("dev", "train"):
        assert cv[f"{k}:model"]["positives"] == cv[f"{k}:rules"]["positives"] > 0
    # measured when the model was built: CV precision above the rules on the training set
    assert cv["train:model"]["precision"] > cv["train:rules"]["precision"] + 0.2


def test_training_labels_match_their_captions_and_never_touch_the_held_out_rows():
    caps = [c or "" for c in pq.read_table(DATA / "caption_heldout.parquet", columns=["TEXT"])
            .column("TEXT").to_pylist()]
    lab = pd.read_csv(DATA / "caption_labels_train.csv", keep_default_na=False)
    assert lab["row"].min() >= 2000 and lab["row"].max() < len(caps) and lab["row"].is_unique
    assert lab["sha1"].tolist() == [hashlib.sha1(caps[r].encode()).hexdigest()[:12] for r in lab["row"]]
    assert set(lab["selection"]) == {"net", "random"} and (lab["selection"] == "random").sum() == 700
    assert set(np.unique(lab[list(CATEGORIES)].to_numpy())) == {0, 1}
    assert lab[list(CATEGORIES)].to_numpy().sum() > 250


def test_benchmark_reads_the_training_set_and_the_previous_tagger():
    bench = _benchmark()
    caps, lab = bench.load_labelled(bench.HELDOUT, bench.TRAIN_LABELS)
    assert len(caps) == len(lab) == 2840
    v2 = load_lexicons([p for p in sorted(bench.V2.glob("*.yaml")) if p.name != "senses.yaml"],
                       include_defaults=False)
    prev = Tagger.for_lexicon(v2, senses_path=bench.V2 / "senses.yaml")
    # the v3 vocabulary finds what v2 missed on the training set (built from it: in-sample)
    old = bench.scores(bench.flags(prev, v2, caps), lab, categories=bench.IDENTITY).set_index("category")
    new = bench.scores(bench.flags(Tagger.for_lexicon(LEX), LEX, caps), lab,
                       categories=bench.IDENTITY).set_index("category")
    assert new.at["person identity", "recall"] > old.at["person identity", "recall"] + 0.05


def test_model_keeps_its_measured_quality_on_the_held_out_set():
    """Regression guard for the held-out figures in docs/dataset-audit.md (rules 59.0 % / 72.6 %,
    rules + model 80.2 % / 62.4 % person-identity precision / recall)."""
    bench = _benchmark()
    caps, lab = bench.load_labelled(bench.HELDOUT, bench.HELDOUT_LABELS)
    rules = bench.scores(bench.flags(Tagger.for_lexicon(LEX), LEX, caps), lab).set_index("category")
    model = bench.scores(bench.flags(Tagger.for_lexicon(LEX, sense_model=SenseModel.load()), LEX, caps),
                         lab).set_index("category")
    assert rules.at["person identity", "precision"] >= 0.57 and rules.at["person identity", "recall"] >= 0.70
    assert model.at["person identity", "precision"] >= 0.78 and model.at["person identity", "recall"] >= 0.60


def test_dataset_audit_cli_runs_the_sense_model_when_asked_and_records_it(tmp_path):
    """``dataset audit --sense-model``: the counts are the in-process model's, not the rules', and it is recorded."""
    import json
    import os
    import subprocess
    import sys

    from audit.dataset.results import term_frequencies
    from audit.dataset.textstats import TextAuditor

    fixture = Path("/work/shared/fixtures/laion_captions_1000.parquet")
    if not fixture.exists():
        pytest.fail(f"fixture missing: {fixture} (the shared LAION-style sample of 1,000 URL, TEXT rows)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}

    def audit(out, *extra):
        return subprocess.run([sys.executable, "-m", "audit.cli", "dataset", "audit", str(fixture), "--out",
                               str(out), "--no-progress", *extra], capture_output=True, text=True, env=env,
                              timeout=600)

    for out, extra in ((tmp_path / "rules", ()), (tmp_path / "model", ("--sense-model",))):
        proc = audit(out, *extra)
        assert proc.returncode == 0, proc.stderr
    rules = json.loads((tmp_path / "rules" / "results.json").read_text())
    model = json.loads((tmp_path / "model" / "results.json").read_text())
    assert rules["lexicons"]["sense_model"] is None and model["lexicons"]["sense_model"] == "shipped"
    assert "learned sense model" in (tmp_path / "model" / "dataset_card.md").read_text()
    assert "no learned sense model" in (tmp_path / "rules" / "dataset_card.md").read_text()

    def identity_rows(folder):
        tf = pd.read_parquet(folder / "term_frequencies.parquet")
        tf = tf[(tf.level == "concept") & (tf.role == "identity")]
        return dict(zip(tf.term, tf.rows))

    texts = pa.array(pq.read_table(fixture, columns=["TEXT"]).column("TEXT").to_pylist())
    lex = load_lexicons()
    in_process = TextAuditor(lex, sense_model=SenseModel.load()).count_batch(pa.RecordBatch.from_pydict({"text": texts}))
    want = term_frequencies(in_process, lex)
    want = want[(want.level == "concept") & (want.role == "identity")]
    assert identity_rows(tmp_path / "model") == dict(zip(want.term, want.rows))
    assert identity_rows(tmp_path / "model") != identity_rows(tmp_path / "rules")  # the flag changes what is counted
    # a missing model file is a clear error before any output folder exists
    bad = audit(tmp_path / "bad", "--sense-model", str(tmp_path / "missing.json"))
    assert bad.returncode == 2 and "sense model file not found" in bad.stderr
    assert not (tmp_path / "bad").exists()
