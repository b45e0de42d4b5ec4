"""The ``imagen-audit probe`` command: list, show, run (tiny pipeline, ITA labeler, report)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import main
from generator.adapters.tiny import save_tiny_stable_diffusion


def test_list_and_show(capsys):
    assert main(["probe", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("professions", "skin-tone-counterfactuals", "activities", "descriptors", "safety"):
        assert name in out
    assert main(["probe", "show", "professions", "--prompts", "3"]) == 0
    out = capsys.readouterr().out
    assert "reference: % presentation=feminine per profession (21 values)" in out
    assert "prompts (3 of 72):" in out and "  a photo of the face of a nurse" in out


def test_errors_are_user_errors(capsys, tmp_path):
    assert main(["probe", "show", "nope"]) == 2
    assert "no built-in suite named 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntemplates: ['{x}']\n")
    assert main(["probe", "show", str(bad)]) == 2
    assert f"{bad}:2: field templates[0].text" in capsys.readouterr().err
    args = ["probe", "run", "activities", "--generator", "builtin", "--out", str(tmp_path / "r"), "--labelers", "x"]
    assert main(args) == 2
    assert "labeler 'x' is not known (fix: use one of agegender, clip, deepface, ita, world" in capsys.readouterr().err


def test_run_end_to_end_with_report(tmp_path, capsys):
    tiny = save_tiny_stable_diffusion(tmp_path)
    out = tmp_path / "run"
    args = ["probe", "run", "activities", "--generator", f"diffusers:{tiny}", "--steps", "2", "--samples", "2",
            "--out", str(out), "--labelers", "ita", "--threads", "1", "--sweep", "guidance=1,4", "--seed", "3"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "images: 72" in printed and "settings: guidance=1, guidance=4" in printed
    spec = json.loads((out / "spec.json").read_text())
    assert spec["arguments"]["sweep"] == ["guidance=1,4"] and spec["arguments"]["suite"] == "activities"
    assert spec["seed"] == 3 and spec["labelers"][0]["name"] == "ita"
    assert (out / "report" / "report.html").stat().st_size > 1000
    results = json.loads((out / "results.json").read_text())
    assert any(r["slot"] == "activity" and r["attribute"] == "skin_group" for r in results["rows"])
    assert f"results: {out / 'results.parquet'}" in printed
    assert main(args) == 0  # rerun of a finished run: nothing regenerated, same results
    assert json.loads((out / "results.json").read_text()) == results


def test_spec_records_the_values_actually_used(tmp_path, capsys):
    """Size, negative prompt, effective steps/guidance/scheduler and labeler options land in spec.json."""
    tiny = save_tiny_stable_diffusion(tmp_path)
    out = tmp_path / "run"
    args = ["probe", "run", "activities", "--generator", f"diffusers:{tiny}", "--steps", "2", "--samples", "1",
            "--out", str(out), "--labelers", "ita,world", "--no-faces", "--mst-match", "lab", "--threads", "1",
            "--height", "32", "--width", "24", "--negative-prompt", "blurry", "--sweep", "guidance=1,4",
            "--no-report", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("results: ") == 1 and f"results: {out / 'results.parquet'}" in printed  # said once
    assert "report: " not in printed  # --no-report
    spec = json.loads((out / "spec.json").read_text())
    for label, guidance in (("guidance=1", 1.0), ("guidance=4", 4.0)):
        eff = spec["effective"][label]
        assert (eff["steps"], eff["guidance"], eff["width"], eff["height"]) == (2, guidance, 24, 32)
        assert eff["scheduler"] == "DDIMScheduler" and eff["negative_prompt"] == "blurry"
    ita, world = spec["labelers"]
    assert ita["options"] == {"faces": False, "match": "lab"} and ita["attributes"]["ita"] == []
    weights = {Path(k).name: v for k, v in world["weights"].items()}
    assert set(weights) == {"model.safetensors", "config.json", "domain.safetensors", "domain.json"} and all(len(h) == 64 for h in weights.values())
    assert world["domain"] and world["attributes"]["skin_group"] == ["light", "medium", "dark"]
    assert spec["generator"]["negative_prompt"] == "blurry" and spec["git"]["commit"]
    # other options on the same folder are refused, naming the field
    assert main([*args[:-2], "--mst-match", "l_ita", "--no-report", "--no-progress"]) == 2
    assert "field labelers" in capsys.readouterr().err


def test_probe_run_accepts_every_labeler_flag_its_errors_name(tmp_path, capsys):
    args = ["probe", "run", "activities", "--generator", "builtin", "--out", str(tmp_path / "r"),
            "--labelers", "deepface", "--deepface-home", str(tmp_path / "w"), "--deepface-backend", "onnx"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "deepface weights missing" in err and "--deepface-home" in err and str(tmp_path / "w") in err
    args = ["probe", "run", "activities", "--generator", "builtin", "--out", str(tmp_path / "r"),
            "--labelers", "clip"]
    assert main(args) == 2
    assert "--clip-model" in capsys.readouterr().err
    assert main(["probe", "run", "activities", "--generator", "builtin", "--height", "128",
                 "--out", str(tmp_path / "r"), "--labelers", ""]) == 2
    assert "--height/--width" in capsys.readouterr().err


def test_default_world_labeler_refused_on_another_generator_before_anything_loads(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["probe", "run", "professions", "--generator", f"diffusers:{tmp_path / 'no-such-model'}",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the suite's default labeler 'world' is only valid on the built-in generator's" in err
    assert "--labelers ita" in err
    assert not out.exists()  # refused before the run folder, the generator or any labeler


@pytest.mark.parametrize("flag", ["--help"])
def test_help_has_examples(flag, capsys):
    with pytest.raises(SystemExit):
        main(["probe", "run", flag])
    assert "imagen-audit probe run professions --generator builtin" in capsys.readouterr().out
