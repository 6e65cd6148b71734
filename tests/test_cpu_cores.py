"""discover.cpu_cores: the `discover` command gives XLA several CPU devices on request, and a
run sharded over two CPU devices gives exactly the one-device run's results."""

import json
import os

import pytest

from discover.cpu_cores import FLAG, auto_count, use_cpu_cores
from tests.runs import TINY, cli, ok, one_error_line


def test_device_count_is_a_power_of_two_up_to_eight():
    assert [auto_count(c) for c in (None, 1, 2, 3, 4, 6, 8, 16, 96)] == [1, 1, 2, 2, 4, 4, 8, 8, 8]


def test_xla_flags_are_set_only_on_request():
    base = "--xla_backend_optimization_level=0"
    assert use_cpu_cores({"XLA_FLAGS": base}, cores=8) == 0  # not asked: XLA's one device
    env = {"XLA_FLAGS": base, "DISCOVER_CPU_DEVICES": "auto"}
    assert use_cpu_cores(env, cores=2) == 2 and env["XLA_FLAGS"] == f"{base} {FLAG}=2"
    three = {"DISCOVER_CPU_DEVICES": "3"}
    assert use_cpu_cores(three, cores=2) == 3 and three["XLA_FLAGS"] == f"{FLAG}=3"
    # A device count already in XLA_FLAGS wins (tests and multi-process runs set their own).
    mine = {"XLA_FLAGS": f"{FLAG}=4", "DISCOVER_CPU_DEVICES": "2"}
    assert use_cpu_cores(mine, cores=2) == 0 and mine["XLA_FLAGS"] == f"{FLAG}=4"
    one = {"DISCOVER_CPU_DEVICES": "1"}
    assert use_cpu_cores(one, cores=8) == 0 and "XLA_FLAGS" not in one
    assert use_cpu_cores({"DISCOVER_CPU_DEVICES": "auto"}, cores=1) == 0
    with pytest.raises(ValueError, match="DISCOVER_CPU_DEVICES"):
        use_cpu_cores({"DISCOVER_CPU_DEVICES": "many"}, cores=2)


def test_a_bad_device_count_is_one_error_line(tmp_path):
    line = one_error_line(cli(["presets"], cwd=tmp_path, DISCOVER_CPU_DEVICES="many"), 2)
    assert "DISCOVER_CPU_DEVICES" in line


@pytest.mark.slow  # 43 s: two CLI runs, one compiling the sharded programs
def test_two_cpu_devices_train_exactly_what_one_does(tmp_path, cache_dir):
    """The same tiny run through the command with one and with two CPU devices: the population
    (4 members) is sharded over the two, and every logged number except timings is equal."""
    runs = {}
    # Only this test's choice: no device count inherited from the environment.
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(FLAG))
    for n in (1, 2):
        out = tmp_path / f"dev{n}"
        ok(cli(["train", "--preset", "quickstart", "--out", out, *TINY, "--generations", "2"], cwd=tmp_path,
               cache_dir=cache_dir, DISCOVER_CPU_DEVICES=str(n), XLA_FLAGS=flags))  # fmt: skip
        summary = json.loads((out / "summary.json").read_text())
        assert summary["devices"] == n and summary["backend"] == "cpu"
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        runs[n] = ([{k: v for k, v in r.items() if not k.endswith(("wall_time", "_s"))} for r in records],
                   {k: v for k, v in summary.items() if k not in ("devices", "wall_time_s")})
    assert runs[1] == runs[2]
    assert len(runs[1][0]) == 2 and runs[1][0][0]["fitness_mean"] != runs[1][0][1]["fitness_mean"]
