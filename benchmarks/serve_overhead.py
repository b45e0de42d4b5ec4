"""Benchmark: a probe run through ``imagen-audit serve`` + the ``openai:`` adapter vs the built-in adapter in-process.

The same run (suite, samples, labelers, batch size, torch threads) twice per repeat: once
with ``--generator builtin`` in this process (the baseline), once against a real
``imagen-audit serve`` process on 127.0.0.1 through ``openai:http://127.0.0.1:PORT#imagen-world&seed=on``
with as many requests in flight as the run's batch size, so the server gathers them into
model calls of the same size. Prints both medians, the ratio and the overhead. Goal
(issue 16): overhead <= 15% for ``professions`` at 16 samples per prompt.

Usage::

    python benchmarks/serve_overhead.py                         # professions, 2 samples per prompt (~2 x 150 images)
    python benchmarks/serve_overhead.py --samples 16 --repeats 3 # the issue's setting (about 1,150 images per run)
    python benchmarks/serve_overhead.py --device cuda --threads 4
    python benchmarks/serve_overhead.py --generate-only --threads 1  # generation alone, interleaved batches
    python benchmarks/serve_overhead.py --spin-check 1000  # in-process generation: libgomp's default spin vs GOMP_SPINCOUNT=1000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(args) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "audit.cli", "serve", "--port", str(port), "--max-batch", str(args.batch_size),
           "--max-n", "1", "--max-queue", str(4 * args.batch_size), "--batch-wait-ms", str(args.batch_wait_ms),
           "--device", args.device]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    log = tempfile.TemporaryFile()  # not a pipe: a full pipe would block the server
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                raise SystemExit(f"serve did not start: {log.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.5)


def _labelers(names: str) -> list:
    out = []
    for name in [n for n in names.split(",") if n]:
        if name != "world":
            raise SystemExit(f"unknown labeler {name!r} (use world, or '' for none)")
        from audit.labelers.world import WorldLabeler

        out.append(WorldLabeler.from_pretrained())
    return out


def _timed(args, generator, root: Path, tag: str, options=None) -> tuple[float, Path]:
    from audit.run import run_probe

    out = root / f"{tag}-{time.monotonic_ns()}"
    start = time.perf_counter()
    run_probe(args.suite, generator=generator, generator_options=options, out=out, samples=args.samples,
              labelers=_labelers(args.labelers), batch_size=args.batch_size, threads=args.threads,
              report=False, progress=False)
    return time.perf_counter() - start, out


def _generate_only(args, url: str) -> int:
    """Generation alone: the two adapters on the same batches of 8 prompts, interleaved."""
    from generator.adapters.base import Settings
    from audit.registry import make_generator

    local = make_generator("builtin", device=args.device)
    remote = make_generator(f"openai:{url}#imagen-world&seed=on&concurrency={args.batch_size}&timeout=600")
    prompts = [f"a photo of a {p}" for p in ("nurse", "pilot", "chef", "janitor", "cashier", "doctor", "lawyer",
                                             "farmer", "teacher", "plumber", "baker", "dentist")][:args.batch_size]
    for adapter in (local, remote):  # warm up
        adapter.generate(prompts, seeds=list(range(len(prompts))), settings=Settings())
    t_local = t_remote = 0.0
    for r in range(args.batches):
        seeds = [1000 + r * len(prompts) + i for i in range(len(prompts))]
        start = time.perf_counter()
        local.generate(prompts, seeds=seeds, settings=Settings())
        t_local += time.perf_counter() - start
        start = time.perf_counter()
        remote.generate(prompts, seeds=seeds, settings=Settings())
        t_remote += time.perf_counter() - start
    n = args.batches * len(prompts)
    print(f"generation only: {args.batches} batches of {len(prompts)}, threads {args.threads or 'default'}")
    print(f"baseline  builtin in-process:       {t_local:8.2f} s  ({n / t_local:.2f} images/s)")
    print(f"figure    serve + openai: adapter:  {t_remote:8.2f} s  ({n / t_remote:.2f} images/s)")
    print(f"ratio served / in-process: {t_remote / t_local:.3f}  (overhead {100 * (t_remote / t_local - 1):+.1f}%)")
    return 0


_SPIN_CHILD = """
import sys, time
from generator.adapters.base import Settings
from audit.registry import make_generator
a = make_generator("builtin", device=sys.argv[1])
prompts = ["a photo of a " + p for p in ("nurse", "pilot", "chef", "janitor", "cashier", "doctor", "lawyer", "farmer")]
a.generate(prompts[:2], seeds=[0, 1], settings=Settings())
start = time.perf_counter()
for r in range(int(sys.argv[2])):
    a.generate(prompts, seeds=list(range(r * 8, r * 8 + 8)), settings=Settings())
