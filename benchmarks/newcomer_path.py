"""The project files a newcomer opens to follow one prompt from ``probes/suites/professions.yaml`` to ``report.html``.

Runs one prompt of the professions suite (its first template and first profession, with
that profession's reference; 2 samples) through ``imagen-audit probe run`` with the built-in
generator, the shipped weights and the suite's default labelers (the run writes its
``report/report.html``), then through ``imagen-audit report RUN``, both in this process,
while a trace function records which project source files execute code.

Counting rule: a project file (a ``.py`` file under ``audit/``, ``generator/`` or
``probes/``; never tests or third-party code) counts when code inside one of its functions or
methods runs. Module-level statements (imports, ``def``/``class`` lines, constants, and the
comprehensions of module-level constants) do not count, so a module that is only imported, or
only supplies constants, is listed apart as "imported only". Methods that ``dataclasses``
generates (``__init__``, ``__eq__``) belong to no file and do not count.

Usage::

    python benchmarks/newcomer_path.py [--samples 2] [--out DIR] [--json FILE]

Prints the files grouped by stage (from their folder) and their number.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "generator", "probes")
CO_OPTIMIZED = 0x0001  # set on function code; unset on module and class bodies

#: Stage of a file, from the first matching folder prefix (the order a prompt travels).
STAGES = (
    ("command line", ("audit/cli.py", "audit/commands/")),
    ("suite -> prompts", ("probes/",)),
    ("run: plan, shards, store", ("audit/run/",)),
    ("generate", ("generator/",)),
    ("label", ("audit/labelers/",)),
    ("results table", ("audit/results/", "audit/metrics/")),
    ("report", ("audit/report/",)),
    ("shared", ("",)),
)


def _is_image(value) -> bool:
    module = type(value).__module__
    return module.startswith("PIL.") and hasattr(value, "getpixel")


class DataTracer:
    """Records which project files have a function that receives or returns the prompt's data.

    The prompt's data: its text, prompt id or slot value (``targets``), any PIL image (the run
    draws only this prompt), the ids of its images (learnt from the first table that holds both a
    target and an ``image_id`` column), and any str, list, tuple, set, dict, DataFrame, Series,
    dataclass or project object holding one of those (looked into 3 levels deep).

    Examples
    --------
    >>> t = DataTracer(targets={"a nurse"})
    >>> t._carries(["x", {"k": "a nurse"}], 3), t._carries(("x", 1), 3)
    (True, False)
    """

    def __init__(self, *, targets: set[str], root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> None:
        self.root = Path(root).resolve()
        self.prefixes = tuple(str(self.root / p) + "/" for p in packages)
        self.targets = set(targets)
        self.executed: dict[str, str] = {}
        self._counted: set = set()
        self._other: set = set()
        self._previous: tuple = (None, None)

    def _table(self, frame) -> bool:
        import pandas as pd

        cols = [c for c in list(frame.columns)[:60] if frame[c].dtype == object or isinstance(frame[c].dtype,
                                                                                               pd.StringDtype)]
        hit = False
        for c in cols:
            try:
                if frame[c].isin(self.targets).any():
                    hit = True
                    break
            except TypeError:
                continue
        if hit and "image_id" in frame.columns:
            self.targets.update(str(v) for v in frame["image_id"].dropna().unique()[:1000])
        return hit

    def _carries(self, value, depth: int) -> bool:
        import dataclasses

        if isinstance(value, str):
            return value in self.targets
        if value is None or isinstance(value, (int, float, bool, bytes, Path)):
            return False
        if _is_image(value):
            return True
        module = type(value).__module__
        if module.split(".")[0] == "pandas":
            import pandas as pd

            if isinstance(value, pd.DataFrame):
                return self._table(value)
            if isinstance(value, pd.Series):
                return self._table(value.to_frame())
            return False
        if depth <= 0:
            return False
        if isinstance(value, (list, tuple, set, frozenset)):
            return any(self._carries(v, depth - 1) for v in list(value)[:100])
        if isinstance(value, dict):
            items = list(value.items())[:100]
            return any(self._carries(k, depth - 1) or self._carries(v, depth - 1) for k, v in items)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return any(self._carries(getattr(value, f.name, None), depth - 1) for f in dataclasses.fields(value))
        if module.split(".")[0] in PACKAGES and hasattr(value, "__dict__") and not isinstance(value, type):
            return any(self._carries(v, depth - 1) for v in list(vars(value).values())[:50])
        return False

    def _profile(self, frame, event, arg):  # noqa: ANN001 - sys.setprofile hook
        if event not in ("call", "return"):
            return
        code = frame.f_code
        if code in self._counted or code in self._other:
            return
        filename = code.co_filename
        if not (filename.startswith(self.prefixes) and filename.endswith(".py")) \
                or not code.co_flags & CO_OPTIMIZED:
            self._other.add(code)
            return
        try:
            if event == "call":
                found = any(self._carries(v, 3) for k, v in frame.f_locals.items() if k != "self")
            else:
                found = self._carries(arg, 3)
        except Exception:  # noqa: BLE001 - a value that cannot be looked into carries nothing
            found = False
        if found:
            self._counted.add(code)
            self.executed.setdefault(Path(filename).relative_to(self.root).as_posix(), code.co_qualname)

    def __enter__(self) -> DataTracer:
        self._previous = (sys.getprofile(), threading.getprofile() if hasattr(threading, "getprofile") else None)
        threading.setprofile(self._profile)
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._previous[0])
        threading.setprofile(self._previous[1])


class FileTracer:
    """Records which project files execute function code (see the module docstring for the rule).

    Parameters
    ----------
    root
        Repository root.
    packages
        Top-level folders under ``root`` whose files count.

    Examples
    --------
    >>> t = FileTracer(root=ROOT)
    >>> with t:
    ...     from audit.errors import UserError
    ...     _ = str(UserError("x"))
    >>> isinstance(t.executed, dict)
    True
    """

    def __init__(self, *, root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> None:
        self.root = Path(root).resolve()
        self.prefixes = tuple(str(self.root / p) + "/" for p in packages)
        self.executed: dict[str, str] = {}  # relative path -> first function seen
        self._counted: set = set()
        self._other: set = set()
        self._previous: tuple = (None, None)

    def _relative(self, filename: str) -> str | None:
        if filename.startswith(self.prefixes) and filename.endswith(".py"):
            return Path(filename).relative_to(self.root).as_posix()
        return None

    def _trace(self, frame, event, arg):  # noqa: ANN001 - sys.settrace hook
        code = frame.f_code
        if code in self._counted or code in self._other:
            return None
        rel = self._relative(code.co_filename)
        if rel is None or not code.co_flags & CO_OPTIMIZED:
            self._other.add(code)  # third-party, a module body or a class body
            return None
        if code.co_name.startswith("<"):  # comprehension or lambda: module level when its caller is
            caller = frame.f_back
            if caller is not None and caller.f_code.co_filename == code.co_filename \
                    and not caller.f_code.co_flags & CO_OPTIMIZED:
                return None  # re-checked on the next call: the same lambda may run from a function later
        self._counted.add(code)
        self.executed.setdefault(rel, code.co_qualname)
        return None

    def __enter__(self) -> FileTracer:
        self._previous = (sys.gettrace(), threading.gettrace())
        threading.settrace(self._trace)
        sys.settrace(self._trace)
        return self

    def __exit__(self, *exc) -> None:
        sys.settrace(self._previous[0])
        threading.settrace(self._previous[1])


def imported_files(*, root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> set[str]:
    """Project files imported in this process (``sys.modules``)."""
    root = Path(root).resolve()
    prefixes = tuple(str(root / p) + "/" for p in packages)
    out = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and str(Path(path).resolve()).startswith(prefixes):
            out.add(Path(path).resolve().relative_to(root).as_posix())
    return out


def stage_of(rel: str) -> str:
    """The stage a file belongs to (:data:`STAGES`).

    Examples
    --------
    >>> stage_of("probes/suite.py"), stage_of("audit/errors.py")
    ('suite -> prompts', 'shared')
    """
    return next(name for name, prefixes in STAGES if rel.startswith(prefixes))


def one_prompt_suite(path: Path, *, samples: int) -> Path:
    """Write the professions suite cut to its first template and first profession (with its reference)."""
    import yaml

    suite = yaml.safe_load((ROOT / "probes" / "suites" / "professions.yaml").read_text())
    profession = suite["slots"]["profession"][0]
    suite["templates"] = suite["templates"][:1]
    suite["slots"]["profession"] = [profession]
    suite["samples"] = samples
    refs = []
    for ref in suite.get("references", []):
        if profession in ref["percent"]:
            refs.append({**ref, "percent": {profession: ref["percent"][profession]}})
    suite["references"] = refs
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def prompt_targets(suite: Path) -> set[str]:
    """The one prompt's text, prompt id and slot values (what :class:`DataTracer` follows)."""
    from probes.suite import resolve_suite
    from probes.expand import expand_prompts

    row = expand_prompts(resolve_suite(suite)).iloc[0]
    return {row.prompt, row.prompt_id} | {str(row[c]) for c in resolve_suite(suite).columns if row[c] is not None}


