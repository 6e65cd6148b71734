"""Helpers shared by the run tests: a tiny quickstart config and the `discover` CLI in a fresh
Python process, with an optional persistent compilation cache.

A cached executable is the same program, so bit-for-bit comparisons of separate processes that
share a cache stay meaningful; only the first process pays for compilation.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from discover.config import RunConfig, apply_overrides
from discover.presets import get_preset

ROOT = Path(__file__).resolve().parents[1]

# quickstart (TA-LPO on CartPole), made tiny; centered ranks so the ES mean moves every
# generation (with win/loss, tied twins give no update and every run would trivially agree).
# Evaluation keeps CartPole's episode limit (shorter is refused), 2 envs.
TINY = [
    "--generations", "4",
    "--checkpoint_every", "1",
    "--heldout_every", "2",
    "--lifetime.lifetime", "3",
    "--lifetime.num_envs", "2",
    "--lifetime.rollout_len", "8",
    "--lifetime.eval_envs", "2",
    "--es.population", "4",
    "--es.shaping", "centered_rank",
]  # fmt: skip
METRIC_KEYS = ("generation", "fitness_mean", "fitness_max", "fitness_min", "sigma", "wall_time", "env_steps", "mean_norm")


def pairs(args):
    return [(args[i][2:], args[i + 1]) for i in range(0, len(args), 2)]


def tiny_cfg() -> RunConfig:
    return apply_overrides(get_preset("quickstart"), pairs(TINY))


def env_for(cache_dir=None, **extra) -> dict:
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["DISCOVER_COMPILATION_CACHE"] = "0"
    if cache_dir is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir)
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def cli(args, cwd, cache_dir=None, timeout=600, **env):
    """Run `discover ARGS` in a fresh Python (the console script's entry: signals handled)."""
    return subprocess.run(
        [sys.executable, "-m", "discover.cli", *map(str, args)],
        cwd=cwd, env=env_for(cache_dir, **env), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def python(code, *args, cwd, cache_dir=None, timeout=600, **env):
    """Run a Python snippet in a fresh process (tests patch the library there)."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=env_for(cache_dir, **env),
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def ok(proc):
    assert proc.returncode == 0, f"rc={proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def one_error_line(proc, code=2, *contains) -> str:
    lines = error_lines(proc.stderr)
    assert proc.returncode == code, f"rc={proc.returncode}, stderr={proc.stderr[-2000:]!r}"
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for c in contains:
        assert c in lines[0], (c, lines[0])
    return lines[0]


def records(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line]


def discovered(run_dir, name="discovered.msgpack"):
    """Stored objective parameters as a flat list of numpy arrays (deserialised with flax)."""
    data = (Path(run_dir) / name).read_bytes()
    return [np.asarray(x) for x in jax.tree.leaves(serialization.msgpack_restore(data))]


def assert_same_params(a, b):
    pa, pb = discovered(a), discovered(b)
    assert len(pa) == len(pb) and len(pa) > 0
    for x, y in zip(pa, pb):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert (Path(a) / "discovered.msgpack").read_bytes() == (Path(b) / "discovered.msgpack").read_bytes()


def assert_same_metrics(a, b, n):
    ra, rb = records(a), records(b)
    assert [r["generation"] for r in ra] == list(range(n)) == [r["generation"] for r in rb]
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("wall_time", "heldout_s")} for r in rs]
    assert strip(ra) == strip(rb)


def fake_run(path, kind="train", cfg_data=None):
    """A run directory as `discover train` leaves it before its first checkpoint (or, with
    kind="baseline", a baseline run's marker), holding the tiny config."""
    from discover.config import to_dict
    from discover.validate import resolve

    path = Path(path)
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(cfg_data or to_dict(resolve(tiny_cfg())), indent=2))
    (path / "run.json").write_text(json.dumps({"kind": kind, "format": 1}))
    return path


def snapshot(run_dir) -> dict:
    """Every file of a directory (relative path -> bytes), to check that nothing changed."""
    run_dir = Path(run_dir)
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}
