"""The researcher workflow on a tiny finished run: discover evaluate (deterministic, checkpoint =
ES mean), discover plot, one-line errors, pretrained objectives and sweeps."""

import csv
import dataclasses
import json
import time

import jax
import numpy as np
import pytest

import discover
from discover.cli import main
from discover.config import AgentConfig, LifetimeConfig, ObjectiveConfig
from discover.presets import get_preset


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, finished_run):
    """A copy of the suite's tiny finished quickstart run (4 generations, checkpoints 2-4 kept)."""
    import shutil

    path = tmp_path_factory.mktemp("workflow") / "run"
    shutil.copytree(finished_run, path, ignore=shutil.ignore_patterns(".lock"))
    return path


def _one_error_line(capsys, argv, *contains):
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error:"), (rc, err)
    assert "Traceback" not in err
    for c in contains:
        assert c in lines[0], (c, lines[0])


def test_bad_inputs_one_line_exit_2(run_dir, tmp_path, capsys):
    t0 = time.time()
    _one_error_line(capsys, ["evaluate", str(tmp_path / "nope")], "not a run directory")
    _one_error_line(capsys, ["evaluate", str(run_dir), "--envs", "NoSuchEnv-v9"], "NoSuchEnv-v9")
    _one_error_line(capsys, ["evaluate", str(run_dir), "--envs", "gridworld:nosuchlevel"], "nosuchlevel")
    _one_error_line(capsys, ["evaluate", str(run_dir), "--horizons", "0.5,abc"], "--horizons")
    _one_error_line(capsys, ["evaluate", str(run_dir), "--seeds", "0"], "--seeds")
    _one_error_line(capsys, ["evaluate", str(run_dir), "--agent.torso", "conv"], "image")
    _one_error_line(capsys, ["evaluate", str(run_dir), "--es.population", "8"], "--es.population")
    _one_error_line(capsys, ["plot", str(tmp_path / "nope")], "not a directory")
    _one_error_line(capsys, ["plot", str(tmp_path)], "holds no run")
    _one_error_line(capsys, ["train-agent", "--objective", "no-such-objective"], "no-such-objective", "ta-lpo-quickstart")
    _one_error_line(capsys, ["sweep", "--vary", "agent.nope=1,2"], "--agent.nope")
    _one_error_line(capsys, ["sweep", "--vary", "agent.lr"], "--vary")
    _one_error_line(capsys, ["sweep", "--preset", "quickstart"], "learned", "--objective")
    assert time.time() - t0 < 60  # all refused before any training


def _returns(path):
    with open(path / "returns.csv") as f:
        return list(csv.reader(f))


