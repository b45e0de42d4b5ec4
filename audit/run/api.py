"""The probe-run API for notebooks and the CLI: :func:`run_probe` and the :class:`Run` it returns.

Examples
--------
>>> import tempfile
>>> from generator.adapters.tiny import save_tiny_stable_diffusion
>>> tiny = save_tiny_stable_diffusion(tempfile.mkdtemp())
>>> run = run_probe("activities", generator=f"diffusers:{tiny}", generator_options={"steps": 1},
...                 labelers=["ita"], samples=1, out=tempfile.mkdtemp() + "/run", progress=False)
>>> len(run.manifest), run.manifest.activity.nunique()
(18, 6)
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import UserError
from audit.files import SPEC_FILE, read_run_spec
from audit.run.execute import finish_run, plan_shards, run_dask, run_local
from audit.run.spec import RunSpec, canonical, check_resume
from audit.run.work import ShardJob, is_committed
from generator.adapters.base import Settings, parse_sweep
from probes.suite import Suite, resolve_suite
from probes.expand import expand_samples

__all__ = ["run_probe", "Run", "open_run", "labeler_record", "check_default_labelers"]


class Run:
    """A finished (or in-progress) run directory, read lazily.

    Attributes
    ----------
    path
        The run directory.

    Examples
    --------
    >>> Run("runs/x").path.name
    'x'
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def _need(self, name: str) -> Path:
        path = self.path / name
        if not path.is_file():
            raise UserError(f"{path}: missing (fix: the run is unfinished; rerun the same `probe run` command "
                            "to complete it)")
        return path

    @cached_property
    def spec(self) -> dict[str, Any]:
        """``spec.json`` as written: suite, generator, labelers, seeds, effective settings, versions, git revision."""
        return read_run_spec(self.path)

    @cached_property
    def manifest(self) -> pd.DataFrame:
        """One row per image: id, path, prompt, prompt_id, template_id, seed, sample, setting, slots."""
        return pd.read_parquet(self._need("manifest.parquet"))

    @cached_property
    def labels(self) -> pd.DataFrame:
        """Tidy labels: one row per image x labeler x attribute."""
        return pd.read_parquet(self._need("labels.parquet"))

    @cached_property
    def counts(self) -> pd.DataFrame:
        """Merged counts ``[setting, slot, slot_value, labeler, attribute, value, n]``."""
        return pd.read_parquet(self._need("counts.parquet"))

    @cached_property
    def results(self) -> dict[str, Any]:
        """``results.json``: metrics per setting, reference gaps, spread across settings."""
        return json.loads(self._need("results.json").read_text())

    @property
    def report_path(self) -> Path | None:
        """``report/report.html`` if it was written (see :func:`audit.report.report_from_run_dir`)."""
        path = self.path / "report" / "report.html"
        return path if path.is_file() else None

    def image(self, image_id: str):
        """Open one image of the run as a ``PIL.Image``."""
        from PIL import Image

        from audit.run.work import image_relpath

        with Image.open(self.path / image_relpath(image_id)) as im:
            return im.convert("RGB")


def open_run(path: str | Path) -> Run:
    """Open a finished run directory.

    Raises
    ------
    audit.errors.UserError
        If the folder holds no finished run.

    Examples
    --------
    >>> open_run("/nonexistent/run")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: /nonexistent/run/results.json: missing (fix: the run is unfinished; ...
    """
    run = Run(path)
    run._need("results.json")
    return run


