"""analysis.ipynb executes end to end against the committed results (needs the notebook extra)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
nbformat = pytest.importorskip("nbformat", reason="notebook extra not installed")
nbclient = pytest.importorskip("nbclient", reason="notebook extra not installed")


def test_committed_notebook_executes_without_errors():
    nb = nbformat.read(ROOT / "analysis.ipynb", as_version=4)
    assert any(c.cell_type == "code" and c.get("outputs") for c in nb.cells), "committed without outputs"
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_notebook_source_matches_builder():
    """The committed notebook is the one scripts/make_notebook.py builds (no hand edits drift)."""
    from scripts import make_notebook
    built = [c.source for c in make_notebook.build().cells]
    committed = [c.source for c in nbformat.read(ROOT / "analysis.ipynb", as_version=4).cells]
    assert committed == built
