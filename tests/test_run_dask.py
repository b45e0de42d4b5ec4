"""A run on a real Dask LocalCluster equals the same run in one process."""

from __future__ import annotations

import sys

import cloudpickle
import pytest
from test_run_local import assert_same_outputs, assert_store_consistent, read_outputs, run_kwargs, write_suite

from audit.errors import UserError
from audit.run import run_probe
from generator.adapters.tiny import save_tiny_stable_diffusion


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny"))


def test_dask_local_cluster_equals_local_run(tiny, tmp_path):
    # the stub labeler lives in a test module that worker processes cannot import: ship it by value
    cloudpickle.register_pickle_by_value(sys.modules["test_run_local"])
    suite = write_suite(tmp_path)
    kwargs = run_kwargs(tiny, suite)
    local = run_probe(suite, out=tmp_path / "local", samples=3, sweep=["guidance=1,5"], **kwargs)
    dask = run_probe(suite, out=tmp_path / "dask", samples=3, sweep=["guidance=1,5"], workers=2, **kwargs)
    outputs = read_outputs(dask.path)
    assert_same_outputs(read_outputs(local.path), outputs)
    assert_store_consistent(dask.path, outputs["manifest"])
    assert len(outputs["manifest"]) == 2 * 9 * 3
    # the workers record the same values actually used as the local run
    assert dask.spec["effective"] == local.spec["effective"]
    eff = local.spec["effective"]["guidance=5"]
    assert (eff["guidance"], eff["steps"], eff["width"], eff["height"]) == (5.0, 2, 16, 16)


def test_workers_and_scheduler_are_exclusive(tiny, tmp_path):
    suite = write_suite(tmp_path)
    with pytest.raises(UserError, match="exactly one"):
        run_probe(suite, out=tmp_path / "x", samples=1, workers=1, scheduler="tcp://127.0.0.1:1",
                  **run_kwargs(tiny, suite))


def test_existing_scheduler_by_address(tiny, tmp_path):
    from distributed import LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules["test_run_local"])
    suite = write_suite(tmp_path)
    kwargs = run_kwargs(tiny, suite)
    local = run_probe(suite, out=tmp_path / "local", samples=1, **kwargs)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = run_probe(suite, out=tmp_path / "remote", samples=1, scheduler=cluster.scheduler_address, **kwargs)
    assert_same_outputs(read_outputs(local.path), read_outputs(remote.path))
