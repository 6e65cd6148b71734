"""A multi-process run through jax.distributed on one machine: two processes with two forced
CPU devices each (CPU collectives over gloo) give exactly the single-process run, only process 0
writes the run directory, and a distributed resume (extending the run) works."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runs import TINY, assert_same_metrics, assert_same_params, env_for, records


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args, cwd, cache_dir):
    """`discover ARGS` as processes 0 and 1 of a 2-process run; returns their CompletedProcess.

    Each process writes to files, not pipes: a pipe nobody reads while the test waits on the
    other process could fill and stall its writer, and a failure reports both processes."""
    port = _free_port()
    procs, logs = [], []
    for i in range(2):
        env = env_for(cache_dir, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=2, JAX_PROCESS_ID=i,
                      JAX_PLATFORMS="cpu")  # fmt: skip
        env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
        out, err = Path(cwd) / f"process{i}.out", Path(cwd) / f"process{i}.err"
        logs.append((out, err))
        with open(out, "w") as fo, open(err, "w") as fe:
            procs.append(subprocess.Popen([sys.executable, "-m", "discover.cli", *map(str, args)], cwd=cwd, env=env,
                                          stdout=fo, stderr=fe))  # fmt: skip
    try:
        codes = [p.wait(timeout=900) for p in procs]
    finally:
        for p in procs:
            p.kill()
    done = [subprocess.CompletedProcess(p.args, c, out.read_text(), err.read_text())
            for p, c, (out, err) in zip(procs, codes, logs)]
    report = "\n".join(f"process {i}: rc={p.returncode}\n{p.stdout[-1500:]}\n{p.stderr[-2500:]}" for i, p in enumerate(done))
    assert all(p.returncode == 0 for p in done), report
    return done


@pytest.mark.slow
def test_two_process_run_equals_one_process_and_resumes(finished_run, tmp_path):
    run = tmp_path / "run"
    short = [*TINY, "--generations", "2"]
    p0, p1 = _launch(["train", "--preset", "quickstart", "--out", run, *short, "--distributed", "true"], tmp_path, None)
    assert "run directory" in p0.stdout and "run directory" not in p1.stdout
    # process 1 wrote nothing: it never took the lock (it would have been refused) or a line
    assert [r["generation"] for r in records(run)] == [0, 1]
    # resume on both processes (distributed comes from config.json) and extend to 4 generations
    _launch(["train", "--resume", run, "--generations", "4"], tmp_path, None)
    assert_same_params(finished_run, run)
    assert_same_metrics(finished_run, run, 4)
