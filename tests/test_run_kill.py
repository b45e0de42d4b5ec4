"""A run killed with SIGKILL mid-way resumes with the same command and ends as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run_local import assert_same_outputs, assert_store_consistent, read_outputs, write_suite

from audit.run import run_probe
from generator.adapters.tiny import save_tiny_stable_diffusion

TESTS = Path(__file__).resolve().parent

SCRIPT = """\
import sys
sys.path.insert(0, {tests!r})
from test_run_local import run_kwargs
from audit.run import run_probe
kwargs = run_kwargs({tiny!r}, {suite!r})
run_probe({suite!r}, out={out!r}, samples=4, **kwargs)
print("finished")
"""


def _committed(out: Path) -> int:
    parts = out / "parts"
    return len([p for p in parts.iterdir() if not p.name.startswith(".")]) if parts.is_dir() else 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny"))


def test_sigkill_then_resume_equals_uninterrupted(tiny, tmp_path):
    from test_run_local import run_kwargs

    suite = write_suite(tmp_path)
    reference = run_probe(suite, out=tmp_path / "whole", samples=4, **run_kwargs(tiny, suite))
    n_shards = len(list((reference.path / "parts").iterdir()))
    assert n_shards == 9  # 9 prompts x 4 samples, one prompt per 4-image shard

    out = tmp_path / "killed"
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), tiny=str(tiny), suite=str(suite), out=str(out)))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    kills = 0
    for target in (2, 5):  # kill twice, at different depths of the run
        proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _committed(out) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)  # let it get into the middle of the next shard
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    assert kills == 2
    done = _committed(out)
    assert 2 <= done < n_shards and not (out / "results.json").exists()

    finish = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0 and "finished" in finish.stdout, finish.stderr[-2000:]
    outputs = read_outputs(out)
    assert_same_outputs(read_outputs(reference.path), outputs)
    assert_store_consistent(out, outputs["manifest"])