print(time.perf_counter() - start)
"""


def _spin_check(args) -> int:
    """Generation on the main thread (as in a probe run), default libgomp spin vs ``GOMP_SPINCOUNT``, interleaved."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("GOMP_SPINCOUNT", None)
    env.pop("OMP_WAIT_POLICY", None)
    times: dict[str, list[float]] = {"default": [], "spin": []}
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for tag, extra in (("default", {}), ("spin", {"GOMP_SPINCOUNT": str(args.spin_check)})):
            out = subprocess.run([sys.executable, "-c", _SPIN_CHILD, args.device, str(args.batches)],
                                 env={**env, **extra}, capture_output=True, text=True, check=True)
            times[tag].append(float(out.stdout.strip().splitlines()[-1]))
    load.append(os.getloadavg()[0])
    base, fig = statistics.median(times["default"]), statistics.median(times["spin"])
    print(f"generation on the main thread, {args.batches} batches of 8, torch default threads, {os.cpu_count()} cores, "
          f"repeats {args.repeats}, load average (1 min) {load[0]:.2f} -> {load[1]:.2f}")
    print(f"baseline  libgomp default spin:      {base:8.2f} s")
    print(f"figure    GOMP_SPINCOUNT={args.spin_check}:      {fig:8.2f} s")
    print(f"ratio figure / baseline: {fig / base:.3f}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default="professions")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--batch-wait-ms", type=float, default=50.0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--labelers", default="world")
    p.add_argument("--generate-only", action="store_true", help="time generation alone (no run, no labels)")
    p.add_argument("--batches", type=int, default=4, help="batches for --generate-only / --spin-check (default 4)")
    p.add_argument("--spin-check", type=int, default=None, metavar="N",
                   help="only compare in-process generation under libgomp's default spin and GOMP_SPINCOUNT=N")
    args = p.parse_args(argv)
    if args.spin_check is not None:
        return _spin_check(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    proc, url = _start_server(args)
    if args.generate_only:
        try:
            return _generate_only(args, url)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    spec = f"openai:{url}#imagen-world&seed=on&concurrency={args.batch_size}&timeout=600"
    local_times, served_times = [], []
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            warm = argparse.Namespace(**{**vars(args), "samples": 1})  # load weights, warm caches: both sides
            _timed(warm, "builtin", root, "warmup", {"device": args.device})
            _timed(warm, spec, root, "warmup-served")
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                health0 = json.loads(r.read())
            for _ in range(args.repeats):
                t_local, local_dir = _timed(args, "builtin", root, "local", {"device": args.device})
                t_served, served_dir = _timed(args, spec, root, "served")
                local_times.append(t_local)
                served_times.append(t_served)
            import pandas as pd

            a = pd.read_parquet(local_dir / "manifest.parquet")
            b = pd.read_parquet(served_dir / "manifest.parquet")
            same = int((a.image_id.values == b.image_id.values).sum())
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                health = json.loads(r.read())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    n = len(a)
    local, served = statistics.median(local_times), statistics.median(served_times)
    import torch

    omp = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ}
    print(f"suite {args.suite}, {args.samples} samples per prompt: {n} images per run, batch size {args.batch_size}, "
          f"device {args.device}, repeats {args.repeats}, {os.cpu_count()} cores")
    print(f"threads: --threads {args.threads or 'default'}; torch threads client {torch.get_num_threads()}, "
          f"server {health.get('threads', '?')}; OpenMP env {omp or 'unset'}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"baseline  builtin in-process:       {local:8.1f} s  ({n / local:.2f} images/s)")
    print(f"figure    serve + openai: adapter:  {served:8.1f} s  ({n / served:.2f} images/s)")
    print(f"ratio served / in-process: {served / local:.3f}  (overhead {100 * (served / local - 1):+.1f}%, goal <= +15%)")
    calls = health["model_calls"] - health0["model_calls"]
    images = health["images"] - health0["images"]
    model_s = (health.get("render_seconds", 0.0) - health0.get("render_seconds", 0.0)) / args.repeats
    print(f"server model calls: {calls} for {images} images (mean batch {images / max(calls, 1):.2f}); "
          f"model time per served run {model_s:.1f} s; byte-identical images: {same} of {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
