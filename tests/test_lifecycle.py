"""Run lifecycle: run-directory contents, determinism, kill-and-resume, corrupt checkpoints.

The fast tests share one tiny finished run made with the `discover` CLI in a subprocess. The
runs they compare it with also run in subprocesses sharing a persistent XLA compilation cache
(per test module), so only the first one pays for compilation; a cached executable is the same
program, so bit-for-bit comparisons of separate processes stay meaningful. The slow test kills a
real quickstart run with SIGKILL and resumes it, without any cache.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import serialization

import discover.meta.run as run_mod
from discover import checkpoint
from discover.checkpoint import CheckpointError
from discover.config import RunConfig, apply_overrides, from_dict
from discover.presets import get_preset

# quickstart (TA-LPO on CartPole), made tiny; centered ranks so the ES mean moves every
# generation (with win/loss, tied twins give no update and every run would trivially agree).
TINY = [
    "--generations", "4",
    "--checkpoint_every", "1",
    "--lifetime.lifetime", "3",
    "--lifetime.num_envs", "2",
    "--lifetime.rollout_len", "8",
    "--lifetime.eval_envs", "2",
    "--lifetime.eval_steps", "50",
    "--es.population", "4",
    "--es.shaping", "centered_rank",
]  # fmt: skip
METRIC_KEYS = ("generation", "fitness_mean", "fitness_max", "fitness_min", "sigma", "wall_time", "env_steps")


def _pairs(args):
    return [(args[i][2:], args[i + 1]) for i in range(0, len(args), 2)]


def tiny_cfg() -> RunConfig:
    return apply_overrides(get_preset("quickstart"), _pairs(TINY))


def cli(args, cwd, cache_dir=None, timeout=600):
    """Run `discover ARGS` in a fresh Python (which imports discover before any computation)."""
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache_dir is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir)
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    return subprocess.run(
        [sys.executable, "-m", "discover.cli", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _ok(proc):
    assert proc.returncode == 0, f"rc={proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


def _records(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line]


def _discovered(run_dir):
    """The discovered parameters as a flat list of numpy arrays (deserialised with flax)."""
    data = (Path(run_dir) / "discovered.msgpack").read_bytes()
    return [np.asarray(x) for x in jax.tree.leaves(serialization.msgpack_restore(data))]


def _assert_same_params(a, b):
    pa, pb = _discovered(a), _discovered(b)
    assert len(pa) == len(pb) and len(pa) > 0
    for x, y in zip(pa, pb):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert (Path(a) / "discovered.msgpack").read_bytes() == (Path(b) / "discovered.msgpack").read_bytes()


def _assert_same_metrics(a, b, n):
    ra, rb = _records(a), _records(b)
    assert [r["generation"] for r in ra] == list(range(n)) == [r["generation"] for r in rb]
    strip = lambda rs: [{k: v for k, v in r.items() if k != "wall_time"} for r in rs]
    assert strip(ra) == strip(rb)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("xla_cache")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, cache_dir):
    """A finished tiny run made by `discover train --preset quickstart ...`."""
    work = tmp_path_factory.mktemp("finished")
    out = work / "run"
    _ok(cli(["train", "--preset", "quickstart", "--out", out, *TINY], cwd=work, cache_dir=cache_dir))
    return out


def test_run_directory_contents(finished_run):
    d = finished_run
    for name in ("config.json", "metrics.jsonl", "summary.json", "discovered.msgpack", "meta_training.png", "drift.png"):
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name
    for png in ("meta_training.png", "drift.png"):
        assert (d / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # config.json round-trips to the very RunConfig the CLI built
    cfg = from_dict(RunConfig, json.loads((d / "config.json").read_text()))
    assert cfg == tiny_cfg()
    assert run_mod.load_config(d) == cfg
    # one metrics line per generation, with the documented fields, finite
    records = _records(d)
    assert [r["generation"] for r in records] == [0, 1, 2, 3]
    steps = cfg.lifetime.lifetime * cfg.lifetime.num_envs * cfg.lifetime.rollout_len * cfg.es.population
    for r in records:
        for k in METRIC_KEYS:
            assert k in r and r[k] is not None and np.isfinite(r[k]), (k, r)
        assert r["fitness_min"] <= r["fitness_mean"] <= r["fitness_max"]
        assert r["sigma"] == pytest.approx(cfg.es.sigma)
        assert r["env_steps"] == steps
        assert r["wall_time"] > 0
    # checkpoints pruned to the last three
    assert (d / "checkpoints").is_dir()
    assert checkpoint.list_checkpoints(d) == [2, 3, 4]
    summary = json.loads((d / "summary.json").read_text())
    assert summary["generations"] == 4 and summary["objective"] == "ta-lpo" and summary["env"] == "CartPole-v1"
    assert summary["env_steps"] == 4 * steps
    assert summary["first_fitness_mean"] == records[0]["fitness_mean"]
    assert summary["last_fitness_mean"] == records[-1]["fitness_mean"]
    for k in ("eval_return_init", "eval_return_discovered", "eval_return_ppo", "wall_time_s"):
        assert np.isfinite(summary[k]), k


def test_discovered_params_are_the_final_es_mean(finished_run):
    cfg = run_mod.load_config(finished_run)
    built = run_mod.build(cfg)
    k_init, k_obj, _, _ = run_mod._keys(cfg)
    init_params = built.objective.init(k_obj)
    target = built.meta.init(k_init, init_params)
    gen, state = checkpoint.restore(finished_run, target)
    assert gen == 4 and int(state.generation) == 4
    _, params = run_mod.load_discovered(finished_run, cfg)
    final = built.meta.mean(state)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(final)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # ... and meta-training moved it away from the initial objective
    moved = [not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(init_params))]
    assert any(moved)


def test_same_seed_twice_gives_identical_params(finished_run, cache_dir, tmp_path):
    out = tmp_path / "again"
    _ok(cli(["train", "--preset", "quickstart", "--out", out, *TINY], cwd=tmp_path, cache_dir=cache_dir))
    _assert_same_params(finished_run, out)
    _assert_same_metrics(finished_run, out, 4)
    a, b = (json.loads((p / "summary.json").read_text()) for p in (finished_run, out))
    for k in ("eval_return_init", "eval_return_discovered", "eval_return_ppo", "last_fitness_mean"):
        assert a[k] == b[k], k


def test_cli_refuses_to_overwrite_a_run(finished_run, capsys):
    from discover.cli import main

    before = (finished_run / "metrics.jsonl").read_bytes()
    assert main(["train", "--preset", "quickstart", "--out", str(finished_run)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--resume" in lines[0]
    assert (finished_run / "metrics.jsonl").read_bytes() == before


# The API-level variant: train(stop_after=k) then train(resume=True), both in one Python process.
# It runs in a subprocess only to share the compilation cache of the finished run.
_STOP_RESUME = """
import dataclasses, json, sys
import discover  # before any computation (XLA:CPU workaround)
from discover import checkpoint
from discover.meta.run import train
from tests.test_lifecycle import tiny_cfg

