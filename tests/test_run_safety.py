"""What a run directory guarantees (issue 10): one process at a time, exact resume from any stop
(a signal, a kill before the first checkpoint, a full disk), extension with --generations,
signals and the watchdog ending in one line, non-finite ES means stopped, edited configs refused.

Runs are tiny quickstart runs in subprocesses sharing the session's compilation cache
(conftest.finished_run); a patched subprocess (_PATCHED) slows, hangs or breaks the disk of the
real command where a test needs a run to be in a given state.
"""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

import discover.meta.run as run_mod
from discover import checkpoint, rundir
from discover.cli import main
from tests.runs import (
    TINY,
    assert_same_metrics,
    assert_same_params,
    cli,
    env_for,
    error_lines,
    fake_run,
    ok,
    one_error_line,
    records,
    snapshot,
)

# The real `discover` command (signals installed first, as in the console script), with one
# thing patched: "slow" sleeps `value` seconds after reading each generation call's metrics but
# the first (so generation 0 is logged at once), "hang" never returns from the first call,
# "enospc" fails every write of the generation-3 checkpoint with a full disk, "slowsave" takes
# `value` seconds between a checkpoint's data and its manifest.
_PATCHED = """
import errno, sys, time
from discover import signals
signals.install()
import discover.checkpoint as C
import discover.meta.loop as L

mode, value, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
real_make, real_to_host, real_write = L.make_multi_generation, L.to_host, C._write_file
reads = []

def hung_make(meta, k):
    def call(*args):
        time.sleep(3600)
    return call

def slow_to_host(tree):
    out = real_to_host(tree)
    if reads:
        time.sleep(value)
    reads.append(1)
    return out

def slow_manifest(path, data):
    if path.name == "manifest.json":
        time.sleep(value)
    return real_write(path, data)

def full_disk(path, data):
    if path.parent.name.startswith("gen_000003"):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    return real_write(path, data)

if mode == "hang":
    L.make_multi_generation = hung_make
if mode == "slow":
    L.to_host = slow_to_host
if mode == "enospc":
    C._write_file = full_disk
if mode == "slowsave":
    C._write_file = slow_manifest
from discover.cli import main
sys.exit(main(argv))
"""