def trace_path(*, out: Path, samples: int = 2) -> dict:
    """Run one prompt through ``probe run`` and ``report`` under both tracers.

    Returns
    -------
    dict
        ``files`` (plain rule, sorted by stage), ``data_files`` (data rule), ``stages``,
        ``commands`` (files per command, plain rule), ``first_function``, ``imported_only``,
        ``targets``, ``report`` (path of report.html).
    """
    from audit.cli import main as cli

    out.mkdir(parents=True, exist_ok=True)
    suite = one_prompt_suite(out / "one-prompt.yaml", samples=samples)
    targets = prompt_targets(suite)
    run_dir = out / "run"
    steps: list[tuple[str, list[str]]] = [
        ("probe run", ["probe", "run", str(suite), "--generator", "builtin", "--out", str(run_dir),
                       "--no-progress"]),
        ("report", ["report", str(run_dir), "--png", "no"]),
    ]
    per_command: dict[str, list[str]] = {}
    union: dict[str, str] = {}
    data: dict[str, str] = {}
    data_tracer = DataTracer(targets=targets)
    for name, argv in steps:
        tracer = FileTracer()
        with tracer, data_tracer:
            code = cli(argv)
        if code != 0:
            raise SystemExit(f"`imagen-audit {' '.join(argv)}` exited {code}")
        per_command[name] = sorted(tracer.executed)
        union.update(tracer.executed)
    data.update(data_tracer.executed)
    report = run_dir / "report" / "report.html"
    if not report.is_file():
        raise SystemExit(f"{report}: not written")
    order = [s for s, _ in STAGES]
    files = sorted(union, key=lambda f: (order.index(stage_of(f)), f))
    data_files = sorted(data, key=lambda f: (order.index(stage_of(f)), f))
    return {"files": files, "data_files": data_files, "stages": {f: stage_of(f) for f in {*files, *data_files}},
            "commands": per_command, "first_function": union, "data_function": data,
            "imported_only": sorted(imported_files() - set(union)), "targets": sorted(targets)[:3],
            "report": str(report)}


