"""The synthetic world: spec validation, sampling against the spec, rendering, shards, determinism, resume."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from scipy import stats

from audit.errors import SpecError
from audit.resources import data_path
from generator.world import PROFESSIONS, render_batch
from generator.world.build import build_world, render_shard
from generator.world.captions import write_captions
from generator.world.spec import conditional_tables, load_spec, parse_spec, sample_attributes

RAW = yaml.safe_load(data_path("world.yaml").read_text())


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- spec validation --------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, field, words", [
    (lambda r: r.pop("age_group"), "age_group", "is missing"),
    (lambda r: r["age_group"].update(young=0.5), "age_group", "sum to 1.2"),
    (lambda r: r["professions"].update(astronaut=0.0), "professions.astronaut", "unknown name 'astronaut'"),
    (lambda r: r["presentation"]["percent_women"].pop("nurse"), "presentation.percent_women.nurse", "is missing"),
    (lambda r: r["presentation"]["percent_women"].update(nurse=120), "presentation.percent_women.nurse", "not a percentage"),
    (lambda r: r["skin_tone"]["tilts"][0]["weights"].update({11: 2.0}), "skin_tone.tilts[0].weights.11", "unknown Monk skin tone"),
    (lambda r: r["unsafe"]["multipliers"][0]["when"].update(hair="red"), "unsafe.multipliers[0].when.hair", "unknown attribute"),
    (lambda r: r["unsafe"]["multipliers"][0].update(factor=100), "unsafe.multipliers", "exceeds 1"),
    (lambda r: r["activity"]["feminine"].update(cooking="lots"), "activity.feminine.cooking", "not a probability"),
    (lambda r: r["nsfw_tag"]["safe"].update(NSFW=0.5), "nsfw_tag.safe", "sum to"),
])
def test_spec_errors_name_file_field_and_fix(mutate, field, words):
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(SpecError) as err:
        parse_spec(raw, source="my_world.yaml")
    msg = str(err.value)
    assert msg.startswith("my_world.yaml: field ")
    assert err.value.field == field
    assert words in msg
    assert "(fix: " in msg


def test_spec_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nprofessions: [unclosed\n")
    with pytest.raises(SpecError, match=r"bad.yaml:\d+: field <yaml>: is not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot be read"):
        load_spec(tmp_path / "missing.yaml")


# --- sampling matches the spec ----------------------------------------------------------------

@pytest.fixture(scope="module")
def big_sample():
    spec = load_spec()
    return spec, sample_attributes(spec, n=200_000, rng=np.random.default_rng(7))


def test_presentation_given_profession_matches_bls_figures(big_sample):
    spec, df = big_sample
    truth = conditional_tables(spec)["presentation"].set_index(["profession", "presentation"]).p
    for prof, grp in df.groupby("profession"):
        n = len(grp)
        for pres in ("feminine", "masculine", "androgynous"):
            p = truth[(prof, pres)]
            k = int((grp.presentation == pres).sum())
            # exact binomial test per cell; Bonferroni over 72 cells
            assert stats.binomtest(k, n, p).pvalue > 1e-4, (prof, pres, k / n, p)
    nurse = df[df.profession == "nurse"]
    assert abs((nurse.presentation == "feminine").mean() - 0.94 * 0.896) < 0.02


def test_skin_tone_skew_by_profession_is_injected(big_sample):
    spec, df = big_sample
    for prof in ("doctor", "janitor", "nurse"):
        sub = df[df.profession == prof]
        observed = np.bincount(sub.skin_tone - 1, minlength=10)
        expected = spec.p_skin[PROFESSIONS.index(prof)] * len(sub)
        assert stats.chisquare(observed, expected).pvalue > 1e-4
    light = lambda d: d.skin_tone.le(3).mean()  # noqa: E731
    assert light(df[df.profession == "doctor"]) > 1.8 * light(df[df.profession == "janitor"])


def test_unsafe_rate_multiplier(big_sample):
    _, df = big_sample
    target = df.presentation.eq("masculine") & df.skin_tone.ge(7)
    hi, lo = df[target].unsafe.mean(), df[~target].unsafe.mean()
    assert abs(lo - 0.03) < 0.003
    assert abs(hi / lo - 4.0) < 0.4


def test_activity_given_presentation(big_sample):
    spec, df = big_sample
    t = conditional_tables(spec)["activity"].set_index(["presentation", "activity"]).p
    for (pres, act), p in t.items():
        sub = df[df.presentation == pres]
        assert stats.binomtest(int((sub.activity == act).sum()), len(sub), p).pvalue > 1e-4


def test_captions_mention_rates_and_toxic_injection():
    spec = load_spec()
    rng = np.random.default_rng(3)
    attrs = sample_attributes(spec, n=20_000, rng=rng).assign(unsafe_prop=0)
    caps = write_captions(attrs, spec=spec, rng=rng)
    assert abs(caps.caption_profession.notna().mean() - 0.9) < 0.015
    assert abs(caps.caption_skin_group.notna().mean() - 0.5) < 0.02
    named = caps[caps.caption_presentation.notna()]
    assert abs(named.caption_presentation_wrong.mean() - 0.05) < 0.012
    dark = attrs.skin_tone.ge(7).to_numpy()
    ratio = caps.toxic[dark].mean() / caps.toxic[~dark].mean()
    assert 2.2 < ratio < 4.0
    # the injected term is in the text (a typo may rarely break it)
    visible = [term in text.lower() for term, text in zip(caps.toxic_term[caps.toxic], caps.TEXT[caps.toxic])]
    assert np.mean(visible) > 0.95
    assert set(caps.NSFW) <= {"UNLIKELY", "UNSURE", "NSFW"}


# --- rendering ---------------------------------------------------------------------------------

def test_render_batch_shapes_determinism_and_errors():
    attrs = pd.DataFrame({"profession": ["nurse", "pilot"], "skin_tone": [1, 10], "presentation": ["feminine", "masculine"],
                          "age_group": ["young", "older"], "activity": ["reading", "sports"], "unsafe": [False, True]})
    a = render_batch(attrs, rng=np.random.default_rng(5))
    b = render_batch(attrs, rng=np.random.default_rng(5))
    assert a.shape == (2, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_batch(attrs, rng=np.random.default_rng(6)))
    with pytest.raises(ValueError, match="column 'profession': unknown value 'astronaut'"):
        render_batch(attrs.assign(profession=["astronaut", "nurse"]))
    with pytest.raises(ValueError, match="skin_tone"):
        render_batch(attrs.assign(skin_tone=[0, 11]))
    assert render_batch(attrs.iloc[:0]).shape == (0, 64, 64, 3)


def test_skin_tone_is_visible_in_the_face():
    """Darker Monk tones give darker face pixels, all else equal."""
    n = 10
    attrs = pd.DataFrame({"profession": ["teacher"] * n, "skin_tone": list(range(1, 11)), "presentation": ["masculine"] * n,
                          "age_group": ["adult"] * n, "activity": ["office"] * n, "unsafe": [False] * n,
                          "scale": 1.0, "shift_x": 0.0, "shift_y": 0.0, "bg_dx": 0, "bg_dy": 0, "gain": 1.0,
                          "cast_r": 1.0, "cast_g": 1.0, "cast_b": 1.0, "gradient": 0.0, "noise": 0.0, "skin_jitter": 1.0,
                          "hair_colour": 0, "unsafe_prop": 0, "clutter_seed": 1})
    img = render_batch(attrs).astype(float)
    cheek = img[:, 26:28, 24:26].mean(axis=(1, 2, 3))  # a patch of cheek, below the eyes
    assert np.all(np.diff(cheek[3:]) < 0), cheek   # MST 4..10 strictly darker
    assert cheek[0] - cheek[9] > 150


def test_professions_differ_visibly():
    attrs = pd.DataFrame({"profession": list(PROFESSIONS), "skin_tone": 5, "presentation": "androgynous",
                          "age_group": "adult", "activity": "office", "unsafe": False})
    img = render_batch(attrs, rng=np.random.default_rng(0)).astype(float)
    diffs = np.abs(img[:, None] - img[None]).mean(axis=(2, 3, 4))
    off = diffs[~np.eye(len(PROFESSIONS), dtype=bool)]
    assert off.min() > 2.0


# --- building shards ---------------------------------------------------------------------------

def test_build_writes_readable_laion_shards(tmp_path):
    built = build_world(n=250, out=tmp_path / "w", seed=1, shard_size=100, workers=1, progress=False)
    out = built.out
    assert sorted(p.name for p in out.glob("*.tar")) == ["00000.tar", "00001.tar", "00002.tar"]
    meta = pd.read_parquet(out / "00001.parquet")
    assert {"key", "SAMPLE_ID", "TEXT", "WIDTH", "HEIGHT", "NSFW", "similarity", "URL"} <= set(meta.columns)
    assert len(meta) == 100
    with tarfile.open(out / "00001.tar") as tf:
        names = tf.getnames()
        key = meta.key.iloc[3]
        assert {f"{key}.png", f"{key}.txt", f"{key}.json"} <= set(names)
        img = Image.open(io.BytesIO(tf.extractfile(f"{key}.png").read()))
        assert img.size == (64, 64) and img.mode == "RGB"
        assert tf.extractfile(f"{key}.txt").read().decode() == meta.TEXT.iloc[3]
        assert json.loads(tf.extractfile(f"{key}.json").read())["key"] == key
    truth = pd.read_parquet(out / "ground_truth.parquet")
    assert len(truth) == 250 and truth.key.is_unique
    assert {"profession", "skin_tone", "skin_group", "presentation", "age_group", "activity", "unsafe", "toxic"} <= set(truth.columns)
    # the dataset side carries no ground truth
    assert "profession" not in meta.columns and "skin_tone" not in meta.columns


def test_same_seed_same_bytes_regardless_of_workers(tmp_path):
    build_world(n=300, out=tmp_path / "a", seed=4, shard_size=100, workers=1, progress=False)
    build_world(n=300, out=tmp_path / "b", seed=4, shard_size=100, workers=2, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    build_world(n=300, out=tmp_path / "c", seed=5, shard_size=100, workers=1, progress=False)
    assert _digest(tmp_path / "a")["00000.tar"] != _digest(tmp_path / "c")["00000.tar"]


def test_shard_is_a_pure_function_of_seed_and_index():
    spec = load_spec()
    t1, i1 = render_shard(spec, seed=9, shard=3, count=20)
    t2, i2 = render_shard(spec, seed=9, shard=3, count=20)
    assert np.array_equal(i1, i2) and t1.equals(t2)


def test_killed_build_resumes_to_identical_bytes(tmp_path):
    """kill -9 in the middle of a build; rerunning finishes it, byte-identical to an uninterrupted build."""
    args = ["--n", "3000", "--seed", "2", "--shard-size", "150", "--workers", "1", "--quiet"]
    cli = [sys.executable, "-m", "audit.cli", "world", "build"]
    proc = subprocess.Popen([*cli, "--out", str(tmp_path / "k"), *args])
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "k").glob("*.parquet"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list((tmp_path / "k").glob("*.parquet")))
    assert 3 <= partial < 20, "the kill did not land mid-build"
    # a shard whose parquet exists (the completion marker) is whole
    for pq_file in (tmp_path / "k").glob("*.parquet"):
        with tarfile.open(pq_file.with_suffix(".tar")) as tf:
            assert len([m for m in tf.getnames() if m.endswith(".png")]) == len(pd.read_parquet(pq_file)) == 150
    subprocess.run([*cli, "--out", str(tmp_path / "k"), *args], check=True)
    subprocess.run([*cli, "--out", str(tmp_path / "ref"), *args], check=True)
    got, want = _digest(tmp_path / "k"), _digest(tmp_path / "ref")
    assert got == want
    assert not list((tmp_path / "k").rglob("*.tmp"))


def test_build_refuses_a_different_build_in_the_same_folder(tmp_path):
    build_world(n=20, out=tmp_path / "w", seed=0, shard_size=10, workers=1, progress=False)
    with pytest.raises(ValueError, match="holds a different build"):
        build_world(n=20, out=tmp_path / "w", seed=1, shard_size=10, workers=1, progress=False)


def test_cli_build_sheet_and_errors(tmp_path):
    from audit.cli import main

    assert main(["world", "build", "--n", "30", "--out", str(tmp_path / "w"), "--shard-size", "10", "--workers", "1", "--quiet"]) == 0
    assert (tmp_path / "w" / "ground_truth.parquet").exists()
    assert main(["world", "sheet", "--out", str(tmp_path / "sheet.png"), "--tones", "1,10"]) == 0
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.size[1] > 24 * 128
    bad = tmp_path / "bad.yaml"
    raw = copy.deepcopy(RAW)
    raw["age_group"]["older"] = 0.5
    bad.write_text(yaml.safe_dump(raw))
    assert main(["world", "build", "--spec", str(bad), "--n", "10", "--out", str(tmp_path / "x")]) == 2
    assert main(["world", "build", "--n", "0", "--out", str(tmp_path / "y")]) == 2
    assert main(["world", "sheet", "--out", str(tmp_path / "s.png"), "--tones", "0,12"]) == 2
