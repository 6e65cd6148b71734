"""Fuzzing the command line and the library with random dotted overrides and random edits of a
run's config.json: every case ends in exit 0 or in exit 2 with one "error:" line on stderr and
no traceback, and no existing run directory changes.

The default version stops where training would start (discover.meta.run.train is replaced by a
recorder that checks it was handed a validated config), so it tests every check that runs
before anything is written or compiled. The slow version lets the valid cases train for real.
"""

import json
import random

import pytest

import discover.meta.run
from discover.cli import main
from discover.config import to_dict
from discover.config_io import field_docs
from discover.validate import resolve, validate
from tests.runs import TINY, fake_run, snapshot, tiny_cfg

_VALUES = {
    "int": ["0", "-1", "1", "2", "3", "7", "16", "3.5", "abc", "", "1e9", "99999999999999999999", "1000000000"],
    "float": ["0", "-0.5", "1e-3", "0.2", "nan", "inf", "1e38", "x", "3", "1e-300"],
    "bool": ["true", "false", "maybe", "1", "", "off"],
    "str": ["", "xyz", "Open_ES", "SNES", "lpo", "ta-lpg", "ppo", "a2c", "gridworld", "sparse+dense", "all_vrandlife",
            "conv", "relu", "sgd", "auc", "normalised", "z_score", "metagrad", "{}", '{"nosuch": 1}', "Acrobot-v1"],
    "ints": ["1,2", "abc", "0", "64,64", "-1", "", "8"],
}  # fmt: skip
_JSON_VALUES = [None, "16", 16, -3, 10.5, 0, True, [1, 2], {"a": 1}, "", 1e308, "abc", [], 2**70]


def _random_overrides(rng) -> list[str]:
    rows = field_docs()
    args = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.1:
            args += [rng.choice(["--es.populaton", "--nosuch", "--es", "--objective.nope.x"]), "1"]
            continue
        row = rng.choice(rows)
        # a third of the values are the field's own default (valid alone, maybe not together)
        value = str(row["default"]) if rng.random() < 0.33 else rng.choice(_VALUES[row["type"]])
        args += [f"--{row['path']}", value]
    return args


def _random_edit(rng, data):
    """One random change of a config.json dict (or of the whole document)."""
    r = rng.random()
    if r < 0.08:
        return rng.choice([[1, 2], "config", 3, None])
    paths = [row["path"].split(".") for row in field_docs()]
    path = rng.choice(paths)
    node = data
    for part in path[:-1]:
        node = node[part]
    if r < 0.2:
        del node[path[-1]]
    elif r < 0.3 and len(path) > 1:
        data[path[0]] = rng.choice(["x", 1, [], None])
    elif r < 0.38:
        node["unknown_" + str(rng.randint(0, 9))] = 1
    else:
        node[path[-1]] = rng.choice(_JSON_VALUES)
    return data


class _Recorder:
    """Stands in for discover.meta.run.train: records the config it was handed."""

    def __init__(self):
        self.calls = []

    def __call__(self, cfg, run_dir, resume=False, **kwargs):
        assert validate(cfg) == cfg  # it was validated and resolved already
        self.calls.append((cfg, resume))
        return {}


def _check_outcome(rc, err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        assert len(lines) == 1 and lines[0].startswith("error:"), err
    else:
        assert not lines, err


def _existing_run(tmp_path):
    run = fake_run(tmp_path / "existing")
    (run / "metrics.jsonl").write_text('{"generation": 0, "fitness_mean": 1.0}\n')
    return run


def test_fuzz_overrides_and_config_edits(tmp_path, capsys, monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(discover.meta.run, "train", recorder)
    rng = random.Random(0)
    existing = _existing_run(tmp_path)
    before = snapshot(existing)
    outcomes = {0: 0, 2: 0}
    for case in range(120):
        out = tmp_path / f"new{case}"
        target = str(existing) if rng.random() < 0.15 else str(out)
        rc = main(["train", "--preset", rng.choice(["quickstart", "lpg-es-tabular-cpu"]), "--out", target, *_random_overrides(rng)])
        _check_outcome(rc, capsys.readouterr().err)
        assert not out.exists()  # the recorder writes nothing, and no check may write either
        outcomes[rc] += 1
    for case in range(60):
        run = tmp_path / f"edited{case}"
        run.mkdir()
        data = json.loads(json.dumps(to_dict(resolve(tiny_cfg()))))
        for _ in range(rng.randint(1, 2)):
            data = _random_edit(rng, data) if isinstance(data, dict) else data
        (run / "config.json").write_text(json.dumps(data))
        (run / "run.json").write_text(json.dumps({"kind": "train", "format": 1}))
        mine = snapshot(run)
        rc = main(["train", "--resume", str(run)])
        _check_outcome(rc, capsys.readouterr().err)
        assert snapshot(run) == mine
        outcomes[rc] += 1
    assert snapshot(existing) == before
    # the cases reach both outcomes (a fuzzer whose every case fails would test one path only)
    assert outcomes[0] >= 5 and outcomes[2] >= 20, outcomes
    assert all(isinstance(cfg.lifetime.eval_steps, int) and cfg.lifetime.eval_steps > 0 for cfg, _ in recorder.calls)


@pytest.mark.slow
def test_fuzz_valid_cases_train_for_real(tmp_path, capsys, cache_dir):
    """The same overrides on a tiny run, trained for one generation when they are valid."""
    from tests.runs import cli

    rng = random.Random(1)
    trained = 0
    for case in range(12):
        out = tmp_path / f"run{case}"
        proc = cli(["train", "--preset", "quickstart", "--out", out, *TINY, *_random_overrides(rng), "--generations", "1"],
                   cwd=tmp_path, cache_dir=cache_dir)  # fmt: skip
        _check_outcome(proc.returncode, proc.stderr)
        if proc.returncode == 0:
            trained += 1
            assert (out / "summary.json").is_file()
        else:  # refused before anything was written, or stopped later as a resumable run
            assert not out.exists() or (out / "config.json").is_file()
    assert trained >= 2
