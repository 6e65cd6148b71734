"""The `discover` command line: bad input is one "error:" line on stderr and exit code 2, found
before anything is written, built or compiled; --help; the README's CLI reference; `presets`
and `baseline` work. Each bad input below was a traceback, a silent change or a trap on the
starting commit (issue 10)."""

import json
import os
import time

import numpy as np
import pytest

import discover.baseline
import discover.meta.run
from discover.cli import COMMANDS, main
from discover.cli_args import cache_dir, sync_readme
from discover.config import RunConfig, from_dict
from tests.runs import ROOT, cli, fake_run, one_error_line, snapshot


@pytest.fixture
def nothing_runs(monkeypatch):
    """Fail the test if the CLI gets as far as building or training anything."""

    def forbidden(*a, **k):
        raise AssertionError("the CLI went on to build/train despite bad input")

    monkeypatch.setattr(discover.meta.run, "build", forbidden)
    monkeypatch.setattr(discover.meta.run, "make_task", forbidden)
    monkeypatch.setattr(discover.baseline, "make_task", forbidden)


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
    assert time.time() - t0 < 30  # validation only; no compilation
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
        # issue 10: errors that were found only after config.json was written (a trap)
        ([*TRAIN, "--objective.minibatches", "5"], ["objective.minibatches", "128"]),
        ([*TRAIN, "--es.strategy_kwargs", '{"nosuchkw": 1}'], ["nosuchkw", "Open_ES"]),
        ([*TRAIN, "--objective.name", "a2c"], ["a2c", "hand-designed", "baseline"]),
        ([*TRAIN, "--agent.torso", "conv"], ["agent.torso=conv", "image"]),
        ([*TRAIN, "--es.population", "1000000000"], ["GiB", "es.chunk_size"]),
        ([*TRAIN, "--lifetime.num_envs", "1000000000"], ["GiB"]),
        # issue 10: tracebacks
        ([*TRAIN, "--seed", "99999999999999999999999"], ["seed", "4294967295"]),
        ([*TRAIN, "--agent.hidden", "abc"], ["--agent.hidden", "abc"]),
        # issue 10: silently ignored options
        ([*TRAIN, "--objective.name", "lpg", "--objective.init_at_ppo", "true"], ["init_at_ppo", "lpo", "lpg"]),
        ([*TRAIN, "--objective.name", "lpg", "--objective.lpo_hidden", "16"], ["lpo_hidden", "lpg"]),
        ([*TRAIN, "--metagrad.lr", "0.1"], ["--metagrad.lr", "meta_optimizer=metagrad"]),
        ([*TRAIN, "--log_every", "1"], ["--log_every"]),
        (["train", "--preset", "quickstart", "--seeds", "3"], ["--seeds"]),
        (["presets", "--bogus", "1"], ["--bogus"]),
        (["baseline", "--es.population", "8"], ["--es.population"]),
        (["baseline", "--objective.name", "lpo"], ["baseline", "hand-designed", "lpo"]),
        # issue 12: evaluation shorter than the episode limit (Acrobot at 200 steps: all -200)
        ([*TRAIN, "--env.name", "Acrobot-v1", "--lifetime.eval_steps", "200"], ["eval_steps=200", "500"]),
        ([*TRAIN, "--out", ""], ["--out"]),
    ],
)
def test_bad_input_is_one_error_line_exit_2(capsys, nothing_runs, tmp_path, argv, contains):
    out = tmp_path / "new"
    if argv[0] in ("train", "baseline") and "--out" not in argv and "--resume" not in argv:
        argv = [*argv, "--out", str(out)]
    _one_error_line(capsys, argv, *contains)
    assert not out.exists()  # nothing was written


