"""A generator's safety filter is a finding: a run whose every image is withheld completes, its report,
baseline and check succeed, the filter rate is in the results table, and nothing is labelled as if
the black placeholders were pictures."""

from __future__ import annotations

import pandas as pd

from audit.cli import main
from audit.results import read_results
from test_adapters_http_images import SUITE, _flag_everything_pipeline


def test_a_run_whose_safety_filter_fires_on_everything_reports_it(tmp_path, capsys):
    folder = _flag_everything_pipeline(tmp_path)
    (tmp_path / "byo.yaml").write_text(SUITE)
    run = tmp_path / "run"
    assert main(["probe", "run", str(tmp_path / "byo.yaml"), "--generator", f"diffusers:{folder}", "--steps", "1",
                 "--labelers", "world", "--out", str(run), "--no-progress"]) == 0
    manifest = pd.read_parquet(run / "manifest.parquet")
    assert len(manifest) == 4 and manifest.filtered.all() and manifest.image_id.nunique() == 1
    assert set(manifest.filter_reason) == {"nsfw_content_detected"}
    labels = pd.read_parquet(run / "labels.parquet")
    assert (labels.value == "filtered").all() and labels.reason.str.contains("nsfw_content_detected").all()

    table = read_results(run).table
    rate = table[table.metric == "filter_rate"].set_index(["slot", "concept"])
    assert rate.estimate.eq(1.0).all() and rate.loc[("profession", "nurse"), "total"] == 2
    assert rate.loc[("profession", "nurse"), "lo"] < 1.0 <= rate.loc[("profession", "nurse"), "hi"]
    # no share is computed from placeholders: only non-answer shares for the labeler's attributes
    world = table[table.labeler == "world"]
    assert set(world.metric) == {"non_answer_share"} and world.estimate.eq(1.0).all()

    assert main(["report", str(run)]) == 0
    assert main(["baseline", str(run), "--out", str(tmp_path / "baseline.json")]) == 0
    assert main(["check", str(run), "--baseline", str(tmp_path / "baseline.json")]) == 0
    capsys.readouterr()