def labeler_record(labeler: Any, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``spec.json`` records about a labeler: name, options, declared attributes and domain,
    sha256 of its weight files, and its ``config()`` if it has one.

    Examples
    --------
    >>> class L:
    ...     name, attributes = "t", ("g",)
    >>> r = labeler_record(L()); r["name"], r["attributes"], r["weights"]
    ('t', {'g': []}, {})
    """
    from audit.provenance import fingerprints

    declared = getattr(labeler, "attributes", ())
    attributes = ({str(k): list(v) for k, v in declared.items()} if isinstance(declared, Mapping)
                  else {str(k): [] for k in declared})
    weight_files = getattr(labeler, "weight_files", None)
    record = {"name": getattr(labeler, "name", type(labeler).__name__), "options": dict(options or {}),
              "attributes": attributes, "domain": getattr(labeler, "domain", None),
              "weights": fingerprints(weight_files()) if callable(weight_files) else {}}
    config = getattr(labeler, "config", None)
    if callable(config):
        record["config"] = config()
    return record


#: Labelers valid only on the built-in generator's images (the synthetic world's renders).
WORLD_ONLY_LABELERS = ("world",)


def check_default_labelers(names: Sequence[str], generator_config: dict) -> None:
    """Refuse a suite's default labelers that are not valid on this generator's images.

    The world labeler is trained on 64 px renders of the synthetic world; on another model's
    images it would answer ``out_of_domain`` (or worse, guess). A suite that defaults to it is
    run on another generator only when the user names the labelers.

    Raises
    ------
    audit.errors.UserError
        Naming the labeler, its domain and the options.

    Examples
    --------
    >>> check_default_labelers(["world"], {"kind": "builtin"})
    >>> check_default_labelers(["world"], {"kind": "diffusers", "path": "sd"})
    Traceback (most recent call last):
    ...
    audit.errors.UserError: the suite's default labeler 'world' is only valid on the built-in generator's ...
    """
    kind = str(generator_config.get("kind", ""))
    bad = [n for n in names if n in WORLD_ONLY_LABELERS]
    if bad and kind != "builtin":
        raise UserError(f"the suite's default labeler {bad[0]!r} is only valid on the built-in generator's "
                        f"renders of the synthetic world, not on {kind or 'this generator'}'s images (fix: name "
                        "labelers for real images, e.g. --labelers ita (skin tone, faces) or --labelers clip "
                        "--clip-model PATH (presentation, age) or deepface; or --labelers world if the images "
                        "really are world renders)")


def _prepare_dir(out: Path, spec: RunSpec) -> None:
    spec_path = out / SPEC_FILE
    if spec_path.is_file():
        check_resume(spec_path, spec)
    elif out.is_dir() and any(p.name != ".lock" for p in out.iterdir()):
        raise UserError(f"{out}: folder exists and holds no run (fix: pass a new or empty --out folder)")
    else:
        out.mkdir(parents=True, exist_ok=True)
        spec.write(spec_path)
    parts = out / "parts"
    parts.mkdir(exist_ok=True)
    for stale in parts.glob(".tmp-*"):  # uncommitted shards of a killed run
        shutil.rmtree(stale, ignore_errors=True)


def run_probe(suite: str | Path | Suite, *, generator: Any, out: str | Path, samples: int | None = None,
              seed: int | None = None, labelers: Sequence[Any] | None = None,
              labeler_options: dict[str, dict[str, Any]] | None = None, sweep: Sequence[str] | None = None,
              settings: Sequence[Settings] | None = None, generator_options: dict[str, Any] | None = None,
              workers: int | None = None, scheduler: str | None = None, shard_images: int = 64,
              batch_size: int = 8, threads: int | None = None, report: bool = True, progress: bool = True,
              command: list[str] | None = None, arguments: dict[str, Any] | None = None) -> Run:
    """Run a probe suite: expand, generate, label, merge, compute results, write the report.

    Running the same call again on the same ``out`` resumes a killed run (committed shards
    are kept) and re-finishes a finished one; different options on the same ``out`` are refused.

    Parameters
    ----------
    suite
        Built-in suite name, suite YAML path, or a :class:`probes.suite.Suite`.
    generator
        ``"builtin"``, ``"diffusers:PATH_OR_ID"``, ``"diffusers-if:S1,S2"``, ``"NAME:TARGET"`` of a
        plugin (:mod:`audit.registry`) or an adapter object following
        :class:`generator.adapters.base.Generator`.
    out
        Run directory.
    samples, seed
        Samples per prompt and base seed (default: the suite's).
    labelers
        Labeler objects (:class:`audit.labelers.base.Labeler`) or names from :mod:`audit.registry`;
        ``None`` (default): the suite's ``labelers``, as the CLI does; ``[]``: a run without labels.
    labeler_options
        Keyword options per labeler name, for labelers given by name (e.g.
        ``{"deepface": {"home": "/weights"}}``).
    sweep
        ``["guidance=1,4,8", ...]``: sampler settings to sweep (their product).
    settings
        Explicit settings instead of ``sweep``.
    generator_options
        Options for a generator given as a string (``steps``, ``guidance``, ``device``, ``dtype``,
        ``height``, ``width``, ``negative_prompt``, ``allow_download``).
    workers, scheduler
        Run shards on a new Dask ``LocalCluster`` of ``workers`` processes, or on the Dask
        scheduler at ``scheduler``; neither runs in this process.
    shard_images
        Target images per shard (whole prompts per shard).
    batch_size
        Images per generator call.
    threads
        Torch threads per process (default: torch's choice here; ``cpu_count // workers`` on a
        LocalCluster). One thread is often fastest on a loaded machine.
    report
        Write ``report/report.html`` with :func:`audit.report.report_from_run_dir`.
    progress
        Show progress bars.
    command
        Command line recorded in ``spec.json`` (default ``sys.argv``).
    arguments
        Parsed CLI arguments recorded in ``spec.json`` (the CLI passes them).

    Returns
    -------
    Run

    Examples
    --------
    >>> import tempfile
    >>> from generator.adapters.tiny import save_tiny_stable_diffusion
    >>> tiny = save_tiny_stable_diffusion(tempfile.mkdtemp())
    >>> run = run_probe("descriptors", generator=f"diffusers:{tiny}", generator_options={"steps": 1}, samples=1,
    ...                 labelers=[], sweep=["guidance=1,3"], out=tempfile.mkdtemp() + "/run", progress=False,
    ...                 report=False)
    >>> run.results["settings"], len(run.manifest)
    (['guidance=1', 'guidance=3'], 64)
    """
    from audit.registry import make_generator, resolve_labelers

    the_suite = resolve_suite(suite)
    if labelers is None:  # the suite's default labelers, checked before any model or weights load
        check_default_labelers(the_suite.labelers, {"kind": generator.partition(":")[0]} if isinstance(generator, str)
                               else generator.config())
    if isinstance(generator, str):
        generator = make_generator(generator, **(generator_options or {}))
    elif generator_options:
        raise UserError("generator_options apply to a generator given as a string (fix: configure the adapter)")
    if settings is not None and sweep:
        raise UserError("give sweep or settings, not both (fix: drop one)")
    setting_list = list(settings) if settings is not None else parse_sweep(list(sweep or []))
    built = resolve_labelers(the_suite.labelers if labelers is None else labelers, options=labeler_options)
    labelers = [lab for lab, _ in built]
    labels_of = {}
    for labeler in labelers:
        name = getattr(labeler, "name", None)
        if not name or name in labels_of:
            raise UserError(f"labeler {name!r}: every labeler needs a distinct `name` (fix: drop the duplicate)")
        labels_of[name] = labeler
    references = [{"slot": r.slot, "attribute": r.attribute, "value": r.value, "source": r.source,
                   "percent": r.percent} for r in the_suite.references]
    rows = expand_samples(the_suite, samples=samples, seed=seed)
    shards = plan_shards(rows, settings=setting_list, shard_images=shard_images)
    generator_config = generator.config()
    labeler_records = [labeler_record(lab, opts) for lab, opts in built]
    spec = RunSpec(
        suite={"name": the_suite.name, "references": references, "definition": the_suite.raw},
        generator=generator_config, labelers=labeler_records,
        samples=int(rows["sample"].max()) + 1, seed=the_suite.seed if seed is None else int(seed),
        settings=[s.to_dict() for s in setting_list], shard_images=shard_images, batch_size=batch_size,
        n_images=len(rows) * len(setting_list), n_shards=len(shards), suite_file=the_suite.file,
        arguments=dict(arguments or {}), **({} if command is None else {"command": list(command)}),
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{out}: another run is writing to this folder (fix: wait for it or use another --out)") \
                from None
        _prepare_dir(out, spec)
        pending = [s for s in shards if not is_committed(out, s.id)]
        jobs = [ShardJob(run_dir=str(out.resolve()), shard=s, generator=generator, generator_key=canonical(generator_config),
                         labelers=list(labelers), labelers_key=canonical(labeler_records),
                         columns=list(the_suite.columns), axes=list(the_suite.axes), batch_size=batch_size,
                         threads=threads)
                for s in pending]
        if workers is None and scheduler is None:
            run_local(jobs, total_images=sum(j.shard.n_images for j in jobs), progress=progress)
        else:
            run_dask(jobs, workers=workers, scheduler=scheduler, progress=progress)
        finish_run(out, shards, suite=the_suite.name, references=references,
                   settings=[s.label for s in setting_list], report=report, progress=progress)
    return Run(out)
