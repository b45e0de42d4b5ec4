"""``imagen-audit serve``: the built-in generator behind an OpenAI-compatible Images API.

:func:`generator.serve.app.create_app` builds the ASGI app (FastAPI) around any
``render(prompts, seeds) -> list[PNG bytes]`` function; :func:`generator.serve.app.builtin_renderer`
gives that function for the shipped cascade. Importing this package imports neither
torch nor FastAPI.
"""
