"""The diffusers adapter end to end on a tiny random Stable Diffusion pipeline (no download)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from audit.errors import UserError
from generator.adapters.base import Generator, Settings, parse_sweep
from generator.api import builtin_adapter
from generator.adapters.diffusers_adapter import DiffusersAdapter
from audit.registry import make_generator
from generator.adapters.tiny import save_tiny_stable_diffusion


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One torch thread: on a shared 2-core machine more threads only contend."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny"))


def _arrays(images):
    return [np.asarray(im) for im in images]


def test_generates_one_image_per_prompt_deterministically(tiny_sd):
    adapter = make_generator(f"diffusers:{tiny_sd}", steps=2, guidance=4.0)
    assert isinstance(adapter, Generator)
    prompts = ["a photo of a nurse", "a photo of a chef", "a photo of a nurse"]
    first = adapter.generate(prompts, seeds=[1, 2, 3], settings=Settings())
    assert [im.size for im in first] == [(16, 16)] * 3 and all(im.mode == "RGB" for im in first)
    again = adapter.generate(prompts[::-1], seeds=[3, 2, 1], settings=Settings())
    for a, b in zip(_arrays(first), _arrays(again)[::-1]):
        np.testing.assert_array_equal(a, b)  # image i depends on its own prompt and seed only
    assert not np.array_equal(_arrays(first)[0], _arrays(first)[2])  # same prompt, other seed


def test_settings_change_the_images(tiny_sd):
    adapter = DiffusersAdapter(tiny_sd, steps=2, guidance=4.0)
    base = _arrays(adapter.generate(["a chef"], seeds=[5], settings=Settings()))[0]
    for settings in (Settings(guidance=1.0), Settings(steps=3), Settings(scheduler="euler"),
                     Settings(thresholding="static")):
        other = _arrays(adapter.generate(["a chef"], seeds=[5], settings=settings))[0]
        assert not np.array_equal(base, other), settings.label
    # the default scheduler comes back after a sweep point changed it
    np.testing.assert_array_equal(base, _arrays(adapter.generate(["a chef"], seeds=[5], settings=Settings()))[0])


def test_unknown_scheduler_is_a_user_error(tiny_sd):
    adapter = DiffusersAdapter(tiny_sd, steps=2)
    with pytest.raises(UserError, match="unknown scheduler 'nope'"):
        adapter.generate(["a"], seeds=[0], settings=Settings(scheduler="nope"))


def test_pickles_without_the_model_and_reloads(tiny_sd):
    adapter = DiffusersAdapter(tiny_sd, steps=2)
    image = adapter.generate(["a baker"], seeds=[9], settings=Settings())[0]
    clone = pickle.loads(pickle.dumps(adapter))
    assert clone._pipe is None
    np.testing.assert_array_equal(np.asarray(image),
                                  np.asarray(clone.generate(["a baker"], seeds=[9], settings=Settings())[0]))


def test_config_records_recipe_and_fingerprint(tiny_sd, tmp_path):
    config = DiffusersAdapter(tiny_sd, steps=3, guidance=2.0).config()
    assert config["kind"] == "diffusers" and config["steps"] == 3 and config["guidance"] == 2.0
    assert len(config["fingerprint"]) == 64
    other = save_tiny_stable_diffusion(tmp_path, seed=1)
    assert DiffusersAdapter(other).config()["fingerprint"] != config["fingerprint"]


def test_missing_model_names_the_fix(tmp_path):
    with pytest.raises(UserError, match="cannot load the pipeline.*fix"):
        DiffusersAdapter(tmp_path / "nothing").generate(["a"], seeds=[0], settings=Settings())
    with pytest.raises(UserError, match="no cascade pipeline here"):
        builtin_adapter(path=tmp_path / "nothing")
    with pytest.raises(UserError, match="not understood"):
        make_generator("midjourney")


def test_parse_sweep_product_and_errors():
    labels = [s.label for s in parse_sweep(["guidance=1,4,8", "scheduler=ddim,pndm"])]
    assert len(labels) == 6 and labels[0] == "guidance=1,scheduler=ddim"
    assert parse_sweep(None) == [Settings()]
    for bad, msg in (["steps=0"], ">= 1"), (["guidance=x"], "not a float"), (["color=red"], "unknown key"), \
            (["thresholding=soft"], "not one of"), (["guidance=1", "guidance=2"], "twice"):
        with pytest.raises(UserError, match=msg):
            parse_sweep(bad)
