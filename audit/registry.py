"""One table of names: labelers, generators and metrics, each a plain dict from a name to a
keyword constructor (or function). The CLI, suites and benchmarks resolve names here.

Third-party packages add generators and labelers through Python entry points (the standard
plugin mechanism), never through dotted strings::

    # pyproject.toml of a plugin
    [project.entry-points."imagen_audit.generators"]
    mygen = "mypkg.adapter:make_generator"     # called as make_generator(target, **options)
    [project.entry-points."imagen_audit.labelers"]
    mylab = "mypkg.labeler:make_labeler"       # called as make_labeler(**options)

A generator constructor takes the text after ``NAME:`` in ``--generator NAME:TARGET`` (or
None) and keyword options (``steps``, ``guidance``, ``device``, ``dtype``, ``height``,
``width``, ``negative_prompt``, ``allow_download``; only those given are passed). A labeler
constructor takes its own keyword options (see :data:`LABELER_OPTIONS`).

Examples
--------
>>> sorted(LABELERS), sorted(GENERATORS)
(['agegender', 'clip', 'deepface', 'ita', 'world'], ['a1111', 'builtin', 'diffusers', 'diffusers-if', 'images', 'openai'])
>>> make_labeler("ita", faces=False).name
'ita'
>>> make_generator("diffusers:some/model", steps=10).config()["path"]
'some/model'
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from audit.errors import UserError

__all__ = ["LABELERS", "GENERATORS", "METRICS", "LABELER_OPTIONS", "GENERATOR_FORMS", "labelers", "generators",
           "make_labeler", "make_generator", "resolve_labelers", "ENTRY_POINT_GROUPS"]

#: Entry-point groups third-party packages register in.
ENTRY_POINT_GROUPS = {"generators": "imagen_audit.generators", "labelers": "imagen_audit.labelers"}


# ---------------------------------------------------------------------------
# labelers: keyword constructors (models are imported inside)
# ---------------------------------------------------------------------------

def world_labeler(*, weights: str | Path | None = None, device: str = "cpu"):
    """The world CNN (:class:`audit.labelers.world.WorldLabeler`); ``weights``: its folder (default: shipped)."""
    from audit.labelers.world import WorldLabeler

    return WorldLabeler.from_pretrained(weights, device=device)


def ita_labeler(*, faces: bool = True, match: str = "l_ita"):
    """Model-free skin tone (:class:`audit.labelers.ita.ITALabeler`)."""
    from audit.labelers.ita import ITALabeler

    return ITALabeler(faces=faces, match=match)


def clip_labeler(*, model: str | Path | None = None, prompts: str | Path | Mapping | None = None, device: str = "cpu",
                 allow_download: bool = False):
    """CLIP zero-shot (:class:`audit.labelers.clip.CLIPLabeler`); ``prompts``: a YAML file or a mapping."""
    from audit.labelers.clip import CLIPLabeler, load_prompt_sets

    if not model:
        raise UserError("the clip labeler needs a model (fix: pass --clip-model PATH_OR_ID, a local CLIP folder "
                        "or a hub id with --allow-download)")
    if isinstance(prompts, (str, Path)):
        prompts = load_prompt_sets(Path(prompts))
    return CLIPLabeler(model, prompts=prompts, device=device, allow_download=allow_download)


def deepface_labeler(*, home: str | Path | None = None, detector: str = "opencv", backend: str = "pytorch",
                     actions: Sequence[str] | str = ("gender", "race", "age"), allow_download: bool = False):
    """deepface demography (:class:`audit.labelers.deepface.DeepFaceLabeler`); ``home`` holds ``.deepface/weights``."""
    from audit.labelers.deepface import DeepFaceLabeler

    if isinstance(actions, str):
        actions = tuple(a.strip() for a in actions.split(",") if a.strip())
    return DeepFaceLabeler(weights_home=home, actions=tuple(actions), detector_backend=detector, backend=backend,
                           allow_download=allow_download)


def agegender_labeler(**options):
    """Offline presentation and age for photos (:class:`audit.labelers.agegender.AgeGenderLabeler`)."""
    from audit.labelers.agegender import AgeGenderLabeler

    return AgeGenderLabeler(**options)


LABELERS: dict[str, Callable[..., Any]] = {
    "world": world_labeler, "ita": ita_labeler, "clip": clip_labeler, "deepface": deepface_labeler,
    "agegender": agegender_labeler,
}
#: The options each built-in labeler takes (the CLI flags ``--NAME-OPTION`` map onto these).
LABELER_OPTIONS: dict[str, tuple[str, ...]] = {
    "world": ("weights", "device"),
    "ita": ("faces", "match"),
    "clip": ("model", "prompts", "device", "allow_download"),
    "deepface": ("home", "detector", "backend", "actions", "allow_download"),
}


# ---------------------------------------------------------------------------
# generators: constructors taking the target after "NAME:" and keyword options
# ---------------------------------------------------------------------------

def builtin_generator(target: str | None = None, *, steps: int | None = None, guidance: float | None = None,
                      device: str = "cpu", dtype: str = "float32", height: int | None = None,
                      width: int | None = None, negative_prompt: str | None = None, allow_download: bool = False):
    """The shipped cascade; ``target``: another cascade folder (``builtin:PATH``)."""
    from generator.api import builtin_adapter

    if height is not None or width is not None:
        raise UserError("--height/--width: the built-in cascade draws 64 x 64 images only (fix: drop them)")
    if negative_prompt:
        raise UserError("--negative-prompt: the built-in cascade takes no negative prompt (fix: drop it)")
    return builtin_adapter(path=target or None, steps=steps, guidance=guidance, device=device, dtype=dtype)


def diffusers_generator(target: str | None = None, **options):
    """Any diffusers text-to-image pipeline: ``diffusers:PATH_OR_ID``."""
    from generator.adapters.diffusers_adapter import DiffusersAdapter

    if not target:
        raise UserError("--generator diffusers needs a pipeline (fix: diffusers:PATH_OR_HUB_ID)")
    return DiffusersAdapter(target, **options)


def deepfloyd_generator(target: str | None = None, *, height: int | None = None, width: int | None = None,
                        negative_prompt: str | None = None, **options):
    """DeepFloyd IF, two stages: ``diffusers-if:STAGE1,STAGE2``."""
    from generator.adapters.deepfloyd import DeepFloydIFAdapter

    stages = [s for s in (target or "").split(",") if s]
    if len(stages) != 2:
        raise UserError(f"--generator diffusers-if:{target or ''}: needs two stages "
                        "(fix: diffusers-if:STAGE1_ID,STAGE2_ID)")
    if height is not None or width is not None or negative_prompt:
        raise UserError("--height/--width/--negative-prompt: not supported by the DeepFloyd IF adapter "
                        "(fix: drop them)")
    return DeepFloydIFAdapter(stages[0], stages[1], **options)


def openai_generator(target: str | None = None, **options):
    """An OpenAI-compatible Images API: ``openai:URL[#MODEL&OPTION=VALUE...]``."""
    from generator.adapters.http_resolve import remote_adapter

    return remote_adapter("openai", target or "", **options)


def a1111_generator(target: str | None = None, **options):
    """An Automatic1111 server: ``a1111:URL[#OPTION=VALUE...]``."""
    from generator.adapters.http_resolve import remote_adapter

    return remote_adapter("a1111", target or "", **options)


def images_generator(target: str | None = None, **options):
    """Images made elsewhere, listed in a manifest: ``images:MANIFEST``."""
    from generator.adapters.http_resolve import remote_adapter

    return remote_adapter("images", target or "", **options)


GENERATORS: dict[str, Callable[..., Any]] = {
    "builtin": builtin_generator, "diffusers": diffusers_generator, "diffusers-if": deepfloyd_generator,
    "openai": openai_generator, "a1111": a1111_generator, "images": images_generator,
}
#: The forms of ``--generator`` the built-in table accepts.
GENERATOR_FORMS = ("builtin", "diffusers:PATH_OR_ID", "diffusers-if:STAGE1,STAGE2", "openai:URL[#MODEL&OPTIONS]",
                   "a1111:URL[#OPTIONS]", "images:MANIFEST")

#: Metric name -> function; filled by the results table (one owner: the results module).
METRICS: dict[str, Callable[..., Any]] = {}


# ---------------------------------------------------------------------------
# lookup, with entry points
# ---------------------------------------------------------------------------

def _plugins(group: str, builtin: Mapping[str, Callable]) -> dict[str, Callable]:
    """The built-in table plus the entry points of ``group`` (a built-in name is never replaced)."""
    table = dict(builtin)
    for ep in md.entry_points(group=group):
        if ep.name not in table:
            table[ep.name] = _Lazy(ep)
    return table


class _Lazy:
    """An entry point loaded on first call (so listing names imports no plugin)."""

    def __init__(self, ep: md.EntryPoint) -> None:
        self.ep = ep

    def __call__(self, *args, **kwargs):
        try:
            factory = self.ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure of a plugin
            raise UserError(f"plugin {self.ep.name!r} ({self.ep.group} = {self.ep.value}) cannot be loaded "
                            f"({type(exc).__name__}: {exc}) (fix: reinstall the package that provides it)") from exc
        return factory(*args, **kwargs)


def labelers() -> dict[str, Callable[..., Any]]:
    """Labeler name -> keyword constructor: :data:`LABELERS` plus ``imagen_audit.labelers`` entry points."""
    return _plugins(ENTRY_POINT_GROUPS["labelers"], LABELERS)


def generators() -> dict[str, Callable[..., Any]]:
    """Generator name -> constructor: :data:`GENERATORS` plus ``imagen_audit.generators`` entry points."""
    return _plugins(ENTRY_POINT_GROUPS["generators"], GENERATORS)


def make_labeler(name: str, **options: Any):
    """Build the labeler called ``name`` with its keyword options.

    Raises
    ------
    audit.errors.UserError
        For an unknown name, naming the known ones.

    Examples
    --------
    >>> make_labeler("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    audit.errors.UserError: labeler 'nope' is not known (fix: use one of agegender, clip, deepface, ita, world, ...
    """
    table = labelers()
    if name not in table:
        raise UserError(f"labeler {name!r} is not known (fix: use one of {', '.join(sorted(table))}, "
                        "or install a package that registers it under the imagen_audit.labelers entry point)")
    return table[name](**options)


def resolve_labelers(names_or_labelers: Sequence[Any], *, options: dict[str, dict] | None = None
                     ) -> list[tuple[Any, dict[str, Any]]]:
    """Labeler objects from names (built with :func:`make_labeler`) or objects; ``(labeler, options)`` pairs.

    Examples
    --------
    >>> [lab.name for lab, _ in resolve_labelers(["ita"], options={"ita": {"faces": False}})]
    ['ita']
    """
    out = []
    for item in names_or_labelers:
        if isinstance(item, str):
            opts = dict((options or {}).get(item, {}))
            out.append((make_labeler(item, **opts), opts))
        else:  # an object: the options it was built with, if the caller names them
            out.append((item, dict((options or {}).get(getattr(item, "name", None), {}))))
    return out


def make_generator(spec: str, **options: Any):
    """Build the generator named by ``spec`` (``NAME`` or ``NAME:TARGET``); ``None`` options are left out.

    Raises
    ------
    audit.errors.UserError
        For an unknown name.

    Examples
    --------
    >>> make_generator("dalle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    audit.errors.UserError: --generator 'dalle' is not understood (fix: use one of builtin, ...
    """
    name, _, target = spec.partition(":")
    table = generators()
    if name not in table:
        forms = [*GENERATOR_FORMS, *(f"{n}:TARGET" for n in sorted(table) if n not in GENERATORS)]
        raise UserError(f"--generator {spec!r} is not understood (fix: use one of {', '.join(forms)})")
    return table[name](target or None, **{k: v for k, v in options.items() if v is not None})
