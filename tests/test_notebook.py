"""The quickstart notebook runs top to bottom (as CI's fresh venv would run it) and shows its figures."""

import os
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[1] / "experiments" / "notebooks" / "quickstart.ipynb"
# Its own limit inside the suite's budget: about 1.5 minutes on 2 idle CPU cores.
TIME_LIMIT_S = 420


def test_quickstart_notebook_runs_and_shows_figures(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    # `!discover ...` cells need this interpreter's console scripts on PATH, activated or not.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=TIME_LIMIT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.time() - t0
    assert elapsed < TIME_LIMIT_S, elapsed
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            if out.get("name") == "stdout":
                assert "error:" not in out["text"], out["text"]
    run = tmp_path / "runs" / "notebook-quickstart"
    for name in ("meta_training.png", "drift.png", "eval/horizons.png", "eval/env_bars.png",
                 "eval/learning_curves.png", "pretrained_curve.png", "eval/summary.csv"):
        assert (run / name).stat().st_size > 1000, name
    shown = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(shown) == 5 and all(len(o["data"]["image/png"]) > 10_000 for o in shown)
