"""Several XLA CPU devices for the `discover` command, on request.

XLA runs a program on one CPU device, and the small operations of a population of agents
keep about one core busy. Given several CPU devices, ES shards its population over them
(`discover.meta.es.population_mesh`, as over several GPUs), one shard per core. On the 2-core
machine a TA-LPG gridworld generation is 1.6-1.7x faster that way
(`experiments/benchmarks/results/generation_cpu_2dev.json`).

It is opt-in (DISCOVER_CPU_DEVICES=N, or =auto for one per core; unset or 1: XLA's one device)
because a run's numbers then depend on its device count: each device compiles the members'
training for its own share of the population, the float rounding of some members' agents
differs in the last bits, and the quickstart's fitness first differs from the one-device run in
generation 9 (the first generations are equal, tests/test_cpu_cores.py). A run resumed on a
machine with another core count would not continue bit for bit.

XLA's CPU devices run collectives in-process. A GROOVE generation with 40 independent
collectives once deadlocked on two CPU devices (each device in a different one); a sharded
generation now communicates once (one all-gather, tested), so there is no order to disagree
on. XLA also aborts the process when the devices of a collective arrive more than 40 s apart,
which a long generation whose shards differ by a few percent could reach; with several devices
the command raises that limit above the run's watchdog (`watchdog_s`, 30 min by default), so
that a stall ends as the watchdog's stack dump and one-line error rather than an abort.

The command sets these flags before JAX starts a backend. They only shape the CPU platform:
on a GPU or TPU machine JAX's devices are the accelerators. From Python, set XLA_FLAGS yourself
before JAX's first use.
"""

from __future__ import annotations

import os

ENV = "DISCOVER_CPU_DEVICES"  # N: that many CPU devices; "auto": one per core; unset or 1: XLA's one
FLAG = "--xla_force_host_platform_device_count"
# Seconds the devices of one collective may arrive apart before XLA warns / aborts (its
# defaults: 20 and 40), and a collective may take in all (30 min); the aborts above the run
# watchdog's default 1800 s, which reports a real stall with every thread's stack.
COLLECTIVE_FLAGS = ("--xla_cpu_collective_call_warn_stuck_timeout_seconds=600",
                    "--xla_cpu_collective_call_terminate_timeout_seconds=7200",
                    "--xla_cpu_collective_timeout_seconds=7200")
MAX_AUTO = 8


def auto_count(cores: int | None) -> int:
    """The largest power of two <= cores, at most MAX_AUTO: populations are powers of two (and
    even, with antithetic sampling), and sharding needs the population to divide evenly."""
    n = 1
    while n * 2 <= min(cores or 1, MAX_AUTO):
        n *= 2
    return n


def use_cpu_cores(environ=os.environ, cores: int | None = None) -> int:
    """Add FLAG=n (and COLLECTIVE_FLAGS) to XLA_FLAGS in `environ` when DISCOVER_CPU_DEVICES
    asks for n > 1 CPU devices ("auto": auto_count(cores or os.cpu_count())) and XLA_FLAGS names
    no device count yet. Returns the n set, or 0 when XLA_FLAGS was left alone. Only the
    `discover` console entry calls it, first thing in a fresh process, before JAX exists."""
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
    extra = [f for f in COLLECTIVE_FLAGS if f.split("=")[0] not in flags]
    environ["XLA_FLAGS"] = " ".join([flags, f"{FLAG}={n}", *extra]).strip()
    return n
