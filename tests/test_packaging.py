"""The project installs as a real package: a wheel built from the checkout carries data/ and runs
the main job from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheels = list(out.glob("imagen_audit-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


import pytest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed (without dependencies) into a bare folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp / "dist")
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("IMAGEN_AUDIT_DATA", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    work = tmp / "elsewhere"
    work.mkdir()
    return wheel, site, env, work


def _cli(installed, *args, timeout=600):
    _, _, env, work = installed
    done = subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=work, env=installed[2], capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_wheel_carries_every_data_file(installed):
    wheel, site, env, work = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked, "git ls-files data printed nothing"
    missing = [p for p in tracked if "imagen_audit_data/" + p.removeprefix("data/") not in names]
    assert not missing, f"data files left out of the wheel: {missing}"
    assert "probes/suites/professions.yaml" in names
    where = subprocess.run([sys.executable, "-c", "import audit, audit.resources as r; print(audit.__file__); "
                            "print(r.DATA_DIR)"], cwd=work, env=installed[2], capture_output=True, text=True, check=True)
    module, data_dir = where.stdout.split()
    assert module.startswith(str(site)) and data_dir.startswith(str(site)), where.stdout


def test_installed_package_generates_and_labels_with_its_shipped_weights(installed):
    work = installed[3]
    _cli(installed, "generate", "a photo of a nurse", "--n", "1", "--steps", "2", "--sr-steps", "1",
         "--out", str(work / "gen"))
    images = work / "images"
    images.mkdir()
    (work / "gen" / "0000.png").rename(images / "0000.png")
    _cli(installed, "label", str(images), "--labeler", "world", "--out", str(work / "labels.parquet"))
    import pandas as pd

    labels = pd.read_parquet(work / "labels.parquet")
    assert {"presentation", "skin_group"} <= set(labels.attribute)
    assert "professions" in _cli(installed, "probe", "list")


@pytest.mark.slow
def test_installed_package_runs_the_demo(installed):
    work = installed[3]
    demo = subprocess.run([sys.executable, "-m", "audit.cli", "demo", "--out", str(work / "demo"), "--samples", "1",
                           "--counterfactual-samples", "1", "--resamples", "100"],
                          cwd=work, env=installed[2], capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "nPMI(" in demo.stdout


def test_the_lock_pins_every_installed_package():
    """constraints.txt is what `make` installs from: every distribution in this environment is
    pinned there at the version installed (so what CI tested is what a fresh machine gets)."""
    import importlib.metadata as md
    import re

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not NAME==VERSION (fix: run `make lock`)"
            pins[norm(name)] = version
    skip = {"imagen-audit", "pip", "setuptools", "wheel"}
    off = []
    for dist in md.distributions():
        name = norm(dist.metadata["Name"])
        if name in skip:
            continue
        version = dist.version.split("+")[0]
        if pins.get(name) != version:
            off.append(f"{name} {dist.version} (lock: {pins.get(name)})")
    assert not off, "installed but not pinned as installed (fix: `make lock` after a deliberate change): " + ", ".join(sorted(off))
