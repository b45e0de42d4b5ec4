"""ITA -> Monk tone on a real portrait under skin-tone and brightness shifts.

Moves the skin of scikit-image's astronaut's face to each Monk swatch in CIELAB
(texture kept, :func:`audit.labelers.faces_eval.shift_skin`), scales the
brightness, and prints the Monk tone (and ITA degrees) the ITA labeler reads,
with the share read exactly and within one tone per brightness.

    python benchmarks/ita_lighting.py
"""

from __future__ import annotations

import numpy as np


def main() -> int:
    from skimage import data

    from audit.labelers.faces_eval import BRIGHTNESS, shift_skin
    from audit.labelers.ita import ITALabeler

    lab = ITALabeler()
    astro = data.astronaut()
    box = (170.0, 70.0, 285.0, 185.0)
    print("target MST -> MST read (ITA degrees) at brightness " + " / ".join(map(str, BRIGHTNESS)))
    read = np.zeros((10, len(BRIGHTNESS)), int)
    for tone in range(1, 11):
        shifted = shift_skin(astro, tone=tone, box=box)
        cells = []
        for j, b in enumerate(BRIGHTNESS):
            img = np.clip(shifted.astype(np.float32) * b, 0, 255).astype(np.uint8)
            df = lab.label([img], image_ids=["a"]).set_index("attribute")
            v = df.loc["skin_tone", "value"]
            read[tone - 1, j] = int(v) if v.isdigit() else 0
            cells.append(f"{v}({df.loc['ita', 'value']})")
        print(f"{tone:>2}  " + "  ".join(cells))
    target = np.arange(1, 11)[:, None]
    for j, b in enumerate(BRIGHTNESS):
        print(f"brightness {b}: exact {np.mean(read[:, j] == target[:, 0]):.1f}, "
              f"within one {np.mean(np.abs(read[:, j] - target[:, 0]) <= 1):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
