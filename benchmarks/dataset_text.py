"""Benchmark: text audit of a 10-million-row LAION-style parquet, end to end, on 2 cores.

Prints captions/s of ``imagen-audit``'s text audit (reading, hashing,
de-duplication, Aho-Corasick tagging with the sense rules, counting, merging;
worker-process start-up included), the peak resident memory of this process
and its children, the same audit with plain whole-word tagging (the tagger
before the sense rules, ``--plain-repeats``) as the baseline that prices the
rules, and two baselines doing the same tagging in the same run: pandas
``str.contains`` with one case-insensitive word-boundary regex alternation per
lexicon category, and DuckDB ``regexp_matches`` with the same patterns (2
threads). The baselines run on a subset and are extrapolated (stated below);
ratios are ours / baseline, medians of repeats.

Usage::

    .venv/bin/python benchmarks/dataset_text.py                # 10M rows, 2 workers
    .venv/bin/python benchmarks/dataset_text.py --rows 2000000 --repeats 1
    .venv/bin/python benchmarks/dataset_text.py --rows 4000000 --repeats 1 --sense-model   # opt-in model

The parquet is cached in ``$TMPDIR/imagen-audit-bench/``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from audit.dataset.textstats import TextAuditor


class PlainAuditor(TextAuditor):
    """The text auditor with plain whole-word tagging (no sense rules): the baseline."""

    def __init__(self, lexicon, **kw) -> None:
        from audit.dataset.tagger import Tagger

        super().__init__(lexicon, **kw)
        self._tagger = Tagger(lexicon.forms)

    def __reduce__(self):
        return (PlainAuditor, (self.lexicon,))


class PeakRSS:
    """Sample the RSS of this process plus all its children every 50 ms; keep the peak."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        import psutil

        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def category_patterns(lexicon) -> dict[str, str]:
    """One word-boundary alternation per lexicon category (the baselines' tagging)."""
    forms: dict[str, list[str]] = {}
    for surface, cids in zip(lexicon.surfaces, lexicon.surface_concepts):
        for c in cids:
            forms.setdefault(lexicon.category_of(lexicon.concepts[c]), []).append(surface)
    return {cat: r"\b(?:" + "|".join(re.escape(f) for f in sorted(set(fs), key=len, reverse=True)) + r")\b"
            for cat, fs in forms.items()}


def pandas_baseline(path: Path, patterns: dict[str, str], rows: int) -> float:
    """Seconds to tag ``rows`` captions with pandas ``str.contains`` (reading included)."""
    import pandas as pd

    t0 = time.perf_counter()
    pf = pq.ParquetFile(path)
    df = next(pf.iter_batches(batch_size=rows, columns=["TEXT"])).to_pandas()
    text = df["TEXT"].fillna("")
    hits = {cat: text.str.contains(p, case=False, regex=True) for cat, p in patterns.items()}
    pd.DataFrame(hits).sum()
    return time.perf_counter() - t0


