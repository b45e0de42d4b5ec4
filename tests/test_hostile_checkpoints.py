"""Training checkpoints are safetensors + JSON: resuming equals not stopping, and no pickle is ever run."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from audit.checkpoint import load_checkpoint, save_checkpoint


def _steps(model, opt, gen, n):
    for _ in range(n):
        x = torch.randn(8, 4, generator=gen)
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _fresh():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
    return model, opt, torch.Generator().manual_seed(1)


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path):
    model, opt, gen = _fresh()
    _steps(model, opt, gen, 5)
    want = {k: v.clone() for k, v in model.state_dict().items()}

    model, opt, gen = _fresh()
    _steps(model, opt, gen, 3)
    save_checkpoint(tmp_path / "c.safetensors", {"model": model.state_dict(), "opt": opt.state_dict(),
                                                 "gen": gen.get_state(), "state": {"step": 3, "losses": [float("nan"), 1.5]}})
    model, opt, gen = _fresh()
    saved = load_checkpoint(tmp_path / "c.safetensors")
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    gen.set_state(saved["gen"])
    assert saved["state"]["step"] == 3 and saved["opt"]["param_groups"][0]["betas"] == (0.8, 0.95)
    _steps(model, opt, gen, 2)
    assert all(torch.equal(want[k], v) for k, v in model.state_dict().items())
    with open(tmp_path / "c.safetensors", "rb") as fh:  # safetensors: an 8-byte header length, then JSON
        head = fh.read(9)
    assert head[8:9] == b"{"


def test_objects_that_need_pickle_are_refused(tmp_path):
    with pytest.raises(TypeError, match="without pickle"):
        save_checkpoint(tmp_path / "c.safetensors", {"x": object()})
    assert not (tmp_path / "c.safetensors").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_an_old_pickle_checkpoint_is_never_executed(tmp_path, monkeypatch):
    from generator.train import _load_checkpoint

    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "checkpoint.pt", "wb") as fh:
        pickle.dump({"model": _Evil()}, fh)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(tmp_path)
    assert not (tmp_path / "PWNED").exists()


def test_world_labeler_training_resumes_from_its_safetensors_checkpoint(tmp_path, monkeypatch, capsys):
    from audit.labelers import world_train

    real = world_train.evaluate

    def killed(*a, **k):
        raise KeyboardInterrupt  # stands for a kill after the last checkpoint

    monkeypatch.setattr(world_train, "evaluate", killed)
    kw = dict(out=tmp_path / "lab", n_train=256, n_eval=64, width=8, batch_size=16, progress=False, checkpoint_minutes=0)
    with pytest.raises(KeyboardInterrupt):
        world_train.train_world_labeler(steps=2, **kw)
    assert (tmp_path / "lab" / "checkpoint.safetensors").exists()
    assert load_checkpoint(tmp_path / "lab" / "checkpoint.safetensors")["state"]["step"] == 2
    monkeypatch.setattr(world_train, "evaluate", real)
    card = world_train.train_world_labeler(steps=3, **kw)
    assert "resumed from" in capsys.readouterr().out and card["training"]["steps"] == 3
    assert not (tmp_path / "lab" / "checkpoint.safetensors").exists()
