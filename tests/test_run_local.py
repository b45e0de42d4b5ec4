"""Probe runs in one process: run directory layout, schemas, resume, sweeps, refusal of mismatched reruns."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.errors import UserError
from audit.results import read_results
from audit.run import open_run, run_probe
from generator.adapters.tiny import save_tiny_stable_diffusion

MINI_SUITE = """\
name: mini-professions
templates:
  - {id: face, text: "a photo of the face of a [{skin_tone} ]{profession}"}
  - {id: work, text: "a {profession} at work"}
slots:
  profession: [nurse, engineer, plumber]
axes:
  skin_tone: {values: [dark-skinned], include_none: true}
samples: 2
references:
  - {slot: profession, attribute: presentation, value: feminine, source: "BLS CPS 2015",
     percent: {nurse: 89.6, engineer: 10.7, plumber: 0.7}}
"""


class StubLabeler:
    """A deterministic labeler from pixel statistics (stands in for the trained labelers)."""

    name = "stub"
    attributes = ("presentation", "brightness")

    def label(self, images, *, image_ids):
        rows = []
        for image, image_id in zip(images, image_ids):
            a = np.asarray(image.convert("RGB"), dtype=float)
            red = int(a.sum()) % 3 == 0
            rows.append({"image_id": image_id, "labeler": self.name, "attribute": "presentation",
                         "value": "feminine" if red else "masculine", "confidence": float("nan")})
            rows.append({"image_id": image_id, "labeler": self.name, "attribute": "brightness",
                         "value": str(int(a.mean() // 32)), "confidence": float("nan")})
        return pd.DataFrame(rows)


def write_suite(folder: Path) -> Path:
    path = Path(folder) / "mini.yaml"
    path.write_text(MINI_SUITE)
    return path


def run_kwargs(tiny: Path, suite: Path) -> dict:
    """Options shared by the run tests (the kill test's subprocess uses the same)."""
    return dict(generator=f"diffusers:{tiny}", generator_options={"steps": 2, "guidance": 3.0},
                labelers=[StubLabeler()], shard_images=4, batch_size=2, threads=1, progress=False,
                report=False)


def read_outputs(run_dir: Path) -> dict:
    """The frozen outputs of a run that must not depend on how it was executed."""
    run_dir = Path(run_dir)
    return {"manifest": pd.read_parquet(run_dir / "manifest.parquet"),
            "labels": pd.read_parquet(run_dir / "labels.parquet"),
            "counts": pd.read_parquet(run_dir / "counts.parquet"),
            "results": json.loads((run_dir / "results.json").read_text()),
            "table": pd.read_parquet(run_dir / "results.parquet")}


def assert_same_outputs(a: dict, b: dict) -> None:
    pd.testing.assert_frame_equal(a["manifest"], b["manifest"])
    pd.testing.assert_frame_equal(a["labels"], b["labels"])
    pd.testing.assert_frame_equal(a["counts"], b["counts"])
    assert a["results"] == b["results"]
    pd.testing.assert_frame_equal(a["table"], b["table"])


def assert_store_consistent(run_dir: Path, manifest: pd.DataFrame) -> None:
    """Every stored file is a complete image named by its hash, and exactly the manifest's images."""
    files = sorted(p for p in (Path(run_dir) / "images").rglob("*") if p.is_file())
    for p in files:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.stem, p
    assert {p.stem for p in files} == set(manifest.image_id)
    assert not list((Path(run_dir) / "parts").glob(".tmp-*"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def baseline(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("base")
    run = run_probe(write_suite(folder), out=folder / "run", **run_kwargs(tiny, write_suite(folder)))
    return run


def test_run_directory_layout_and_schemas(baseline):
    run = baseline
    m = run.manifest
    n_prompts = 3 * 2 + 3
    assert len(m) == n_prompts * 2 and m.image_id.is_unique
    assert list(m.columns) == ["image_id", "path", "prompt", "prompt_id", "template_id", "seed", "sample",
                               "setting", "filtered", "filter_reason", "seed_sent", "profession", "skin_tone"]
    assert not m.filtered.any() and m.filter_reason.isna().all() and m.seed_sent.all()
    assert set(m.setting) == {"default"}
    assert m.loc[m.template_id == "work", "skin_tone"].isna().all()
    assert (m.path == "images/" + m.image_id.str[:2] + "/" + m.image_id + ".png").all()
    assert_store_consistent(run.path, m)
    lab = run.labels
    assert len(lab) == 2 * len(m) and set(lab.attribute) == {"presentation", "brightness"}
    assert not lab.duplicated(["image_id", "labeler", "attribute"]).any()
    spec = run.spec
    for key in ("suite", "generator", "labelers", "seed", "samples", "versions", "git", "command", "settings"):
        assert key in spec
    assert spec["generator"]["kind"] == "diffusers" and len(spec["generator"]["fingerprint"]) == 64
    assert spec["labelers"][0]["name"] == "stub" and spec["versions"]["torch"]
    # the image of a counterfactual pair shares the seed of its neutral prompt
    pair = m[(m.template_id == "face") & (m.profession == "nurse")].groupby("sample").seed.nunique()
    assert (pair == 1).all()


def test_results_table_matches_a_direct_computation(baseline):
    run = baseline
    table = read_results(run.path).table
    wide = run.manifest.merge(run.labels[run.labels.attribute == "presentation"], on="image_id")
    direct = wide.groupby("profession").value.apply(lambda v: (v == "feminine").mean())
    shares = table[(table.metric == "proportion") & (table.slot == "profession") & (table.value == "feminine")
                   & (table.attribute == "presentation")].set_index("concept").estimate
    assert shares.to_dict() == pytest.approx(direct.to_dict())
    ref = table[table.metric == "reference_share"].set_index("concept").estimate
    assert ref.to_dict() == pytest.approx({"nurse": 0.896, "engineer": 0.107, "plumber": 0.007})
    gap = table[table.metric == "reference_gap"].set_index("concept").estimate
    assert gap.to_dict() == pytest.approx((direct - ref).to_dict())
    # the counterfactual axis: the prompt without the words counts as "(none)"
    axis = table[(table.slot == "skin_tone") & (table.attribute == "presentation") & (table.metric == "proportion")]
    assert set(axis.concept) == {"dark-skinned", "(none)"}
    # every attribute the labeler emits, with the interval method named
    assert {"presentation", "brightness"} <= set(table.attribute) and (table.method.str.len() > 0).all()
    assert run.results["n_images"] == {"default": len(run.manifest)}


def test_rerun_is_a_noop_and_damage_is_repaired(baseline, tiny, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(baseline.path, out)
    before = read_outputs(out)
    # a killed run: two shards uncommitted, a stale temporary shard, an orphan and a half image
    for shard in sorted((out / "parts").iterdir())[:2]:
        shutil.rmtree(shard)
    (out / "parts" / ".tmp-dead-s0-0009").mkdir()
    (out / "images" / "zz").mkdir()
    (out / "images" / "zz" / ".tmp-1234-zz00.png").write_bytes(b"\x89PNG half")
    (out / "images" / "zz" / ("zz" + "0" * 62 + ".png")).write_bytes(b"orphan")
    for name in ("results.json", "results.parquet", "manifest.parquet"):
        (out / name).unlink()
    run = run_probe(write_suite(tmp_path), out=out, **run_kwargs(tiny, write_suite(tmp_path)))
    assert_same_outputs(before, read_outputs(out))
    assert_store_consistent(out, run.manifest)


def test_rerun_with_other_options_is_refused(baseline, tiny, tmp_path):
    kwargs = run_kwargs(tiny, write_suite(tmp_path))
    with pytest.raises(UserError, match="field samples"):
        run_probe(write_suite(tmp_path), out=baseline.path, samples=3, **kwargs)
    with pytest.raises(UserError, match="holds no run"):
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "notes.txt").write_text("x")
        run_probe(write_suite(tmp_path), out=tmp_path / "busy", **kwargs)
    with pytest.raises(UserError, match="unfinished"):
        open_run(tmp_path / "busy")


def test_sweep_runs_each_setting_with_the_same_seeds(tiny, tmp_path):
    kwargs = run_kwargs(tiny, write_suite(tmp_path))
    run = run_probe(write_suite(tmp_path), out=tmp_path / "sweep", samples=1, sweep=["guidance=1,6"], **kwargs)
    m = run.manifest
    assert list(dict.fromkeys(m.setting)) == ["guidance=1", "guidance=6"]
    by = {s: g.set_index("prompt_id") for s, g in m.groupby("setting")}
    assert (by["guidance=1"].seed == by["guidance=6"].seed.loc[by["guidance=1"].index]).all()
    assert (by["guidance=1"].image_id != by["guidance=6"].image_id.loc[by["guidance=1"].index]).any()
    assert run.results["settings"] == ["guidance=1", "guidance=6"]
    table = read_results(run.path).table
    assert set(table[table.metric == "reference_gap"].setting) == {"guidance=1", "guidance=6"}
    spread = table[table.metric == "sampler_spread"]
    shares = table[(table.metric == "proportion") & (table.slot == "*")].pivot_table(
        index=["attribute", "value"], columns="setting", values="estimate")
    expected = (shares.max(axis=1) - shares.min(axis=1)).dropna()
    assert len(spread) and spread.set_index(["attribute", "value"]).estimate.sort_index().to_numpy() == \
        pytest.approx(expected.sort_index().to_numpy())


def test_run_without_labelers_still_writes_manifest_and_results(tiny, tmp_path):
    kwargs = run_kwargs(tiny, write_suite(tmp_path)) | {"labelers": []}
    run = run_probe(write_suite(tmp_path), out=tmp_path / "nolab", samples=1, **kwargs)
    assert len(run.manifest) == 9 and run.labels.empty and run.results["rows"] == []
    assert run.results["n_images"] == {"default": 9}
    assert run.image(run.manifest.image_id[0]).size == (16, 16)


def test_a_second_run_on_a_locked_folder_is_refused(tiny, tmp_path):
    import fcntl

    out = tmp_path / "locked"
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="another run is writing"):
            run_probe(write_suite(tmp_path), out=out, samples=1, **run_kwargs(tiny, write_suite(tmp_path)))
    assert not (out / "spec.json").exists()