def duckdb_baseline(path: Path, patterns: dict[str, str], rows: int, threads: int) -> float:
    """Seconds to tag ``rows`` captions with DuckDB ``regexp_matches`` (reading included)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    cols = ", ".join(f"sum(regexp_matches(lower(TEXT), '{p.replace(chr(39), chr(39) * 2)}')::INT) AS c{i}"
                     for i, p in enumerate(patterns.values()))
    t0 = time.perf_counter()
    con.execute(f"SELECT {cols} FROM (SELECT TEXT FROM read_parquet('{path}') LIMIT {rows})").fetchall()
    return time.perf_counter() - t0


def cpu_compare(path: Path, lex, *, rows: int, repeats: int) -> None:
    """Captions per CPU-second of ``count_batch`` in this process, interleaved: load-independent-ish.

    The previous tagger (v1 lexicons, plain whole-word matching) is the baseline;
    the current lexicons with plain matching separate the lexicon's cost from the rules'.
    """
    import pyarrow as pa

    from audit.dataset.lexicon import load_lexicons
    from audit.dataset.tagger import Tagger

    v1 = load_lexicons(sorted((Path(__file__).resolve().parent.parent / "tests" / "data" / "lexicons_v1")
                              .glob("*.yaml")), include_defaults=False)
    auditors = {"v1 lexicons, plain (previous tagger)": PlainAuditor(v1),
                "current lexicons (v3), plain": PlainAuditor(lex),
                "current lexicons + sense rules (default)": TextAuditor(lex)}
    pf = pq.ParquetFile(path)
    batches = []
    for b in pf.iter_batches(batch_size=131_072, columns=["TEXT"]):
        batches.append(pa.RecordBatch.from_arrays([b.column(0)], names=["text"]))
        if sum(x.num_rows for x in batches) >= rows:
            break
    n = sum(x.num_rows for x in batches)
    for aud in auditors.values():  # warm-up (DuckDB connection, automata)
        aud.count_batch(batches[0])
    cpu = {k: [] for k in auditors}
    for _ in range(repeats):
        for name, aud in auditors.items():
            t0 = time.process_time()
            for b in batches:
                aud.count_batch(b)
            cpu[name].append(time.process_time() - t0)
    base = statistics.median(cpu["v1 lexicons, plain (previous tagger)"])
    print(f"in-process count_batch, {n:,} rows in batches of 131,072, CPU seconds (median of {repeats}, interleaved):")
    for name, ts in cpu.items():
        m = statistics.median(ts)
        print(f"  {name:38s} {m:6.2f} s = {n / m:10,.0f} captions per CPU-second (x2 cores: {2 * n / m:11,.0f}/s); "
              f"ratio to previous {base / m:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain-repeats", type=int, default=3, help="runs of the plain-tagging baseline (0: skip)")
    ap.add_argument("--cpu-rows", type=int, default=2_000_000,
                    help="rows for the in-process CPU comparison of taggers (0: skip)")
    ap.add_argument("--pandas-rows", type=int, default=200_000)
    ap.add_argument("--duckdb-rows", type=int, default=1_000_000)
    ap.add_argument("--sense-model", action="store_true",
                    help="audit with the opt-in learned sense model (data/lexicons/sense_model.json) after the rules")
    args = ap.parse_args()

    from audit.dataset.lexicon import load_lexicons
    from audit.dataset.run import audit_text
    from audit.dataset.sources import detect
    from audit.dataset.synthetic import VERSION, write_laion_like_parquet

    cache = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "imagen-audit-bench"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"laion_like_v{VERSION}_{args.rows}_seed0.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        write_laion_like_parquet(path, args.rows, seed=0, row_group_size=500_000)
        print(f"generated {path} in {time.perf_counter() - t0:.1f} s")
    print(f"load average at start (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} CPUs")
    print(f"input: {path} ({path.stat().st_size / 2**20:.0f} MiB, {args.rows:,} rows, "
          f"{pq.ParquetFile(path).metadata.num_row_groups} row groups)")
    lex = load_lexicons()
    if args.sense_model:
        from audit.dataset.sense_model import SenseModel

        auditor = TextAuditor(lex, sense_model=SenseModel.load())
        print("audit with the opt-in sense model after the rules (--sense-model)")
    else:
        auditor = TextAuditor(lex)

    def run(aud, repeats: int):
        walls, cpu_s, peak_s, last = [], [], [], None
        for _ in range(repeats):
            with PeakRSS() as mem:
                c0 = os.times()
                t0 = time.perf_counter()
                last = audit_text(detect(path), aud, workers=args.workers, progress=False)
                walls.append(time.perf_counter() - t0)
                c1 = os.times()
            # CPU of this process and its exited, waited-for children (the Dask worker processes)
            cpu_s.append(sum(c1[i] - c0[i] for i in range(4)))
            peak_s.append(mem.peak)
            assert last.n_rows == args.rows
        return walls, cpu_s, peak_s, last

    plain_walls, plain_cpus = [], []
    for i in range(max(args.repeats, args.plain_repeats)):  # interleaved, so load changes hit both alike
        if i < args.repeats:
            w, c, p, counts = run(auditor, 1)
            ours, cpus, peaks = (ours + w, cpus + c, peaks + p) if i else (w, c, p)
        if i < args.plain_repeats:
            w, c, _, plain_counts = run(PlainAuditor(lex), 1)
            plain_walls += w
            plain_cpus += c
    t_ours = statistics.median(ours)
    rate = args.rows / t_ours
    print(f"imagen-audit text audit, {args.workers} worker(s): median {t_ours:.2f} s over {args.repeats} "
          f"runs ({', '.join(f'{t:.2f}' for t in ours)}) = {rate:,.0f} captions/s end to end "
          f"(worker start-up included); peak RSS (process + children) "
          f"{max(peaks) / 2**30:.2f} GiB")
    cpu = statistics.median(cpus)
    print(f"  CPU time (process + workers): median {cpu:.2f} s = {args.rows / cpu:,.0f} captions per CPU-second; "
          f"on {args.workers} otherwise idle cores that is {args.workers * args.rows / cpu:,.0f} captions/s "
          f"(the machine is shared: wall-clock figures depend on its load)")
    print(f"  tag hits per caption: {counts.surface_rows.sum() / args.rows:.3f} (real LAION fixture: ~0.18)")
    if plain_walls:
        tp, cp = statistics.median(plain_walls), statistics.median(plain_cpus)
        print(f"baseline, same audit with plain whole-word tagging (no sense rules): median {tp:.2f} s over "
              f"{len(plain_walls)} runs ({', '.join(f'{t:.2f}' for t in plain_walls)}) = {args.rows / tp:,.0f} "
              f"captions/s; CPU {cp:.2f} s = {args.rows / cp:,.0f} captions per CPU-second")
        print(f"  ratio with rules / plain: {rate / (args.rows / tp):.2f}x wall, {cp / cpu:.2f}x CPU throughput; "
              f"hits kept by the rules: {counts.surface_rows.sum():,} of {plain_counts.surface_rows.sum():,}")

    if args.cpu_rows:
        cpu_compare(path, lex, rows=args.cpu_rows, repeats=args.repeats)

    patterns = category_patterns(lex)
    pd_times = [pandas_baseline(path, patterns, args.pandas_rows) for _ in range(args.repeats)]
    pd_rate = args.pandas_rows / statistics.median(pd_times)
    dk_times = [duckdb_baseline(path, patterns, args.duckdb_rows, args.workers) for _ in range(args.repeats)]
    dk_rate = args.duckdb_rows / statistics.median(dk_times)
    print(f"pandas str.contains ({len(patterns)} category regexes, first {args.pandas_rows:,} rows, "
          f"extrapolated): {pd_rate:,.0f} captions/s -> {args.rows / pd_rate:,.0f} s for {args.rows:,}")
    print(f"DuckDB regexp_matches ({args.workers} threads, first {args.duckdb_rows:,} rows, extrapolated): "
          f"{dk_rate:,.0f} captions/s -> {args.rows / dk_rate:,.0f} s for {args.rows:,}")
    print(f"ratio imagen-audit / pandas: {rate / pd_rate:.1f}x; imagen-audit / DuckDB: {rate / dk_rate:.1f}x")
    idle = args.workers * args.rows / cpu
    print(f"goal >= 1,000,000 captions/s on 2 cores: wall-clock {rate:,.0f}/s ({'met' if rate >= 1e6 else 'NOT met'} "
          f"on this machine as loaded); from CPU time, {idle:,.0f}/s on {args.workers} idle cores "
          f"({'met' if idle >= 1e6 else 'NOT met'}, margin {idle / 1e6:.2f}x); "
          f"peak memory < 1.5 GB: {'met' if max(peaks) < 1.5e9 else 'NOT met'}; "
          f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