def print_path(result: dict, *, write: Callable[[str], None] = print) -> None:
    """Print the files grouped by stage, then the counts (plain rule and data rule)."""
    by_stage: dict[str, list[str]] = {}
    for f in result["files"]:
        by_stage.setdefault(result["stages"][f], []).append(f)
    write("plain rule: project files with function code executed (D: also on the data rule)")
    for stage, files in by_stage.items():
        write(f"{stage}:")
        for f in files:
            commands = [c for c, fs in result["commands"].items() if f in fs]
            mark = "D" if f in result["data_files"] else " "
            write(f"  {mark} {f:42} {result['first_function'][f]:40} ({', '.join(commands)})")
    write(f"imported only (no function run): {len(result['imported_only'])} files")
    write(f"data rule: files whose functions receive or return the prompt's data: {len(result['data_files'])}")
    write(f"plain rule: project files executed on the path professions.yaml -> report.html: {len(result['files'])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2, help="samples of the one prompt (default 2)")
    ap.add_argument("--out", default=None, help="folder for the suite and the run (default: a temporary one)")
    ap.add_argument("--json", default=None, help="also write the result as JSON here")
    ap.add_argument("--imported", action="store_true", help="also list the files imported without running code")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="newcomer-path-"))
    result = trace_path(out=out, samples=args.samples)
    print_path(result)
    if args.imported:
        for f in result["imported_only"]:
            print(f"  imported only: {f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
