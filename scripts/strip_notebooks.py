"""Strip outputs, execution counts and run metadata from notebooks (commit notebooks without outputs).

Usage::

    python scripts/strip_notebooks.py              # strip notebooks/*.ipynb in place
    python scripts/strip_notebooks.py --check      # exit 1 listing notebooks that still hold outputs
    python scripts/strip_notebooks.py a.ipynb b.ipynb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def strip(nb) -> bool:
    """Clear outputs, execution counts and per-run cell metadata in place; return whether anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.outputs or cell.execution_count is not None:
                cell.outputs, cell.execution_count, changed = [], None, True
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    for key in ("widgets", "papermill"):
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if a notebook holds outputs")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if strip(nb):
            dirty.append(path)
            if not args.check:
                tmp = path.with_name(f".tmp-{path.name}")
                nbformat.write(nb, tmp)
                tmp.replace(path)
    for path in dirty:
        print(f"{path}: {'holds outputs (fix: python scripts/strip_notebooks.py)' if args.check else 'stripped'}")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