def _patched(mode, value, argv, cwd, cache_dir, popen=False):
    args = [sys.executable, "-c", _PATCHED, mode, str(value), *map(str, argv)]
    if popen:
        return subprocess.Popen(args, cwd=cwd, env=env_for(cache_dir), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
    return subprocess.run(args, cwd=cwd, env=env_for(cache_dir), capture_output=True, text=True, timeout=600)


def _wait_for(predicate, proc, timeout=300, what="condition"):
    deadline = time.time() + timeout
    while not predicate():
        assert proc is None or proc.poll() is None, f"process exited early ({proc.returncode}) waiting for {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _lines(run_dir) -> int:
    path = run_dir / "metrics.jsonl"
    return len([line for line in path.read_text().splitlines() if line.strip()]) if path.exists() else 0


def _without_lock(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k != ".lock"}


def test_sigterm_mid_run_checkpoints_then_resumes_exactly(finished_run, cache_dir, tmp_path):
    run = tmp_path / "run"
    proc = _patched("slow", 1.0, ["train", "--preset", "quickstart", "--out", run, *TINY], tmp_path, cache_dir, popen=True)
    try:
        _wait_for(lambda: _lines(run) >= 1, proc, what="generation 0")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    line = one_error_line(subprocess.CompletedProcess([], proc.returncode, out, err), proc.returncode, "SIGTERM")
    assert "checkpoint written" in line and f"--resume {run}" in line
    done = _lines(run)
    assert 1 <= done < 4 and checkpoint.list_checkpoints(run)[-1] == done  # the generation in hand
    assert not (run / "discovered.msgpack").exists()
    ok(cli(["train", "--resume", run], cwd=tmp_path, cache_dir=cache_dir))
    assert_same_params(finished_run, run)
    assert_same_metrics(finished_run, run, 4)


def test_second_signal_exits_at_once_and_the_run_stays_resumable(finished_run, cache_dir, tmp_path):
    run = tmp_path / "run"
    proc = _patched("slow", 30.0, ["train", "--preset", "quickstart", "--out", run, *TINY], tmp_path, cache_dir, popen=True)
    try:
        _wait_for(lambda: _lines(run) >= 1, proc, what="generation 0")
        proc.send_signal(signal.SIGINT)  # asks to stop after the (30 s) generation in hand ...
        time.sleep(0.5)
        t0 = time.time()
        proc.send_signal(signal.SIGINT)  # ... the second one does not wait
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.time() - t0 < 20
    assert proc.returncode == 130
    line = one_error_line(subprocess.CompletedProcess([], 130, out, err), 130, "SIGINT", "again")
    assert f"--resume {run}" in line
    # the checkpoints written so far are intact (the resume itself is tested above)
    have = checkpoint.list_checkpoints(run)
    assert have and not any(".tmp-" in p.name for p in (run / "checkpoints").iterdir())
    cfg = run_mod.load_config(run)
    built = run_mod.build(cfg)
    k_init, k_obj, _, _ = run_mod._keys(cfg)
    gen, _ = checkpoint.restore(run, built.meta.init(k_init, built.objective.init(k_obj)), on_skip=_no_skip)
    assert gen == have[-1]


def _no_skip(generation, reason):
    raise AssertionError(f"checkpoint {generation} damaged: {reason}")


@pytest.mark.slow  # suite time; SIGTERM mid-run (the same handler) stays in the default suite
def test_ctrl_c_during_a_checkpoint_save_finishes_it(cache_dir, tmp_path):
    run = tmp_path / "run"
    proc = _patched("slowsave", 3.0, ["train", "--preset", "quickstart", "--out", run, *TINY], tmp_path, cache_dir, popen=True)
    saving = lambda: (run / "checkpoints").is_dir() and any(".tmp-" in p.name for p in (run / "checkpoints").iterdir())
    try:
        _wait_for(saving, proc, what="a checkpoint being written")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    one_error_line(subprocess.CompletedProcess([], 130, out, err), 130, "stopped by SIGINT", "checkpoint written")
    have = checkpoint.list_checkpoints(run)
    assert have and not any(".tmp-" in p.name for p in (run / "checkpoints").iterdir())
    assert [json.loads((run / "checkpoints" / f"gen_{g:06d}" / "manifest.json").read_text())["generation"] for g in have] == have


@pytest.mark.parametrize("moment", ["0.6s", "2.5s", "after config.json"])
def test_ctrl_c_during_start_up_is_one_line(cache_dir, tmp_path, moment):
    """No traceback, no segfault (2 of 6 tries segfaulted on the starting commit)."""
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "discover.cli", "train", "--preset", "quickstart", "--out", str(run), *TINY],
                            cwd=tmp_path, env=env_for(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        if moment.endswith("s"):
            time.sleep(float(moment[:-1]))
        else:
            _wait_for(lambda: (run / "config.json").exists(), proc, what="config.json")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (proc.returncode, err)
    one_error_line(subprocess.CompletedProcess([], 130, out, err), 130, "interrupted by SIGINT")
    if (run / "config.json").exists():  # what was written is a run that resumes
        assert rundir.kind_of(run) == "train" and run_mod.load_config(run)
    elif run.exists():  # or a start that a new run with the same --out takes over
        assert rundir.check_out(run) == run


def test_watchdog_dumps_stacks_and_exits(tmp_path):
    run = tmp_path / "run"
    t0 = time.time()
    # 10 s: start-up steps report progress too, and one may take seconds on a loaded machine
    proc = _patched("hang", 0, ["train", "--preset", "quickstart", "--out", run, *TINY, "--watchdog_s", "10"], tmp_path, None)
    one_error_line(proc, 3, "watchdog", "no progress", "watchdog-stacks.txt")
    assert time.time() - t0 < 120
    stacks = (run / "watchdog-stacks.txt").read_text()
    assert "compiling the generation program" in stacks  # the last step that finished
    assert "in call" in stacks  # the hung frame, from the dump
    assert "Thread" in stacks or "thread" in stacks


@pytest.mark.slow  # suite time; damaged-checkpoint fallback is checked in the default suite
def test_full_disk_keeps_the_newest_good_checkpoint_then_resumes_exactly(finished_run, cache_dir, tmp_path):
    run = tmp_path / "run"
    proc = _patched("enospc", 0, ["train", "--preset", "quickstart", "--out", run, *TINY], tmp_path, cache_dir)
    one_error_line(proc, 2, "No space left on device", "gen_000003")
    assert checkpoint.list_checkpoints(run) == [1, 2]  # intact, nothing half-written listed
    assert not any(".tmp-" in p.name for p in (run / "checkpoints").iterdir())
    ok(cli(["train", "--resume", run], cwd=tmp_path, cache_dir=cache_dir))
    assert_same_params(finished_run, run)
    assert_same_metrics(finished_run, run, 4)


def test_resume_before_the_first_checkpoint_starts_at_generation_0(finished_run, cache_dir, tmp_path):
    """A run killed before its first checkpoint (config.json written, nothing else) resumes."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "run.json"):
        shutil.copy(finished_run / name, run / name)
    (run / "metrics.jsonl").write_text('{"generation": 0, "fitness_mean": 1.0}\n{"generation": 1, "fitn')
    proc = ok(cli(["train", "--resume", run], cwd=tmp_path, cache_dir=cache_dir))
    assert "starting from generation 0" in proc.stdout
    assert_same_params(finished_run, run)
    assert_same_metrics(finished_run, run, 4)


@pytest.mark.slow  # suite time; the lock itself is tested in the default suite
def test_two_resumes_at_once_then_extension_equals_a_longer_run(finished_run, cache_dir, tmp_path, capsys):
    """A second resume of a run in use is refused with one line and changes nothing; extending
    a finished run with --generations gives exactly the run that was that long from the start."""
    six = tmp_path / "six"
    ok(cli(["train", "--preset", "quickstart", "--out", six, *TINY, "--generations", "6"], cwd=tmp_path, cache_dir=cache_dir))
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    first = subprocess.Popen([sys.executable, "-m", "discover.cli", "train", "--resume", str(run), "--generations", "6"],
                             cwd=tmp_path, env=env_for(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
    try:
        _wait_for(lambda: (run / ".lock").exists() and (run / ".lock").read_text().strip(), first, what="the lock")
        assert main(["train", "--resume", str(run)]) == 2
        err = error_lines(capsys.readouterr().err)
        assert len(err) == 1 and "in use by another discover process" in err[0] and f"pid {first.pid}" in err[0]
        out, errs = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, errs[-3000:]
    assert_same_params(six, run)
    assert_same_metrics(six, run, 6)
    assert checkpoint.list_checkpoints(run) == [4, 5, 6]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["generations"] == 6 and summary["wall_time_s"] > json.loads((finished_run / "summary.json").read_text())["wall_time_s"]
    assert json.loads((run / "config.json").read_text())["generations"] == 6


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from discover.rundir import RunLock; "
                               "RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(600)", str(run)],
                              stdout=subprocess.PIPE, text=True, env=env_for(None))  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(rundir.RunDirError, match=f"pid {holder.pid}"):
            rundir.RunLock(run).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = rundir.RunLock(run).acquire()  # the kernel dropped the dead process's lock
    assert lock.took_over and f"pid {holder.pid}" in lock.took_over
    lock.release()


def test_resume_of_a_finished_run_changes_nothing(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    before = snapshot(run)
    proc = ok(cli(["train", "--resume", run], cwd=tmp_path))
    wall = json.loads((run / "summary.json").read_text())["wall_time_s"]
    assert "already finished" in proc.stdout and f"4 generations in {wall:.0f}s" in proc.stdout and wall > 1
    assert _without_lock(snapshot(run)) == _without_lock(before)  # summary (and its wall time) kept


@pytest.mark.parametrize("field,value,contains", [("lpo_hidden", 16, "does not match"), ("clip_eps", 0.3, "was edited")])
def test_resume_after_editing_config_is_refused(finished_run, tmp_path, capsys, field, value, contains):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "summary.json").unlink()
    data = json.loads((run / "config.json").read_text())
    data["objective"][field] = value
    (run / "config.json").write_text(json.dumps(data))
    before = snapshot(run)
    assert main(["train", "--resume", str(run)]) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and contains in err[0] and "config.json" in err[0], err
    assert _without_lock(snapshot(run)) == _without_lock(before)


def test_resume_cannot_shorten_a_run(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert main(["train", "--resume", str(run), "--generations", "3"]) == 2
    assert "at least 4" in capsys.readouterr().err


@pytest.mark.slow  # compiles its own program (sigma is a constant of it); the loop's check is tested below
def test_non_finite_es_mean_stops_the_run_naming_the_generation(cache_dir, tmp_path):
    run = tmp_path / "run"
    proc = cli(["train", "--preset", "quickstart", "--out", run, *TINY, "--es.sigma", "1e38"], cwd=tmp_path, cache_dir=cache_dir)
    line = one_error_line(proc, 2, "non-finite", "es.sigma")
    bad = int(line.split("generation ")[1].split(":")[0])
    assert [r["generation"] for r in records(run)][-1] == bad
    assert all(g < bad + 1 for g in checkpoint.list_checkpoints(run))  # the bad state is never saved
    assert not (run / "discovered.msgpack").exists()


def test_read_only_run_directory_is_one_line_naming_the_path(tmp_path, capsys, monkeypatch):
    """A read-only filesystem (simulated: this machine's tests run as root, which ignores
    permissions) for --resume and for --out: one line with the path, nothing changed."""
    import errno
    import os
    from pathlib import Path

    run = fake_run(tmp_path / "run")
    before = snapshot(run)
    real_open, real_mkdir = os.open, Path.mkdir

    def read_only_open(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    def read_only_mkdir(self, *args, **kwargs):
        if self.name == "new":
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    monkeypatch.setattr(Path, "mkdir", read_only_mkdir)
    for argv, path in ([["train", "--resume", str(run)], run / ".lock"],
                       [["train", "--preset", "quickstart", "--out", str(tmp_path / "new")], tmp_path / "new"]):  # fmt: skip
        assert main(argv) == 2
        err = error_lines(capsys.readouterr().err)
        assert len(err) == 1 and "Read-only file system" in err[0] and str(path) in err[0], err
    assert snapshot(run) == before
