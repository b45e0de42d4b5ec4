"""``imagen-audit serve``: the built-in generator behind an OpenAI-compatible Images API."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  imagen-audit serve --port 8000
  IMAGEN_KEY=secret imagen-audit serve --host 0.0.0.0 --port 8000 --api-key-env IMAGEN_KEY --max-batch 16

  curl -s http://127.0.0.1:8000/v1/images/generations -H 'Content-Type: application/json' \\
       -d '{"prompt": "a photo of a nurse", "n": 2, "seed": 0, "response_format": "b64_json"}'
  imagen-audit probe run professions --generator 'openai:http://127.0.0.1:8000#imagen-world&seed=on' --out runs/p

Image i of a request with seed S is drawn with seed S + i: the same image `generate` draws at that
seed (at the same batch size; batching changes pixels by at most a rounding step, see docs/http-generators.md).
"""


def _run(args: argparse.Namespace) -> int:
    import os

    from audit.commands.generate import sampler_settings
    from audit.errors import UserError

    try:
        import uvicorn

        from generator.serve.app import MODEL_NAME, ServeLimits, builtin_renderer, create_app
    except ImportError as exc:
        raise UserError(f"serve needs FastAPI and uvicorn ({exc}) (fix: pip install 'imagen-audit[serve]')") from None
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise UserError(f"--api-key-env {args.api_key_env}: that environment variable is not set or empty "
                            f"(fix: export {args.api_key_env}=A_SECRET, or drop --api-key-env for an open server)")
    for name in ("max_n", "max_batch", "max_queue", "max_prompt_chars"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1")
    settings = sampler_settings(args)
    from generator.api import load_cascade
    from generator.serve.batcher import render_thread

    def load():
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        return load_cascade(args.weights, device=args.device), torch.get_num_threads()

    worker = render_thread()  # the model loads and runs on this one thread (see render_thread)
    pipeline, threads = worker.submit(load).result()
    limits = ServeLimits(max_n=args.max_n, max_prompt_chars=args.max_prompt_chars, max_batch=args.max_batch,
                         batch_wait_ms=args.batch_wait_ms, max_queue=args.max_queue)
    app = create_app(builtin_renderer(pipeline, settings), model=MODEL_NAME, size=(64, 64), limits=limits,
                     api_key=api_key, executor=worker,
                     info={"sampler": settings.to_dict(), "weights": args.weights or "shipped", "threads": threads})
    print(f"serving {MODEL_NAME} on http://{args.host}:{args.port}/v1/images/generations"
          f"{' (bearer key required)' if api_key else ''}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def register(sub) -> None:
    """Add ``serve``."""
    from audit.commands.generate import add_sampler_options

    p = sub.add_parser("serve", help="serve the built-in generator as an OpenAI-compatible Images API",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key-env", default=None, metavar="NAME",
                   help="require 'Authorization: Bearer KEY' with KEY read from this environment variable")
    p.add_argument("--max-n", type=int, default=4, help="most images per request (default 4)")
    p.add_argument("--max-prompt-chars", type=int, default=1000, help="longest prompt (default 1000)")
    p.add_argument("--max-batch", type=int, default=8, help="most images per model call (default 8)")
    p.add_argument("--batch-wait-ms", type=float, default=50.0,
                   help="how long a batch waits for the next request to share its model call, at most 4x in all "
                        "(default 50)")
    p.add_argument("--max-queue", type=int, default=64, help="most images waiting before 429 (default 64)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the model (default: torch's choice, one per core); see docs/http-generators.md "
                        "for a client on the same machine")
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    add_sampler_options(p)
    p.set_defaults(handler=_run)
