"""The dataset audit writes the same tidy results table as a probe run, with every number of its
caption and image sides, and never calls an unobserved pair an association."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from audit.dataset.pipeline import run_dataset_audit
from audit.results import columns as C

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "laion_captions_1000.parquet"


@pytest.mark.skipif(not FIXTURE.exists(), reason=f"needs the shared fixture {FIXTURE}")
def test_dataset_audit_writes_the_tidy_results_table(tmp_path):
    run_dataset_audit(FIXTURE, out_dir=tmp_path / "out", progress=False)
    table = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert list(table.columns) == list(C.COLUMNS)
    co = pd.read_parquet(tmp_path / "out" / "cooccurrence.parquet")
    npmi = table[table.metric == C.NPMI]
    assert len(npmi) == len(co)
    unseen = npmi[npmi.n == 0]
    assert len(unseen) and unseen.estimate.isna().all() and (unseen.note == C.NOT_OBSERVED).all()
    rates = table[table.metric == "unsafe_rate"].set_index("concept")
    pq = pd.read_parquet(tmp_path / "out" / "per_query_rates.parquet").set_index("query")
    assert rates.loc[C.ALL, "estimate"] == pytest.approx(pq.loc["(all captions)", "unsafe_rate"])
    assert rates.loc[C.ALL, "total"] == 1000 and (rates.lo <= rates.estimate + 1e-12).all()
