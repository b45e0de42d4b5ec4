"""Benchmark: the dataset audit on hostile inputs — one-row row groups, a huge caption file, a cut tar.

Prints, for each input, the time and the peak resident memory of a fresh
``imagen-audit dataset audit`` process (GNU ``time``; interpreter and import
start-up included), the same command's time on a 10-row file (the CLI's fixed start-up), and seconds per MB of input (the issue's gate: at most 60 s
per MB and 1.5 GB of memory on any input), with the load average.

Baseline for the row-group case, measured in the same run: the reader before the fix
counted every row group as its own batch (``count_batch`` once per row group). The
baseline runs that loop on the first ``--baseline-groups`` row groups of the same file,
and its per-row-group time is extrapolated to all of them (stated in the output); the
ratio is baseline / ours.

Usage::

    .venv/bin/python benchmarks/dataset_hostile.py
    .venv/bin/python benchmarks/dataset_hostile.py --groups 20000 --caption-mb 700
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _audit(path: Path, out: Path) -> tuple[float, float, int]:
    """Run the CLI in a fresh process; return (seconds, peak RSS in MB, exit code).

    The peak is read by GNU ``time`` around the command: Linux keeps a forked child's
    ``ru_maxrss`` across ``exec``, so ``os.wait4`` on a child of this (large) process would
    report this process's memory instead of the audit's.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "audit.cli", "dataset", "audit", str(path), "--out", str(out), "--no-progress"]
    if not Path("/usr/bin/time").exists():  # no GNU time: wait4's figure, an upper bound (see above)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        return time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t0 = time.perf_counter()
        code = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env).returncode
        seconds = time.perf_counter() - t0
        peak_kb = int(Path(rss.name).read_text().split()[-1])
    return seconds, peak_kb / 1024, code


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def _baseline_per_group(path: Path, groups: int) -> float:
    """Seconds per row group when each row group is counted as its own batch (the reader before the fix)."""
    import pyarrow.parquet as pq

    from audit.dataset.lexicon import load_lexicons
    from audit.dataset.readers import _canonical
    from audit.dataset.textstats import TextAuditor
    from audit.shards import normalize_columns

    aud = TextAuditor(load_lexicons())
    pf = pq.ParquetFile(path, read_dictionary=["NSFW"])
    mapping, _ = normalize_columns(pf.schema_arrow.names)
    counts = aud.empty()
    t0 = time.perf_counter()
    for g in range(groups):
        for batch in pf.iter_batches(row_groups=[g], columns=["TEXT", "NSFW"], use_threads=False):
            counts += aud.count_batch(_canonical(batch, mapping))
    return (time.perf_counter() - t0) / groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=20_000, help="one-row row groups in the parquet")
    ap.add_argument("--baseline-groups", type=int, default=1_000, help="row groups the baseline counts")
    ap.add_argument("--caption-mb", type=int, default=200, help="size of the huge caption file, MiB")
    args = ap.parse_args()
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = Path(tempfile.mkdtemp(prefix="imagen-audit-hostile-"))
    rg = tmp / "row_groups.parquet"
    pq.write_table(pa.table({"TEXT": [f"a nurse {i}" for i in range(args.groups)], "NSFW": ["UNLIKELY"] * args.groups}),
                   rg, row_group_size=1)
    caps = tmp / "captions"
    caps.mkdir()
    chunk = np.frombuffer(b"\x01\x02\x03\x7f", np.uint8).repeat(1 << 18).tobytes()
    with open(caps / "a.txt", "wb") as fh:
        for _ in range(args.caption_mb):
            fh.write(chunk)
    (caps / "b.txt").write_text("a nurse")
    same = tmp / "same.parquet"
    n = 10_000_000
    pq.write_table(pa.table({"TEXT": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                                                   pa.array(["a photo of a nurse"]))}),
                   same, row_group_size=1_000_000)
    plain = tmp / "same_plain.parquet"  # the same, written as a plain string column (pages dictionary-encoded)
    pq.write_table(pa.table({"TEXT": pa.array(["a photo of a nurse"] * n, pa.string())}), plain,
                   row_group_size=1_000_000)
    tiny = tmp / "ten_rows.parquet"
    pq.write_table(pa.table({"TEXT": ["a photo of a nurse"] * 10}), tiny)
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'input':<44} {'MB':>9} {'seconds':>8} {'s/MB':>8} {'peak MB':>8}")
    results = {}
    for name, path in (("10 captions (start-up: the fixed cost)", tiny), (f"{args.groups:,} one-row row groups", rg), (f"{args.caption_mb} MiB caption file", caps),
                       ("10,000,000 identical captions", same),
                       ("10,000,000 identical captions, plain column", plain)):
        secs, peak, code = _audit(path, tmp / f"out-{path.stem}")
        mb = _size_mb(path)
        results[name] = secs
        print(f"{name:<44} {mb:>9.3f} {secs:>8.2f} {secs / mb:>8.1f} {peak:>8.0f}" + ("" if code == 0 else f"  exit {code}"))
    per_group = _baseline_per_group(rg, min(args.baseline_groups, args.groups))
    base = per_group * args.groups
    ours = results[f"{args.groups:,} one-row row groups"]
    print(f"baseline (one batch per row group): {per_group * 1e3:.2f} ms per row group on "
          f"{min(args.baseline_groups, args.groups):,} groups, extrapolated to {args.groups:,}: {base:.1f} s")
    print(f"ours (whole CLI process, start-up included): {ours:.1f} s; ratio baseline / ours: {base / ours:.1f}x")


if __name__ == "__main__":
    main()
