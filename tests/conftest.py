"""Shared test set-up: a tiny finished run made by the CLI, and the compilation cache it fills."""

import os

import pytest

# Tests never write into the user's persistent compilation cache (~/.cache/discover/jax); tests
# that share compiled programs pass their own JAX_COMPILATION_CACHE_DIR.
os.environ.setdefault("DISCOVER_COMPILATION_CACHE", "0")

# Most of the default suite's time is XLA compiling small programs that then run for moments.
# It compiles with XLA's backend optimisations off (set before JAX starts, so subprocesses
# inherit it too): measured, about a third less time on 2 cores. Floats then differ in the last
# bits from an optimised build, and an ES learning test is a chaotic trajectory whose seed-wise
# thresholds were measured with optimised builds, so a run that selects slow tests (`-m slow`,
# where the learning tests live) keeps XLA's defaults. Benchmarks and real runs never see this.
def pytest_configure(config):
    if "not slow" not in (config.getoption("markexpr") or ""):
        return
    if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A persistent XLA cache shared by every subprocess run of the tiny config."""
    return tmp_path_factory.mktemp("xla_cache")


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, cache_dir):
    """A finished tiny run made by `discover train --preset quickstart ...` (do not modify it:
    copy it first)."""
    from tests.runs import TINY, cli, ok

    work = tmp_path_factory.mktemp("finished")
    out = work / "run"
    ok(cli(["train", "--preset", "quickstart", "--out", out, *TINY], cwd=work, cache_dir=cache_dir))
    return out
