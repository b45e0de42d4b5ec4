"""Constructors of the ``openai:``, ``a1111:`` and ``images:`` generators from their ``--generator`` strings.

Each takes the text after ``NAME:`` and the run's generator options (``steps``,
``guidance``, ``height``, ``width``, ``negative_prompt``; ``device``, ``dtype`` and
``allow_download`` concern local models and are ignored), the shape of the generator
table (``NAME -> constructor(target, **options)``). An option the API cannot honour is
refused with the fix, never dropped.

Examples
--------
>>> openai_generator("https://api.openai.com/v1#dall-e-3&key_env=OPENAI_API_KEY").config()["model"]
'dall-e-3'
>>> openai_generator("http://127.0.0.1:8000", width=64, height=64).config()["size"]
'64x64'
>>> remote_adapter("openai", "http://h#m", steps=4)
Traceback (most recent call last):
...
audit.errors.UserError: openai:http://h#m: the Images API takes no --steps (fix: drop it)
"""

from __future__ import annotations

from typing import Any

from audit.errors import UserError

__all__ = ["openai_generator", "a1111_generator", "images_generator", "remote_adapter", "REMOTE_GENERATORS"]

_LOCAL_ONLY = ("device", "dtype", "allow_download")  # options of local models; meaningless for these


def _refuse(label: str, what: str, options: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if options.get(name) is not None:
            raise UserError(f"{label}: {what} takes no --{name.replace('_', '-')} (fix: drop it)")


def _merge(label: str, given: dict[str, Any], key: str, value: Any) -> None:
    """Put a run option into the spec's options unless the spec sets it differently."""
    if value is None:
        return
    if given.get(key) is not None and given[key] != value:
        raise UserError(f"{label}: {key} is {given[key]!r} in the generator string and {value!r} in the options "
                        "(fix: give it once)")
    given[key] = value


def openai_generator(target: str | None = None, **options: Any):
    """``openai:URL[#MODEL&OPTION=VALUE...]`` (see :mod:`generator.adapters.http_openai`); ``width``/``height``
    become ``size``."""
    from generator.adapters.http_client import parse_options
    from generator.adapters.http_openai import _OPTIONS, OpenAIAdapter

    label = f"openai:{target or ''}"
    if not target:
        raise UserError("--generator openai needs a URL (fix: openai:https://api.openai.com/v1#dall-e-3)")
    _refuse(label, "the Images API", options, ("steps", "guidance", "negative_prompt"))
    url, _, fragment = target.partition("#")
    model, given = parse_options(fragment, allowed=_OPTIONS, label=label)
    width, height = options.get("width"), options.get("height")
    if (width is None) != (height is None):
        raise UserError(f"{label}: give both --width and --height, or size=WxH (fix: add the other one)")
    if width is not None:
        _merge(label, given, "size", f"{int(width)}x{int(height)}")
    return OpenAIAdapter(url, model=model, **given)


def a1111_generator(target: str | None = None, **options: Any):
    """``a1111:URL[#OPTION=VALUE&...]`` (see :mod:`generator.adapters.http_a1111`); the run's steps, guidance,
    width, height and negative prompt are sent."""
    from generator.adapters.http_a1111 import _OPTIONS, A1111Adapter
    from generator.adapters.http_client import parse_options

    label = f"a1111:{target or ''}"
    if not target:
        raise UserError("--generator a1111 needs a URL (fix: a1111:http://127.0.0.1:7860)")
    url, _, fragment = target.partition("#")
    model, given = parse_options(fragment, allowed=_OPTIONS, label=label)
    if model is not None:
        raise UserError(f"{label}: {model!r} is not an option (fix: choose the model in the web UI; options are "
                        f"{sorted(_OPTIONS)})")
    for key in ("width", "height", "negative_prompt"):
        _merge(label, given, key, options.get(key))
    return A1111Adapter(url, steps=options.get("steps"), guidance=options.get("guidance"), **given)


def images_generator(target: str | None = None, **options: Any):
    """``images:MANIFEST`` (see :mod:`generator.adapters.images_manifest`)."""
    from generator.adapters.images_manifest import ImagesAdapter

    if not target:
        raise UserError("--generator images needs a table (fix: images:path/to/images.csv)")
    _refuse(f"images:{target}", "a table of images made elsewhere", options,
            ("steps", "guidance", "width", "height", "negative_prompt"))
    return ImagesAdapter(target)


#: Name -> constructor, for the generator table.
REMOTE_GENERATORS = {"openai": openai_generator, "a1111": a1111_generator, "images": images_generator}


def remote_adapter(kind: str, rest: str, **options: Any):
    """Return the adapter for ``KIND:REST`` (``kind``: a key of :data:`REMOTE_GENERATORS`).

    Raises
    ------
    audit.errors.UserError
        For an unknown kind or options the API cannot honour.
    """
    if kind not in REMOTE_GENERATORS:
        raise UserError(f"{kind}:{rest}: unknown generator kind (fix: use one of {sorted(REMOTE_GENERATORS)})")
    return REMOTE_GENERATORS[kind](rest, **{k: v for k, v in options.items() if k not in _LOCAL_ONLY})
