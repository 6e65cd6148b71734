"""The hang stress script (experiments.benchmarks.hang_stress): briefly in the default suite,
in full (300 calls of every program) in the slow suite. A stall makes the script dump every
thread's stack and exit 1, which fails these tests."""

import json
import subprocess
import sys

import pytest


def _run(tmp_path, *args, timeout):
    out = tmp_path / "hang.json"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.benchmarks.hang_stress", "--out", str(out), *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_hang_stress_brief(tmp_path):
    res = _run(tmp_path, "--calls", "20", "--limit", "60", "--programs", "orthogonal,init_mlp,init_conv", timeout=600)
    assert [r["program"] for r in res["programs"]] == ["orthogonal", "init_mlp", "init_conv"]
    assert all(r["calls"] == 20 and r["max_call_s"] < 60 for r in res["programs"])


def test_hang_stress_rejects_unknown_program(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "experiments.benchmarks.hang_stress", "--programs", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown program" in proc.stderr


@pytest.mark.slow
def test_hang_stress_full(tmp_path):
    res = _run(tmp_path, "--calls", "300", "--limit", "120", timeout=3600)
    assert len(res["programs"]) == 9 and all(r["calls"] == 300 for r in res["programs"])


@pytest.mark.slow
def test_hang_stress_sharded_over_two_cpu_devices(tmp_path):
    """ES generations sharded over two CPU devices (in-process collectives), GROOVE included."""
    programs = "es_ta_lpo,es_ta_lpg,es_groove"
    res = _run(tmp_path, "--calls", "300", "--limit", "120", "--cpu-devices", "2", "--programs", programs, timeout=3600)
    assert res["devices"] == 2 and [r["program"] for r in res["programs"]] == programs.split(",")
    assert all(r["calls"] == 300 for r in res["programs"])
