"""The `discover` command line: bad input is one "error:" line on stderr and exit code 2, found
before anything is built or compiled; `presets` and `baseline` work."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import discover.baseline
import discover.meta.run
from discover.cli import main
from discover.config import RunConfig, from_dict, to_dict
from discover.presets import get_preset


@pytest.fixture
def nothing_runs(monkeypatch):
    """Fail the test if the CLI gets as far as building or training anything."""

    def forbidden(*a, **k):
        raise AssertionError("the CLI went on to build/train despite bad input")

    monkeypatch.setattr(discover.meta.run, "train", forbidden)
    monkeypatch.setattr(discover.meta.run, "build", forbidden)
    monkeypatch.setattr(discover.baseline, "run_baseline", forbidden)


def _one_error_line(capsys, argv, *contains):
    t0 = time.time()
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (rc, err)
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in err
    for c in contains:
        assert c in lines[0], (c, lines[0])
    assert time.time() - t0 < 20  # validation only; no compilation
    return lines[0]


TRAIN = ["train", "--preset", "quickstart"]


@pytest.mark.parametrize(
    "argv,contains",
    [
        (["train", "--preset", "nosuchpreset"], ["nosuchpreset", "quickstart"]),
        ([*TRAIN, "--env.name", "Foo"], ["Foo", "CartPole-v1", "gridworld"]),
        ([*TRAIN, "--lifetime.lifetime", "0"], ["lifetime.lifetime", ">= 1"]),
        ([*TRAIN, "--lifetime.num_envs", "-1"], ["lifetime.num_envs"]),
        ([*TRAIN, "--es.population", "7"], ["es.population", "even", "antithetic"]),
        ([*TRAIN, "--es.strategy", "NoSuchES"], ["es.strategy", "NoSuchES", "Open_ES"]),
        ([*TRAIN, "--es.nope", "1"], ["--es.nope", "population"]),
        ([*TRAIN, "--es.population", "abc"], ["--es.population", "integer", "abc"]),
        ([*TRAIN, "--es.sigma", "nan"], ["--es.sigma"]),
        ([*TRAIN, "--es", "3"], ["--es", "section"]),
        ([*TRAIN, "--env.distribution", "all_vrandlife"], ["gridworld"]),
        ([*TRAIN, "--env.name", "gridworld", "--env.distribution", "nope"], ["nope", "all_vrandlife"]),
        ([*TRAIN, "--env.name", "gridworld", "--env.distribution", "sparse+nope"], ["nope", "sparse", "+"]),
        ([*TRAIN, "--env.name", "gridworld", "--objective.lpg_pi_hat_init_scale", "-1"], ["lpg_pi_hat_init_scale"]),
        ([*TRAIN, "--es.strategy_kwargs", "{bad"], ["strategy_kwargs"]),
        ([*TRAIN, "--es.population"], ["--es.population", "expected one argument"]),
        (["train"], ["--preset"]),
        (["train", "quickstart"], ["unexpected argument"]),
        (["train", "--resume", "somewhere", "--es.population", "8"], ["--resume"]),
        (["nosuchcommand"], ["nosuchcommand"]),
        (["baseline", "--seeds", "0"], ["--seeds"]),
        (["baseline", "--seeds", "x"], ["--seeds"]),
        (["baseline", "--env.name", "Foo"], ["Foo"]),
    ],
)
def test_bad_input_is_one_error_line_exit_2(capsys, nothing_runs, argv, contains):
    _one_error_line(capsys, argv, *contains)


def test_resume_of_a_non_run_directory(capsys, nothing_runs, tmp_path):
    line = _one_error_line(capsys, ["train", "--resume", str(tmp_path)], str(tmp_path), "config.json")
    assert "not a run directory" in line
    _one_error_line(capsys, ["train", "--resume", str(tmp_path / "missing")])


def test_resume_of_a_run_with_a_bad_config(capsys, nothing_runs, tmp_path):
    data = to_dict(get_preset("quickstart"))
    data["es"]["population"] = 7
    (tmp_path / "config.json").write_text(json.dumps(data))
    _one_error_line(capsys, ["train", "--resume", str(tmp_path)], "es.population", "config.json")
    (tmp_path / "config.json").write_text(json.dumps({"nope": 1}))
    _one_error_line(capsys, ["train", "--resume", str(tmp_path)], "nope")


def test_no_arguments_prints_usage(capsys):
    assert main([]) == 2
    assert "usage: discover" in capsys.readouterr().err


def test_presets_lists_quickstart(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "quickstart" in names and "baseline-cartpole" in names and "lpo-minatar" in names
    assert names == sorted(names)


def _cli(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "discover.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"},
    )  # fmt: skip


def test_real_process_error_is_exactly_one_stderr_line(tmp_path):
    """No import-time warnings or log lines either (in a fresh interpreter)."""
    proc = _cli(["train", "--preset", "quickstart", "--env.name", "Foo", "--out", tmp_path / "x"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error:"), proc.stderr
    assert "choose from" in proc.stderr
    assert not (tmp_path / "x").exists()  # nothing was written


def test_baseline_writes_run_directory(tmp_path):
    out = tmp_path / "base"
    args = ["baseline", "--env.name", "CartPole-v1", "--lifetime.lifetime", "3", "--lifetime.num_envs", "2",
            "--lifetime.rollout_len", "8", "--seeds", "2", "--out", out]  # fmt: skip
    proc = _cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("config.json", "metrics.jsonl", "learning_curve.png", "summary.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    cfg_data = json.loads((out / "config.json").read_text())
    cfg = from_dict(RunConfig, cfg_data)
    assert cfg.objective.name == "ppo" and cfg.env.name == "CartPole-v1"
    assert (cfg.lifetime.lifetime, cfg.lifetime.num_envs, cfg.lifetime.rollout_len) == (3, 2, 8)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    assert [r["update"] for r in records] == [0, 1, 2]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == 2 and summary["updates"] == 3 and summary["env_steps_per_seed"] == 3 * 2 * 8
    assert len(summary["final_return_per_seed"]) == 2
    assert np.isfinite(summary["final_return_mean"]) and summary["final_return_mean"] > 0
    assert "final return" in proc.stdout