@pytest.mark.parametrize("kind", ["train", "baseline"])
def test_out_never_writes_into_an_existing_run_or_file(capsys, nothing_runs, tmp_path, kind):
    run = fake_run(tmp_path / "run", kind)
    (run / "metrics.jsonl").write_text('{"generation": 0}\n')
    before = snapshot(run)
    for command in (TRAIN, ["baseline"]):
        _one_error_line(capsys, [*command, "--out", str(run)], str(run), {"train": "training run", "baseline": "baseline run"}[kind])
    assert snapshot(run) == before
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    _one_error_line(capsys, [*TRAIN, "--out", str(a_file)], "existing file")
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    _one_error_line(capsys, [*TRAIN, "--out", str(tmp_path / "stuff")], "non-empty")
    assert (tmp_path / "stuff" / "notes.txt").read_text() == "mine"
    _one_error_line(capsys, [*TRAIN, "--out", str(run / "config.json")], "existing file")


def test_only_the_writing_process_checks_a_new_out(monkeypatch, capsys, tmp_path):
    """In a multi-process run process 0 creates --out; another process that checked it
    afterwards found a run there and quit, leaving process 0 waiting for it. Only the writer
    checks; the others take the path as given."""
    import discover.distributed

    run = fake_run(tmp_path / "run")  # what process 0 has already written
    calls = []
    monkeypatch.setattr(discover.meta.run, "train", lambda cfg, run_dir, **k: calls.append(run_dir))
    monkeypatch.setattr(discover.distributed, "is_writer", lambda: False)
    assert main([*TRAIN, "--out", str(run)]) == 0
    assert calls == [run] and "run directory" not in capsys.readouterr().out
    monkeypatch.setattr(discover.distributed, "is_writer", lambda: True)  # process 0 itself refuses
    _one_error_line(capsys, [*TRAIN, "--out", str(run)], "training run")
    assert calls == [run]


def test_out_on_a_path_the_system_forbids_is_one_line(capsys, tmp_path):
    _one_error_line(capsys, [*TRAIN, "--out", "/sys/discover-test-run"], "/sys/discover-test-run")


def test_resume_with_out_is_refused(capsys, nothing_runs, tmp_path):
    run = fake_run(tmp_path / "run")
    _one_error_line(capsys, ["train", "--resume", str(run), "--out", str(tmp_path / "b")], "--resume", "--out")
    assert not (tmp_path / "b").exists()


def test_resume_of_a_non_run_directory(capsys, nothing_runs, tmp_path):
    line = _one_error_line(capsys, ["train", "--resume", str(tmp_path)], str(tmp_path), "config.json")
    assert "not a run directory" in line
    _one_error_line(capsys, ["train", "--resume", str(tmp_path / "missing")])
    _one_error_line(capsys, ["train", "--resume", ""], "--resume")


def _edit(data, how):
    if how == "list":
        return [1, 2]
    if how == "section_string":
        data["es"] = "Open_ES"
    elif how == "population_string":
        data["es"]["population"] = "16"
    elif how == "generations_float":
        data["generations"] = 10.5
    elif how == "no_es_section":
        del data["es"]
    elif how == "hidden_string":
        data["agent"]["hidden"] = "abc"
    elif how == "unknown_field":
        data["es"]["bogus"] = 1
    elif how == "odd_population":
        data["es"]["population"] = 7
    return data


@pytest.mark.parametrize(
    "how,contains",
    [
        ("list", ["config.json", "the top level", "JSON object"]),
        ("section_string", ["config.json", "es must be a JSON object"]),
        ("population_string", ["config.json", "es.population must be an integer", "'16'"]),
        ("generations_float", ["config.json", "generations must be an integer", "10.5"]),
        ("no_es_section", ["config.json", "es", "missing"]),
        ("hidden_string", ["config.json", "agent.hidden", "list of integers"]),
        ("unknown_field", ["config.json", "bogus", "population"]),
        ("odd_population", ["config.json", "es.population", "even"]),
    ],
)
def test_resume_of_an_edited_config_is_one_line_and_changes_nothing(capsys, nothing_runs, tmp_path, how, contains):
    run = fake_run(tmp_path / "run")
    data = _edit(json.loads((run / "config.json").read_text()), how)
    (run / "config.json").write_text(json.dumps(data))
    before = snapshot(run)
    _one_error_line(capsys, ["train", "--resume", str(run)], *contains)
    assert snapshot(run) == before


