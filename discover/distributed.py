"""Multi-process runs through jax.distributed: set-up before any JAX call, and who writes.

Every process runs the same program; the population is split over all processes' devices
(discover.meta.es.population_mesh) and every array the generation returns is replicated, so
each process holds the whole meta-state. Only process 0 writes the run directory.
"""

from __future__ import annotations

import os

from discover.config import ConfigError

# jax.distributed.initialize reads JAX_COORDINATOR_ADDRESS itself; these two it only learns
# from a cluster manager (SLURM, Open MPI, ...), so a plain launch (e.g. two processes on one
# machine) passes them here.
_ENV_COUNT, _ENV_ID = "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"


def _int_env(name: str):
    text = os.environ.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None


def initialize() -> None:
    """Start jax.distributed (once). Must run before any JAX computation in this process."""
    import jax
    from jax._src import xla_bridge

    if jax.distributed.is_initialized():
        return
    if xla_bridge.backends_are_initialized():
        raise ConfigError(
            "distributed=true needs jax.distributed.initialize() before any JAX computation, but JAX is already "
            "running in this process: call discover.distributed.initialize() first thing, or use the discover command"
        )
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        # CPU devices of several processes talk through gloo (no effect on GPU/TPU programs).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        # A process that finishes first waits at exit for the others (process 0 also plots), so
        # the shutdown barrier gets far longer than jax's default 300 s.
        jax.distributed.initialize(num_processes=_int_env(_ENV_COUNT), process_id=_int_env(_ENV_ID),
                                   shutdown_timeout_seconds=3600)  # fmt: skip
    except (ValueError, TypeError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(
            f"distributed=true: jax.distributed could not start ({first}); under a cluster manager it is detected, "
            f"otherwise set JAX_COORDINATOR_ADDRESS=host:port, {_ENV_COUNT} and {_ENV_ID} for every process"
        ) from None


def process_index() -> int:
    import jax

    return jax.process_index()


def is_writer() -> bool:
    """Whether this process writes the run directory (process 0, or a single process)."""
    return process_index() == 0


def to_host(tree):
    """A pytree of arrays as host numpy arrays; arrays replicated over several processes are
    read from this process's own copy."""
    import jax
    import numpy as np

    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            x = x.addressable_data(0)
        return np.asarray(x)

    return jax.tree.map(one, tree)


def barrier(name: str, timeout_s: float = 3600.0) -> None:
    """Wait until every process reaches `name` (nothing to wait for with one process).

    This is the coordination service's key-value barrier (jax's own array serialisation uses
    it), whose timeout we choose. A collective would do as a barrier only while the processes
    are less than 30 s apart: gloo gives up setting up its first collective after a fixed 30 s,
    and one process can finish compiling a generation program that much later than another.
    """
    import jax

    if jax.process_count() == 1:
        return
    from jax._src import distributed as jax_distributed  # no public barrier with a timeout

    jax_distributed.global_state.client.wait_at_barrier(name, int(timeout_s * 1000))
