"""Several XLA CPU devices for the `discover` command, on request.

XLA runs a program on one CPU device, and the small operations of a population of agents
keep about one core busy. Given several CPU devices, ES shards its population over them
(`discover.meta.es.population_mesh`, as over several GPUs), one shard per core. On the 2-core
machine a TA-LPG gridworld generation is 1.6-1.7x faster that way, with every member's fitness
and the ES mean bit-identical to the one-device run
(`experiments/benchmarks/results/generation_cpu_2dev.json`; tests/test_cpu_cores.py).

It is opt-in (DISCOVER_CPU_DEVICES=N, or =auto for one per core) because XLA's in-process CPU
collectives can deadlock: a GROOVE run (curriculum.name=plr, groove-tabular-cpu) on two CPU
devices had one device waiting in an all-reduce and the other in an all-to-all until XLA
aborted it after 40 s. ES with domain randomisation ran correctly.

The command sets XLA's `--xla_force_host_platform_device_count` before JAX starts a backend.
It only shapes the CPU platform: on a GPU or TPU machine JAX's devices are the accelerators.
From Python, set XLA_FLAGS yourself before JAX's first use.
"""

from __future__ import annotations

import os

ENV = "DISCOVER_CPU_DEVICES"  # N: that many CPU devices; "auto": one per core; unset or 1: XLA's one
FLAG = "--xla_force_host_platform_device_count"
MAX_AUTO = 8


def auto_count(cores: int | None) -> int:
    """The largest power of two <= cores, at most MAX_AUTO: populations are powers of two (and
    even, with antithetic sampling), and sharding needs the population to divide evenly."""
    n = 1
    while n * 2 <= min(cores or 1, MAX_AUTO):
        n *= 2
    return n


def use_cpu_cores(environ=os.environ, cores: int | None = None) -> int:
    """Add FLAG=n to XLA_FLAGS in `environ` when DISCOVER_CPU_DEVICES asks for n > 1 devices
    ("auto": auto_count(cores or os.cpu_count())) and XLA_FLAGS names no device count yet.
    Returns the n set, or 0 when XLA_FLAGS was left alone. Only the `discover` console entry
    calls it, first thing in a fresh process, before JAX exists."""
    flags = environ.get("XLA_FLAGS", "")
    if FLAG in flags:
        return 0
    setting = environ.get(ENV, "").strip().lower()
    if not setting:
        return 0
    if setting == "auto":
        n = auto_count(cores if cores is not None else os.cpu_count())
    else:
        try:
            n = int(setting)
        except ValueError:
            raise ValueError(f"{ENV}={setting!r} is neither a number of CPU devices nor 'auto'") from None
    if n <= 1:
        return 0
    environ["XLA_FLAGS"] = f"{flags} {FLAG}={n}".strip()
    return n
