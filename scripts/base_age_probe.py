"""Can the base stage's low-res samples show age? A probe classifier at the base resolution.

Trains a small CNN to read the age group of balanced world renders downsampled to the base
resolution (16 px for ``base-16``), reports its accuracy on held-out downsampled renders
(how much age a perfect low-res image can carry), then reads the base stage's own samples
for "a photo of a {young|middle-aged|elderly} {profession}" (how much age the base draws).

    python scripts/base_age_probe.py --weights CASCADE [--n-train 22000] [--steps 3000] [--guidance 4]

Prints JSON. Measured 2026-11-22 (candidate base 8,494 steps, guidance 4): held-out renders
88.9%, base samples 84.0% (young 93.8%, middle-aged 70.8%, elderly 87.5%).
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def probe_net(size: int):
    """The probe: three conv layers and a two-layer head, for ``size`` x ``size`` inputs."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 48, 3, padding=1), nn.GELU(), nn.Conv2d(48, 96, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
        nn.Conv2d(96, 128, 3, padding=1), nn.GELU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(128 * (size // 4) ** 2, 256), nn.GELU(), nn.Linear(256, 3))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="cascade pipeline folder (default: the shipped one)")
    ap.add_argument("--n-train", type=int, default=22000, help="balanced training renders")
    ap.add_argument("--n-eval", type=int, default=2000, help="held-out renders")
    ap.add_argument("--steps", type=int, default=3000, help="probe training steps (batch 128)")
    ap.add_argument("--per-prompt", type=int, default=2, help="base samples per age prompt")
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from audit.labelers.world_train import render_pool
    from generator.api import load_cascade
    from generator.cascade import from_uint8, stage_resolution
    from generator.evaluate import probe_prompts
    from generator.world.vocab import AGE_GROUPS

    torch.manual_seed(args.seed)
    pipe = load_cascade(args.weights)
    size = stage_resolution(pipe.base_unet)
    images, attrs = render_pool(args.n_train + args.n_eval, seed=args.seed, progress=False)
    y = torch.tensor([AGE_GROUPS.index(a) for a in attrs.age_group])
    x = F.interpolate(from_uint8(images), size=size, mode="area")
    net = probe_net(size)
    opt = torch.optim.AdamW(net.parameters(), 2e-3)
    gen = torch.Generator().manual_seed(args.seed)
    for _ in tqdm(range(args.steps), desc="train age probe", unit="step"):
        idx = torch.randint(0, args.n_train, (128,), generator=gen)
        batch = x[idx] + 0.03 * torch.randn(len(idx), 3, size, size, generator=gen)
        loss = F.cross_entropy(net(batch), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    prompts = probe_prompts(per_prompt=args.per_prompt)
    prompts = prompts[prompts.kind == "age_group"].reset_index(drop=True)
    _, low = pipe(prompts.prompt.tolist(), guidance_scale=args.guidance, output_type="np", return_low_res=True,
                  sr_steps=1, generator=[torch.Generator().manual_seed(int(s)) for s in prompts.seed])
    ages = np.asarray(AGE_GROUPS)
    with torch.no_grad():
        held_out = net(x[args.n_train:]).argmax(1)
        read = ages[net(from_uint8(low)).argmax(1).numpy()]
    asked = prompts.asked.to_numpy()
    print(json.dumps({
        "size": size, "guidance": args.guidance,
        "held_out_renders": float((held_out == y[args.n_train:]).float().mean()),
        "base_samples": float(np.mean(read == asked)),
        "base_samples_by_age": {a: float(np.mean(read[asked == a] == a)) for a in ages},
        "n_samples": len(asked),
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
