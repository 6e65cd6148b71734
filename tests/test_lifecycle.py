"""Run lifecycle: run-directory contents, determinism, stop-and-resume, damaged checkpoints.

The fast tests share one tiny finished run made with the `discover` CLI in a subprocess
(conftest.finished_run). The runs they compare it with also run in subprocesses sharing its
persistent XLA compilation cache, so only the first one pays for compilation. The slow test
kills a real quickstart run with SIGKILL and resumes it, without any cache.
"""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import discover.meta.run as run_mod
from discover import checkpoint
from discover.checkpoint import CheckpointError
from discover.config import RunConfig, from_dict
from discover.validate import resolve
from tests.runs import (
    METRIC_KEYS,
    TINY,
    assert_same_metrics,
    assert_same_params,
    cli,
    discovered,
    env_for,
    ok,
    python,
    records,
    tiny_cfg,
)


def test_run_directory_contents(finished_run):
    d = finished_run
    for name in ("config.json", "metrics.jsonl", "summary.json", "discovered.msgpack", "initial.msgpack", "run.json",
                 "meta_training.png", "drift.png"):  # fmt: skip
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name
    for png in ("meta_training.png", "drift.png"):
        assert (d / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # config.json is the resolved RunConfig the CLI built (eval_steps 0 -> CartPole's 500)
    cfg = from_dict(RunConfig, json.loads((d / "config.json").read_text()))
    assert cfg == resolve(tiny_cfg()) and cfg.lifetime.eval_steps == 500
    assert run_mod.load_config(d) == cfg
    assert json.loads((d / "run.json").read_text())["kind"] == "train"
    # one metrics line per generation, with the documented fields, finite
    recs = records(d)
    assert [r["generation"] for r in recs] == [0, 1, 2, 3]
    steps = cfg.lifetime.lifetime * cfg.lifetime.num_envs * cfg.lifetime.rollout_len * cfg.es.population
    for r in recs:
        for k in METRIC_KEYS:
            assert k in r and r[k] is not None and np.isfinite(r[k]), (k, r)
        assert r["fitness_min"] <= r["fitness_mean"] <= r["fitness_max"]
        assert r["sigma"] == pytest.approx(cfg.es.sigma)
        assert r["env_steps"] == steps
        assert r["wall_time"] > 0
    # the ES mean on the held-back tasks every heldout_every=2 generations; the last one is the
    # summary's "discovered" (same tasks, same keys, same parameters)
    assert [("heldout_return" in r) for r in recs] == [False, True, False, True]
    summary = json.loads((d / "summary.json").read_text())
    assert recs[-1]["heldout_return"] == summary["eval_return_discovered"]
    # checkpoints pruned to the last three
    assert checkpoint.list_checkpoints(d) == [2, 3, 4]
    assert summary["generations"] == 4 and summary["objective"] == "ta-lpo" and summary["env"] == "CartPole-v1"
    assert summary["env_steps"] == 4 * steps
    assert summary["first_fitness_mean"] == recs[0]["fitness_mean"]
    assert summary["last_fitness_mean"] == recs[-1]["fitness_mean"]
    assert summary["wall_time_s"] == pytest.approx(sum(r["wall_time"] for r in recs) + sum(r.get("heldout_s", 0) for r in recs))
    for k in ("eval_return_init", "eval_return_discovered", "eval_return_ppo", "wall_time_s"):
        assert np.isfinite(summary[k]), k


def test_discovered_and_initial_params(finished_run):
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
    # initial.msgpack is what ES started from
    _, initial = run_mod.load_initial(finished_run, cfg)
    for a, b in zip(jax.tree.leaves(initial), jax.tree.leaves(init_params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # ... and meta-training moved away from it
    assert any(not np.array_equal(a, b) for a, b in zip(discovered(finished_run), discovered(finished_run, "initial.msgpack")))


def test_same_seed_twice_gives_identical_params(finished_run, cache_dir, tmp_path):
    out = tmp_path / "again"
    ok(cli(["train", "--preset", "quickstart", "--out", out, *TINY], cwd=tmp_path, cache_dir=cache_dir))
    assert_same_params(finished_run, out)
    assert_same_metrics(finished_run, out, 4)
    a, b = (json.loads((p / "summary.json").read_text()) for p in (finished_run, out))
    for k in ("eval_return_init", "eval_return_discovered", "eval_return_ppo", "last_fitness_mean"):
        assert a[k] == b[k], k


# The API-level variant: train(stop_after=k) then train(resume=True), both in one Python process.
# It runs in a subprocess only to share the compilation cache of the finished run.
_STOP_RESUME = """
import dataclasses, json, sys
import discover  # before any computation (XLA:CPU workaround)
from discover import checkpoint
from discover.meta.run import train
from tests.runs import tiny_cfg

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
    proc = ok(python(_STOP_RESUME, run_dir, cwd=tmp_path, cache_dir=cache_dir))
    out = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["stopped"] == {}  # stop_after returns before finishing
    assert out["ckpts_after_stop"] == [2]
    assert out["lines_after_stop"] == [0, 1, 2]  # generation 2 was logged but not checkpointed
    # generation 2 was rerun from the checkpoint and its line not doubled
    assert [r["generation"] for r in records(run_dir)] == [0, 1, 2, 3]
    assert out["ckpts_after_resume"] == [2, 4]
    assert out["summary"]["generations"] == 4
    assert_same_params(finished_run, run_dir)
    assert_same_metrics(finished_run, run_dir, 4)
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


def _ckpt(run_dir, gen) -> Path:
    return Path(run_dir) / "checkpoints" / f"gen_{gen:06d}"


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def _damage(run_dir, gen, how):
    d = _ckpt(run_dir, gen)
    if how == "flip_data_byte":
        flip_byte(d / "arrays.npz")
    elif how == "truncate_manifest":
        f = d / "manifest.json"
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif how == "delete_data":
        (d / "arrays.npz").unlink()
    else:
        raise AssertionError(how)


def _target(cfg):
    built = run_mod.build(cfg)
    k_init, k_obj, _, _ = run_mod._keys(cfg)
    return built.meta.init(k_init, built.objective.init(k_obj))


@pytest.mark.parametrize("how", ["flip_data_byte", "truncate_manifest", "delete_data"])
def test_damaged_newest_checkpoint_falls_back_with_a_warning(finished_run, tmp_path, how):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    _damage(run_dir, 4, how)
    skipped = []
    target = _target(tiny_cfg())
    gen, state = checkpoint.restore(run_dir, target, on_skip=lambda g, why: skipped.append((g, why)))
    assert gen == 3 and int(state.generation) == 3
    assert [g for g, _ in skipped] == [4] and skipped[0][1]
    # with every checkpoint damaged there is nothing to fall back to: one line, never a fresh start
    for g in (2, 3):
        _damage(run_dir, g, how)
    with pytest.raises(CheckpointError) as info:
        checkpoint.restore(run_dir, target, on_skip=lambda g, why: None)
    msg = str(info.value)
    assert "\n" not in msg and "no intact checkpoint" in msg and "generation 0" in msg


def test_cli_resume_of_damaged_run_is_one_error_line_and_changes_nothing(finished_run, tmp_path):
    """In a real process: every checkpoint damaged -> one line, exit 2, no file changed."""
    from tests.runs import one_error_line, snapshot

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "summary.json").unlink()  # so resuming would have work to do
    for g in checkpoint.list_checkpoints(run_dir):
        _damage(run_dir, g, "flip_data_byte")
    before = snapshot(run_dir)
    line = one_error_line(cli(["train", "--resume", run_dir], cwd=tmp_path), 2, "checksum")
    assert "no intact checkpoint" in line
    after = snapshot(run_dir)
    assert {k: v for k, v in after.items() if k != ".lock"} == {k: v for k, v in before.items() if k != ".lock"}


@pytest.mark.slow
def test_cli_kill_and_resume_matches_uninterrupted(tmp_path):
    """SIGKILL `discover train` after its generation-4 checkpoint, resume, compare bit for bit."""
    args = ["--preset", "quickstart", "--generations", "8", "--checkpoint_every", "2"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    ok(cli(["train", "--out", full, *args], cwd=tmp_path))

    proc = subprocess.Popen(
        [sys.executable, "-m", "discover.cli", "train", "--out", str(killed), *args],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env_for(None),
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

    ok(cli(["train", "--resume", killed], cwd=tmp_path))
    assert_same_params(full, killed)
    assert_same_metrics(full, killed, 8)
    assert checkpoint.list_checkpoints(killed) == [4, 6, 8]
    assert json.loads((killed / "summary.json").read_text())["generations"] == 8
