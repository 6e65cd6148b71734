"""discover.cpu_cores: the `discover` command gives XLA several CPU devices on request, a short
run sharded over two CPU devices gives exactly the one-device run's results, and a sharded
generation communicates once."""

import json
import os

import pytest

from discover.cpu_cores import COLLECTIVE_FLAGS, FLAG, auto_count, use_cpu_cores
from tests.runs import TINY, cli, ok, one_error_line
from tests.test_groove import TINY_GROOVE


def test_device_count_is_a_power_of_two_up_to_eight():
    assert [auto_count(c) for c in (None, 1, 2, 3, 4, 6, 8, 16, 96)] == [1, 1, 2, 2, 4, 4, 8, 8, 8]


def test_xla_flags_are_set_only_on_request():
    base = "--xla_backend_optimization_level=0"
    collective = " ".join(COLLECTIVE_FLAGS)
    assert use_cpu_cores({"XLA_FLAGS": base}, cores=8) == 0  # not asked: XLA's one device
    env = {"XLA_FLAGS": base, "DISCOVER_CPU_DEVICES": "auto"}
    assert use_cpu_cores(env, cores=2) == 2 and env["XLA_FLAGS"] == f"{base} {FLAG}=2 {collective}"
    three = {"DISCOVER_CPU_DEVICES": "3"}
    assert use_cpu_cores(three, cores=2) == 3 and three["XLA_FLAGS"] == f"{FLAG}=3 {collective}"
    # A device count already in XLA_FLAGS wins (tests and multi-process runs set their own).
    mine = {"XLA_FLAGS": f"{FLAG}=4", "DISCOVER_CPU_DEVICES": "2"}
    assert use_cpu_cores(mine, cores=2) == 0 and mine["XLA_FLAGS"] == f"{FLAG}=4"
    # The user's own collective timeout is kept.
    own = {"XLA_FLAGS": "--xla_cpu_collective_call_terminate_timeout_seconds=5", "DISCOVER_CPU_DEVICES": "2"}
    assert use_cpu_cores(own, cores=2) == 2 and own["XLA_FLAGS"].count("terminate_timeout") == 1
    one = {"DISCOVER_CPU_DEVICES": "1"}
    assert use_cpu_cores(one, cores=8) == 0 and "XLA_FLAGS" not in one
    assert use_cpu_cores({"DISCOVER_CPU_DEVICES": "auto"}, cores=1) == 0
    with pytest.raises(ValueError, match="DISCOVER_CPU_DEVICES"):
        use_cpu_cores({"DISCOVER_CPU_DEVICES": "many"}, cores=2)


def test_xla_knows_the_flags(tmp_path):
    """XLA aborts a process whose XLA_FLAGS names a flag it does not know."""
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS=" ".join([f"{FLAG}=2", *COLLECTIVE_FLAGS]))
    proc = subprocess.run([sys.executable, "-c", "import jax; print(len(jax.devices('cpu')))"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip() == "2", proc.stderr[-2000:]


def test_a_bad_device_count_is_one_error_line(tmp_path):
    line = one_error_line(cli(["presets"], cwd=tmp_path, DISCOVER_CPU_DEVICES="many"), 2)
    assert "DISCOVER_CPU_DEVICES" in line


@pytest.mark.slow  # 43 s (quickstart) and 50 s (GROOVE): two CLI runs each, one compiling the sharded programs
@pytest.mark.parametrize("run", ["quickstart", "groove"])
def test_two_cpu_devices_train_exactly_what_one_does(tmp_path, cache_dir, run):
    """The same tiny run through the command with one and with two CPU devices: the population
    (4 members) is sharded over the two, and every logged number except timings is equal. The
    GROOVE run (level buffer, PLR scores) is the one whose many collectives once deadlocked.
    Longer runs are not bit-identical: the quickstart's fitness first differs in generation 9
    (discover.cpu_cores says why)."""
    args = {"quickstart": ["--preset", "quickstart", *TINY, "--generations", "2"],
            "groove": ["--preset", "groove-tabular-cpu", *TINY_GROOVE, "--generations", "3"]}[run]
    runs = {}
    # Only this test's choice: no device count inherited from the environment.
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(FLAG))
    for n in (1, 2):
        out = tmp_path / f"dev{n}"
        ok(cli(["train", *args, "--out", out], cwd=tmp_path, cache_dir=cache_dir,
               DISCOVER_CPU_DEVICES=str(n), XLA_FLAGS=flags))  # fmt: skip
        summary = json.loads((out / "summary.json").read_text())
        assert summary["devices"] == n and summary["backend"] == "cpu"
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        runs[n] = ([{k: v for k, v in r.items() if not k.endswith(("wall_time", "_s"))} for r in records],
                   {k: v for k, v in summary.items() if k not in ("devices", "wall_time_s")})
    assert runs[1] == runs[2]
    assert len(runs[1][0]) >= 2 and runs[1][0][0]["fitness_mean"] != runs[1][0][1]["fitness_mean"]


_COLLECTIVES = r"""
import json, re, sys
import jax
from discover.config import apply_overrides
from discover.meta.run import _keys, build, make_multi_generation
from discover.presets import get_preset

assert len(jax.devices()) == 2, jax.devices()
counts = {}
for name, overrides in json.loads(sys.argv[1]).items():
    cfg = apply_overrides(get_preset(name), list(overrides.items()))
    built = build(cfg)
    k_init, k_obj, k_run, _ = _keys(cfg)
    state = built.meta.init(k_init, built.objective.init(k_obj))
    text = make_multi_generation(built.meta, 1).lower(state, k_run).compile().as_text()
    ops = re.findall(r"= \S+ (all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter)(?:-start)?\(", text)
    counts[name] = sorted(ops)
print("RESULT " + json.dumps(counts))
"""


def test_a_sharded_generation_has_one_collective(tmp_path):
    """A generation sharded over two CPU devices communicates once: one all-gather of every
    member's metrics. XLA's CPU devices run collectives in-process, and a GROOVE generation with
    40 independent collectives once deadlocked (the devices started them in different orders);
    one collective leaves no order to disagree on. Compiled only, for ES with domain
    randomisation (LPO on CartPole) and for GROOVE (level buffer, PLR)."""
    import subprocess
    import sys

    configs = {
        "quickstart": {"es.population": "4", "lifetime.lifetime": "2", "lifetime.num_envs": "2",
                       "lifetime.rollout_len": "4", "lifetime.eval_envs": "2", "lifetime.eval_steps": "10"},
        "groove-tabular-cpu": {"es.population": "4", "lifetime.num_envs": "4", "lifetime.lifetime_scale": "0.02",
                               "lifetime.eval_envs": "2", "curriculum.buffer_size": "4", "objective.lpg_hidden": "4"},
    }  # fmt: skip
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(FLAG))
    env = dict(os.environ, XLA_FLAGS=f"{flags} {FLAG}=2".strip())
    proc = subprocess.run([sys.executable, "-c", _COLLECTIVES, json.dumps(configs)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    assert json.loads(line[len("RESULT "):]) == {name: ["all-gather"] for name in configs}