run_dir = sys.argv[1]
# checkpoint_every does not change results; 2 here so the stop (after 3) is past the last checkpoint
cfg = dataclasses.replace(tiny_cfg(), checkpoint_every=2)
out = {"stopped": train(cfg, run_dir, progress=False, stop_after=3)}
out["ckpts_after_stop"] = checkpoint.list_checkpoints(run_dir)
out["lines_after_stop"] = [json.loads(l)["generation"] for l in open(run_dir + "/metrics.jsonl") if l.strip()]
out["summary"] = train(cfg, run_dir, resume=True, progress=False)
out["ckpts_after_resume"] = checkpoint.list_checkpoints(run_dir)
print("RESULT " + json.dumps(out))
"""


def test_stop_and_resume_via_api_matches_uninterrupted(finished_run, cache_dir, tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache_dir), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    proc = _ok(subprocess.run([sys.executable, "-c", _STOP_RESUME, str(run_dir)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600))  # fmt: skip
    out = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["stopped"] == {}  # stop_after returns before finishing
    assert out["ckpts_after_stop"] == [2]
    assert out["lines_after_stop"] == [0, 1, 2]  # generation 2 was logged but not checkpointed
    # generation 2 was rerun from the checkpoint and its line not doubled
    assert [r["generation"] for r in _records(run_dir)] == [0, 1, 2, 3]
    assert out["ckpts_after_resume"] == [2, 4]
    assert out["summary"]["generations"] == 4
    _assert_same_params(finished_run, run_dir)
    _assert_same_metrics(finished_run, run_dir, 4)
    summary = json.loads((finished_run / "summary.json").read_text())
    assert out["summary"]["eval_return_discovered"] == summary["eval_return_discovered"]


def test_resume_truncation_tolerates_a_torn_metrics_line(tmp_path):
    """A run killed in the middle of appending to metrics.jsonl leaves a partial last line;
    resuming (which truncates the log to the checkpoint's generation) must not fail on it."""
    from discover.logging import MetricsLog

    log = MetricsLog(tmp_path)
    for g in range(4):
        log.write({"generation": g, "fitness_mean": float(g)})
    with log.path.open("a") as f:
        f.write('{"generation": 4, "fitness_me')
    log.truncate(2)
    assert [r["generation"] for r in log.read()] == [0, 1]
    log.write({"generation": 2, "fitness_mean": 2.0})
    assert [r["generation"] for r in log.read()] == [0, 1, 2]


def _latest_ckpt(run_dir) -> Path:
    return Path(run_dir) / "checkpoints" / f"gen_{checkpoint.list_checkpoints(run_dir)[-1]:06d}"


def _corrupt(run_dir, how):
    if how == "truncate_metadata":
        f = _latest_ckpt(run_dir) / "_METADATA"
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif how == "garble_data":  # the largest file holds the arrays
        f = max((p for p in _latest_ckpt(run_dir).rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        f.write_bytes(bytes(b ^ 0x5A for b in f.read_bytes()))
    elif how == "no_checkpoints":
        shutil.rmtree(Path(run_dir) / "checkpoints")
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncate_metadata", "garble_data", "no_checkpoints"])
def test_corrupt_checkpoint_raises_checkpoint_error(finished_run, tmp_path, how):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "discovered.msgpack").unlink()
    _corrupt(run_dir, how)
    before = (run_dir / "metrics.jsonl").read_bytes()
    with pytest.raises(CheckpointError) as info:
        run_mod.train(tiny_cfg(), run_dir, resume=True, progress=False)
    assert "\n" not in str(info.value) and str(info.value)
    # nothing was started afresh or rewritten
    assert (run_dir / "metrics.jsonl").read_bytes() == before
    assert not (run_dir / "discovered.msgpack").exists()


def test_cli_resume_of_missing_checkpoints_is_one_error_line(finished_run, tmp_path, capsys):
    from discover.cli import main

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    _corrupt(run_dir, "no_checkpoints")
    assert main(["train", "--resume", str(run_dir)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "no checkpoint" in lines[0]


def test_cli_resume_of_corrupt_run_is_one_error_line(finished_run, tmp_path):
    """In a real process: orbax's leftover callbacks must not add tracebacks to stderr."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    _corrupt(run_dir, "garble_data")
    proc = cli(["train", "--resume", run_dir], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "checkpoint" in lines[0]


@pytest.mark.slow
def test_cli_kill_and_resume_matches_uninterrupted(tmp_path):
    """SIGKILL `discover train` after its generation-4 checkpoint, resume, compare bit for bit."""
    args = ["--preset", "quickstart", "--generations", "8", "--checkpoint_every", "2"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    _ok(cli(["train", "--out", full, *args], cwd=tmp_path))

    proc = subprocess.Popen(
        [sys.executable, "-m", "discover.cli", "train", "--out", str(killed), *args],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"},
    )  # fmt: skip
    try:
        deadline = time.time() + 300
        while 4 not in checkpoint.list_checkpoints(killed):
            assert proc.poll() is None, f"run exited early with {proc.returncode}"
            assert time.time() < deadline, "no generation-4 checkpoint within 300 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "discovered.msgpack").exists(), "the run finished before it was killed"
    have = checkpoint.list_checkpoints(killed)
    assert 4 in have and max(have) < 8 and len(have) <= 3

    _ok(cli(["train", "--resume", killed], cwd=tmp_path))
    _assert_same_params(full, killed)
    _assert_same_metrics(full, killed, 8)
    assert checkpoint.list_checkpoints(killed) == [4, 6, 8]
    assert json.loads((killed / "summary.json").read_text())["generations"] == 8
