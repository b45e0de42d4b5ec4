"""Probe runs and captions for the report tests: synthetic-world renders of people, drawn with the world's biases.

Not a test module: imported by ``test_report_browser.py`` and ``test_report_compare.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from audit.results import Options, write_run_results

PAYLOAD = '<img src=x onerror="window.__pwned=1"><script>window.__pwned2=1</script>'
JOBS = ("nurse", "firefighter", "cashier", "janitor", "engineer", "teacher")
TEMPLATES = ("a photo of a {}", "a portrait of a {} at work", "a {} smiling")


def world_run(root: Path, *, samples: int = 8, seed: int = 0, force: dict[str, str] | None = None) -> Path:
    """A probe run whose images are synthetic-world renders of people drawn with the world's biases.

    Labels are the people's true attributes under labeler ``world`` (so its shipped card applies); a few
    images carry explicit non-answers; one prompt and one extra profession carry :data:`PAYLOAD`.
    ``force``: profession -> presentation drawn for every image of it (a run with a stronger bias).
    """
    from generator.world.render import render_batch
    from generator.world.spec import load_spec, sample_attributes

    rng = np.random.default_rng(seed)
    people = sample_attributes(load_spec(), n=20000, rng=rng)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows, labels = [], []
    jobs = [*JOBS, PAYLOAD]
    for j, job in enumerate(jobs):
        pool = people[people.profession == (job if job in JOBS else "pilot")].head(samples * len(TEMPLATES))
        if force and job in force:
            pool = pool.assign(presentation=force[job])
        images = render_batch(pool.reset_index(drop=True), rng=rng)
        for i, (person, img) in enumerate(zip(pool.to_dict("records"), images, strict=True)):
            t = i // samples
            if job == PAYLOAD and t > 0:
                break
            iid = f"{j:02d}-{t}-{i % samples}"
            Image.fromarray(img).save(root / "images" / f"{iid}.png")
            prompt = TEMPLATES[t].format(job) + (f" {PAYLOAD}" if (j, t) == (0, 0) else "")
            rows.append({"image_id": iid, "path": f"images/{iid}.png", "prompt": prompt, "prompt_id": f"p{j}-{t}",
                         "template_id": f"t{t}", "seed": i % samples, "sample": i % samples, "setting": "default",
                         "profession": job})
            tone = int(person["skin_tone"])
            values = {"presentation": person["presentation"], "skin_tone": str(tone),
                      "skin_group": "light" if tone <= 3 else "medium" if tone <= 6 else "dark",
                      "age_group": person["age_group"], "unsafe": str(bool(person["unsafe"])).lower()}
            if i % 23 == 5:
                values["presentation"] = "no_face"
            labels += [{"image_id": iid, "labeler": "world", "attribute": a, "value": v, "confidence": 0.9}
                       for a, v in values.items()]
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet")
    pd.DataFrame(labels).to_parquet(root / "labels.parquet")
    suite = {"name": "professions-browser-test", "definition": {"metrics": []},
             "references": [{"slot": "profession", "attribute": "presentation", "value": "feminine",
                             "source": f"test statistics {PAYLOAD}", "percent": {"nurse": 87.0, "cashier": 72.5}}]}
    (root / "spec.json").write_text(json.dumps({"format": "imagen-audit-run/1", "suite": suite, "seed": seed}))
    write_run_results(root, options=Options(n_resamples=200))
    return root


def world_captions(n: int, *, seed: int = 0) -> pd.DataFrame:
    """LAION-style captions (URL, TEXT, NSFW) of synthetic-world people, with the world's injected biases."""
    from generator.world.captions import write_captions
    from generator.world.render import sample_nuisance
    from generator.world.spec import load_spec, sample_attributes

    spec, rng = load_spec(), np.random.default_rng(seed)
    people = sample_attributes(spec, n=n, rng=rng)
    people = pd.concat([people, sample_nuisance(n, rng=rng, age_groups=people["age_group"].to_numpy())], axis=1)
    caps = write_captions(people, spec=spec, rng=rng)
    return pd.DataFrame({"URL": [f"http://world/{i}" for i in range(n)], "TEXT": caps["TEXT"], "NSFW": caps["NSFW"]})
