"""Parallel execution of the text audit: a real Dask LocalCluster (through its scheduler address) and the
local process pool (`workers=2`) give exactly the in-process result."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from audit.dataset.lexicon import load_lexicons
from audit.dataset.run import audit_text
from audit.dataset.sources import detect
from audit.dataset.synthetic import laion_like_table
from audit.dataset.textstats import TextAuditor


def assert_same(a, b):
    assert a.labels == b.labels
    assert np.array_equal(a.pair, b.pair)
    assert np.array_equal(a.surface_rows, b.surface_rows)
    assert np.array_equal(a.length_hist, b.length_hist)
    assert a.problems == b.problems
    assert a.distinct.count() == b.distinct.count()
    assert a.scalars.keys() == b.scalars.keys()
    for k in a.scalars:
        assert a.scalars[k] == pytest.approx(b.scalars[k], rel=1e-12), k


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask_ds")
    for i in range(3):  # three files, several row groups each, plus a broken file
        pq.write_table(laion_like_table(4000, seed=i, start=4000 * i), d / f"part{i}.parquet", row_group_size=1000)
    (d / "part9.parquet").write_bytes(b"broken")
    return detect(d, rows_per_task=2000)


def test_scheduler_address_run_equals_local_run(dataset):
    import dask
    from dask.distributed import Client, LocalCluster

    aud = TextAuditor(load_lexicons())
    local = audit_text(dataset, aud, progress=False, batch_size=700)
    assert len(dataset.tasks) >= 7 and local.n_rows == 12_000 and local.problems == {"unreadable_file": 1}
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        remote = audit_text(dataset, aud, scheduler=cluster.scheduler_address, progress=False, batch_size=700)
    assert_same(local, remote)


def test_workers_option_counts_on_local_processes_with_the_same_result(dataset):
    aud = TextAuditor(load_lexicons())
    assert_same(audit_text(dataset, aud, progress=False), audit_text(dataset, aud, workers=2, progress=False))
