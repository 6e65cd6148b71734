"""Run-directory files: metrics.jsonl (one line per generation), atomic JSON/bytes writes, and
optional Weights & Biases."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np


def _plain(v):
    if isinstance(v, str):
        return v
    v = np.asarray(v)
    if v.size == 1:
        x = v.item()
        if isinstance(x, float) and not math.isfinite(x):
            return None  # JSON has no NaN/inf; None marks "not finite"
        return x
    return v.tolist()


class MetricsLog:
    """Appends one JSON line per generation to RUN_DIR/metrics.jsonl (and to wandb if enabled).

    enabled=False (a process of a multi-process run other than process 0) writes nothing.
    """

    def __init__(self, run_dir, wandb_run=None, enabled: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.wandb = wandb_run
        self.enabled = enabled

    def truncate(self, generation: int) -> None:
        """Keep only lines of generations < generation (used on resume so lines are not doubled)."""
        if not self.enabled or not self.path.exists():
            return
        keep = [json.dumps(r) for r in self.read() if r.get("generation", generation) < generation]
        write_bytes(self.path, "".join(line + "\n" for line in keep).encode())

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        record = {k: _plain(v) for k, v in record.items()}
        try:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:  # e.g. a full disk: say which file
            raise OSError(e.errno, e.strerror, str(self.path)) from None
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=record["generation"])

    def read(self) -> list[dict]:
        """All complete records; a line torn by a kill mid-write is skipped."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


def init_wandb(cfg, run_dir):
    """Start a wandb run if cfg.wandb; imported lazily so wandb is never needed by default
    (discover.validate has already checked that it is installed)."""
    if not cfg.wandb:
        return None
    import wandb

    from discover.config import to_dict

    return wandb.init(project=cfg.wandb_project, config=to_dict(cfg), dir=str(run_dir), name=Path(run_dir).name)


def write_bytes(path, data: bytes) -> None:
    """Write a file atomically: a temporary file, flushed to disk, then renamed over `path`."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as e:  # e.g. a full disk or a read-only directory: say which file
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path, data) -> None:
    """Write JSON atomically (see write_bytes)."""
    write_bytes(path, (json.dumps(data, indent=2, default=_plain) + "\n").encode())