def test_evaluate_checkpoint_is_deterministic_and_is_the_es_mean(run_dir, capsys):
    from discover.meta.run import load_config, load_discovered
    from discover.run_eval import checkpoint_mean

    # The last checkpoint's ES mean is what the run returned as discovered.msgpack.
    cfg = load_config(run_dir)
    _, discovered = load_discovered(run_dir, cfg)
    for a, b in zip(jax.tree.leaves(checkpoint_mean(run_dir, cfg, 4)), jax.tree.leaves(discovered)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # (The same seeds and horizons as the next test, so its programs are compiled once per process.)
    argv = ["evaluate", str(run_dir), "--checkpoint", "3", "--seeds", "2", "--horizons", "1,2", "--no-plots"]
    assert main(argv + ["--out", str(run_dir / "eval_a")]) == 0
    assert main(argv + ["--out", str(run_dir / "eval_b")]) == 0
    out = capsys.readouterr().out
    assert "ta-lpo@gen3" in out and "ppo" in out
    a, b = _returns(run_dir / "eval_a"), _returns(run_dir / "eval_b")
    assert a == b and len(a) == 1 + 2 * 2 * 2  # header + 2 methods x 2 horizons x 2 seeds
    # ... and checkpoint 3 is a different objective from checkpoint 4 (the comparison is not vacuous).
    assert not np.allclose(jax.tree.leaves(checkpoint_mean(run_dir, cfg, 3))[0], jax.tree.leaves(discovered)[0])


def test_evaluate_then_plot_write_tables_and_figures(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--seeds", "2", "--horizons", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "N_ref = 3 updates" in out and "CartPole-v1" in out
    ev_dir = run_dir / "eval"
    results = json.loads((ev_dir / "results.json").read_text())
    assert results["envs"]["CartPole-v1"]["lifetimes"] == [3, 6]
    # Evaluation episodes run to CartPole's own limit.
    assert results["envs"]["CartPole-v1"]["lifetime"]["eval_steps"] == 500
    rows = {(r["method"], r["multiple"]): r for r in results["rows"]}
    assert set(rows) == {("ta-lpo", 1.0), ("ta-lpo", 2.0), ("ppo", 1.0), ("ppo", 2.0)}
    with open(ev_dir / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    for name in ("horizons.png", "env_bars.png", "learning_curves.png"):
        (ev_dir / name).unlink()
    (run_dir / "drift.png").unlink()
    assert main(["plot", str(run_dir)]) == 0
    for path in (run_dir / "meta_training.png", run_dir / "drift.png", ev_dir / "horizons.png",
                 ev_dir / "env_bars.png", ev_dir / "learning_curves.png"):
        assert path.stat().st_size > 10_000, path


def test_pretrained_load_every_name_and_refuse_mismatch():
    names = discover.pretrained.names()
    assert {"ta-lpo-quickstart", "lpg-tabular"} <= set(names)
    for name in names:
        p = discover.load(name)
        prov = p.provenance
        assert prov["preset"] and prov["config"] and prov["commit"] and len(prov["fitness_curve"]) == prov["generations"]
        assert p.objective.name == p.config.objective.name and jax.tree.leaves(p.params)
    with pytest.raises(discover.ConfigError, match=r"does not fit the given objective config: .*shape"):
        discover.load("ta-lpo-quickstart", objective=ObjectiveConfig(name="ta-lpo", lpo_hidden=64))
    with pytest.raises(discover.ConfigError, match="no pretrained objective named 'nope'"):
        discover.load("nope")


def test_readme_three_line_example_runs():
    """The README's Python example for pretrained objectives, run as written."""
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    example = next(b for b in blocks if "discover.load(" in b)
    assert len([line for line in example.splitlines() if line.strip() and not line.startswith("#")]) <= 3
    scope = {}
    exec(example, scope)
    result = next(v for v in scope.values() if isinstance(v, dict) and "final_returns" in v)
    assert np.all(np.isfinite(result["final_returns"])) and result["mean_final_return"] > 0


def test_sweep_traced_lr_equals_separate_runs_and_groups_programs():
    from discover.objectives import make_objective
    from discover.pretrained import Pretrained
    from discover.sweep import run_sweep

    cfg = dataclasses.replace(
        get_preset("baseline-cartpole"), agent=AgentConfig(hidden=(8,), lr=1e-3),
        objective=ObjectiveConfig(name="ppo", epochs=1, minibatches=2),
        lifetime=LifetimeConfig(num_envs=2, rollout_len=8, lifetime=3, eval_envs=2, eval_steps=30))
    res = run_sweep(cfg, {"agent.lr": ["1e-3", "3e-2"], "objective.epochs": ["1", "2"]}, seeds=2, log=lambda *a: None)
    assert res["runs"] == 8 and len(res["programs"]) == 2  # lr traced; epochs changes the program
    assert all(p["combinations"] == 2 and p["runs"] == 4 for p in res["programs"])
    fixed = Pretrained("ppo", make_objective(cfg.objective), {}, cfg, {})
    # The traced learning rate gives what a program with the learning rate baked in gives.
    one = discover.train_agent(fixed, seeds=2, overrides=[("agent.lr", "3e-2")])
    row = next(r for r in res["rows"] if r["values"] == {"agent.lr": 3e-2, "objective.epochs": 1.0})
    np.testing.assert_allclose(row["returns"], one["final_returns"], rtol=1e-5)
    by_lr = {r["values"]["agent.lr"]: r["returns"] for r in res["rows"] if r["values"]["objective.epochs"] == 1.0}
    assert by_lr[1e-3] != by_lr[3e-2]  # the learning rate really reached the agents


def test_pretrained_ship_in_the_wheel(tmp_path):
    """A fresh install has the shipped objectives: build the wheel, unpack it away from the
    repository and load every name from there."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    repo = Path(__file__).parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(repo)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("discover-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import discover, pathlib; assert pathlib.Path(discover.__file__).is_relative_to(pathlib.Path.cwd()), discover.__file__;"
            "names = discover.pretrained.names(); [discover.load(n) for n in names]; print(','.join(names))")
    out = subprocess.run([sys.executable, "-c", code], cwd=site, env={"PYTHONPATH": str(site), "PATH": ""},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert set(out.stdout.strip().split(",")) == set(discover.pretrained.names()) and "ta-lpo-quickstart" in out.stdout


def test_meta_curve_shows_heldout_return_when_logged(tmp_path):
    """metrics.jsonl with and without the ES mean's held-back return (`heldout_return`, logged
    every k generations: absent on the others) both plot."""
    import matplotlib

    from discover.plots import plot_meta_curve

    base = [dict(generation=g, fitness_mean=g, fitness_min=g - 1, fitness_max=g + 1, env_steps=1000) for g in range(6)]
    with_held = [dict(r, heldout_return=(2.0 * r["generation"] if r["generation"] % 2 == 0 else None)) for r in base]
    for name, records in (("plain.png", base), ("held.png", with_held)):
        plot_meta_curve(records, tmp_path / name)
        assert (tmp_path / name).stat().st_size > 10_000
    assert matplotlib.get_backend().lower() == "agg"


def test_meta_curve_of_a_one_generation_run_plots_without_warnings(tmp_path):
    """A run of one generation has one point: no singular axis (its warnings reached stderr)."""
    import warnings

    from discover.plots import plot_meta_curve

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_meta_curve([dict(generation=0, fitness_mean=1.0, fitness_min=0.0, fitness_max=2.0, env_steps=64)],
                        tmp_path / "one.png")
    assert (tmp_path / "one.png").stat().st_size > 5_000


def test_commands_print_help_and_exit_0(capsys):
    for command in ("evaluate", "plot", "sweep", "pretrained", "train-agent"):
        assert main([command, "--help"]) == 0
        assert f"discover {command}" in capsys.readouterr().out


def test_lpg_interpretation_data_and_figure(tmp_path):
    """The LPG figure's data on a tiny LPG: shapes, finite values, entropy of y in [0, log m]."""
    from discover.config import EnvConfig, RunConfig
    from discover.interpret import lpg_lifetime_analysis
    from discover.objectives import make_objective
    from discover.plots import plot_lpg_interpretation

    cfg = RunConfig(env=EnvConfig("chain"), agent=AgentConfig(hidden=(8,)),
                    objective=ObjectiveConfig(name="ta-lpg", lpg_hidden=4, lpg_m=4),
                    lifetime=LifetimeConfig(num_envs=2, rollout_len=6, lifetime=5, eval_envs=2, eval_steps=10))
    objective = make_objective(cfg.objective)
    data = lpg_lifetime_analysis(cfg, objective, objective.init(jax.random.key(0)), seeds=2)
    assert data["pi_hat"].shape == data["advantage"].shape == (2, 3, 6, 2)  # seeds, n/N points, T, E
    assert data["y_entropy"].shape == data["returns"].shape == (2, 5)
    assert np.all(np.isfinite(data["pi_hat"])) and np.all(np.isfinite(data["advantage"]))
    assert np.all((data["y_entropy"] >= 0) & (data["y_entropy"] <= np.log(4) + 1e-5))
    plot_lpg_interpretation(data, tmp_path / "lpg.png")
    assert (tmp_path / "lpg.png").stat().st_size > 10_000
