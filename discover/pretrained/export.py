"""Package a finished run's discovered objective as a named pretrained objective."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

from discover.pretrained import SHIPPED


def _commit(repo: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+uncommitted-changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _eval_summary(eval_dir: Path) -> dict | None:
    """The evaluation's statistics per cell, without the raw per-seed returns."""
    path = eval_dir / "results.json"
    if not path.is_file():
        return None
    results = json.loads(path.read_text())
    keep = ("env", "method", "multiple", "lifetime", "env_steps", "seeds", "mean", "ci_lo", "ci_hi", "iqm",
            "norm_mean", "norm_ci_lo", "norm_ci_hi", "norm_iqm", "vs_baseline")
    return dict(seeds=results["seeds"], multiples=results["multiples"], backend=results.get("backend"),
                reference_lifetime=results["reference_lifetime"],
                rows=[{k: r[k] for k in keep} for r in results["rows"]])


def export(run_dir, name: str, preset: str, description: str, dest=SHIPPED, machine: str | None = None,
           commit: str | None = None) -> Path:
    """Copy run_dir's discovered.msgpack to dest/name/params.msgpack and write provenance.json
    (preset, config, commit, generations, wall time, machine, fitness curve, the run's
    summary and the RUN_DIR/eval summary when present). commit: the commit that trained the
    run (default: this checkout's HEAD, for runs trained from it)."""
    from discover.logging import MetricsLog

    run_dir = Path(run_dir)
    records = MetricsLog(run_dir).read()
    summary = json.loads((run_dir / "summary.json").read_text())
    out = Path(dest) / name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "discovered.msgpack", out / "params.msgpack")
    prov = dict(
        name=name, description=description, preset=preset,
        config=json.loads((run_dir / "config.json").read_text()),
        commit=commit or _commit(Path(__file__).resolve().parents[2]),
        generations=len(records), wall_time_s=summary.get("wall_time_s"),
        machine=machine or f"{platform.machine()} CPU, {os.cpu_count()} cores",
        fitness_curve=[r.get("fitness_mean") for r in records],
        heldout_curve=[r.get("heldout_return") for r in records if "heldout_return" in r],
        summary=summary, evaluation=_eval_summary(run_dir / "eval"),
    )
    (out / "provenance.json").write_text(json.dumps(prov, indent=1) + "\n")
    return out