@pytest.mark.parametrize("text", ["", "{", "not json"])
def test_resume_of_an_unreadable_config_names_the_file(capsys, nothing_runs, tmp_path, text):
    run = fake_run(tmp_path / "run")
    (run / "config.json").write_text(text)
    _one_error_line(capsys, ["train", "--resume", str(run)], str(run / "config.json"), "not valid JSON")


def test_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name}" in out
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    # every config field, with its type, default and meaning
    for flag, text in [("--es.population INT", "population size"), ("--lifetime.eval_steps INT", "episode limit"),
                       ("--watchdog_s FLOAT", "stacks"), ("--objective.lpo_hidden INT", "lpo/ta-lpo only")]:  # fmt: skip
        assert flag in out and text in out, flag
    assert "(default: 16)" in out
    assert main(["baseline", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--lifetime.num_envs" in out and "--es.population" not in out
    assert main([]) == 2
    assert "usage: discover" in capsys.readouterr().err


def test_readme_cli_reference_is_in_sync():
    assert sync_readme(ROOT / "README.md", COMMANDS), (
        "README.md's CLI reference is out of date; regenerate it with: "
        "python -c 'from discover.cli import COMMANDS; from discover.cli_args import sync_readme; "
        "sync_readme(\"README.md\", COMMANDS, write=True)'"
    )


def test_presets_lists_quickstart(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "quickstart" in names and "baseline-cartpole" in names and "lpo-minatar" in names
    assert names == sorted(names)


def test_compilation_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("DISCOVER_COMPILATION_CACHE", "off")
    assert cache_dir() is None
    monkeypatch.setenv("DISCOVER_COMPILATION_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DISCOVER_COMPILATION_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "discover" / "jax"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert cache_dir() == tmp_path / "jax"


def test_real_process_error_is_exactly_one_stderr_line(tmp_path):
    """No import-time warnings or log lines either (in a fresh interpreter)."""
    proc = cli(["train", "--preset", "quickstart", "--env.name", "Foo", "--out", tmp_path / "x"], tmp_path)
    one_error_line(proc, 2, "choose from")
    assert not (tmp_path / "x").exists()  # nothing was written


def test_distributed_without_a_cluster_is_refused_with_a_reason(tmp_path):
    """--distributed true initialises jax.distributed before any JAX call; on a machine with no
    cluster manager and no coordinator it says what to set (a traceback on the starting commit)."""
    assert "JAX_COORDINATOR_ADDRESS" not in os.environ
    proc = cli(["train", "--preset", "quickstart", "--distributed", "true", "--out", tmp_path / "x"], tmp_path)
    one_error_line(proc, 2, "distributed", "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES")
    assert not (tmp_path / "x").exists()


def test_baseline_writes_run_directory_and_fills_the_compilation_cache(tmp_path):
    out, cache = tmp_path / "base", tmp_path / "cache"
    args = ["baseline", "--env.name", "CartPole-v1", "--lifetime.lifetime", "3", "--lifetime.num_envs", "2",
            "--lifetime.rollout_len", "8", "--seeds", "2", "--out", out]  # fmt: skip
    proc = cli(args, tmp_path, DISCOVER_COMPILATION_CACHE=cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    for name in ("config.json", "metrics.jsonl", "learning_curve.png", "summary.json", "run.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert json.loads((out / "run.json").read_text())["kind"] == "baseline"
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    cfg = from_dict(RunConfig, json.loads((out / "config.json").read_text()))
    assert cfg.objective.name == "ppo" and cfg.env.name == "CartPole-v1"
    assert (cfg.lifetime.lifetime, cfg.lifetime.num_envs, cfg.lifetime.rollout_len) == (3, 2, 8)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    assert [r["update"] for r in records] == [0, 1, 2]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == 2 and summary["updates"] == 3 and summary["env_steps_per_seed"] == 3 * 2 * 8
    assert len(summary["final_return_per_seed"]) == 2
    assert np.isfinite(summary["final_return_mean"]) and summary["final_return_mean"] > 0
    assert "final return" in proc.stdout
    # the persistent compilation cache (on by default in the CLI) holds the compiled programs
    assert cache.is_dir() and any(cache.rglob("*"))
    assert os.environ.get("DISCOVER_COMPILATION_CACHE") == "0"  # the test process itself keeps it off
