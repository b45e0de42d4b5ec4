"""The plug-in adapter example of docs/http-generators.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from audit.run import Run

DOC = Path(__file__).resolve().parents[1] / "docs" / "http-generators.md"


def test_plugin_adapter_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    example = next(b for b in blocks if "class SolidColourAdapter" in b)
    scope = {"RUN_DIR": tmp_path / "run"}
    exec(compile(example, str(DOC), "exec"), scope)  # noqa: S102 - the documentation's own example
    run = Run(tmp_path / "run")
    assert len(run.manifest) == 18 and run.spec["generator"] == {"kind": "solid", "size": 32}
    assert run.manifest.image_id.nunique() == 18  # one flat colour per (prompt, seed)
    adapter = scope["SolidColourAdapter"]()
    from generator.adapters.base import Settings, image_outcome

    ims = adapter.generate(["a person playing sports", "a person reading"], seeds=[0, 0], settings=Settings())
    assert [image_outcome(i)["filtered"] for i in ims] == [True, False]
