"""Run-directory logging: metrics.jsonl (one line per generation) and optional Weights & Biases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def _plain(v):
    v = np.asarray(v)
    if v.size == 1:
        x = v.item()
        if isinstance(x, float) and not math.isfinite(x):
            return None  # JSON has no NaN/inf; None marks "not finite"
        return x
    return v.tolist()


class MetricsLog:
    """Appends one JSON line per generation to RUN_DIR/metrics.jsonl (and to wandb if enabled)."""

    def __init__(self, run_dir, wandb_run=None):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.wandb = wandb_run

    def truncate(self, generation: int) -> None:
        """Keep only lines of generations < generation (used on resume so lines are not doubled)."""
        if not self.path.exists():
            return
        keep = [json.dumps(r) for r in self.read() if r.get("generation", generation) < generation]
        self.path.write_text("".join(line + "\n" for line in keep))

    def write(self, record: dict) -> None:
        record = {k: _plain(v) for k, v in record.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=record["generation"])

    def read(self) -> list[dict]:
        """All complete records; a line torn by a kill mid-write is skipped."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records


def init_wandb(cfg, run_dir):
    """Start a wandb run if cfg.wandb; imported lazily so wandb is never needed by default."""
    if not cfg.wandb:
        return None
    try:
        import wandb
    except ImportError:
        raise SystemExit("wandb=true needs the wandb package: pip install 'discover[wandb]'")
    from discover.config import to_dict

    return wandb.init(project=cfg.wandb_project, config=to_dict(cfg), dir=str(run_dir), name=Path(run_dir).name)


def write_json(path, data) -> None:
    """Write JSON atomically (temp file then rename)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_plain) + "\n")
    tmp.replace(path)
