"""The labeler card says whether a confusion matrix's own uncertainty is in the corrected intervals."""

from __future__ import annotations

import pandas as pd

from audit.report.accuracy import labeler_card_section

LABELS = pd.DataFrame({"image_id": ["a", "b"], "labeler": "w", "attribute": "presentation",
                       "value": ["feminine", "masculine"], "confidence": [0.9, 0.8]})


def _caption(conf: pd.DataFrame) -> str:
    sec = labeler_card_section(LABELS, confusions={"presentation": conf})
    return next(b.caption for b in sec.blocks if getattr(b, "name", "") == "confusion-presentation")


def test_counts_and_shares_are_named():
    idx = ["feminine", "masculine"]
    assert "carried into the corrected intervals" in _caption(pd.DataFrame([[90, 10], [5, 95]], index=idx, columns=idx))
    assert "taken as exact" in _caption(pd.DataFrame([[0.9, 0.1], [0.05, 0.95]], index=idx, columns=idx))
