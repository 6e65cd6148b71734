"""Packed lifetimes: a population whose agents live different numbers of updates N, without
paying for updates past each agent's N.

A vmapped `Lifetime.train` scans every member to the largest N and freezes the short-lived
ones, so on all_vrandlife (N log-uniform in [10, 250], mean ~75) about 70% of the updates of a
generation are thrown away. Here the P tasks are packed into S < P *slots*, each slot running
its tasks back to back: when a task's agent finishes its N-th update, its actor is stored and
the slot starts the next task's fresh agent on the following iteration. One `while_loop` at
the top level (not under vmap, so its trip count is the real makespan L) steps all slots with
one vmapped update per iteration. Tasks are assigned longest first to the least loaded slot
(LPT scheduling), which makes L close to max(N_max, sum N / S).

Every task keeps its own keys (init, update n, evaluation), exactly as `Lifetime.train` uses
them, so a packed task trains the same agent as `train` would alone (tested): packing changes
where and when an agent is computed, never what.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from discover.lifetime import STAT_FIELDS, STAT_FILL, LifetimeMetrics, all_finite


class Schedule(NamedTuple):
    """A packing of P tasks into S slots. first: [S] first task of each slot (-1: empty slot);
    next: [P] the task after each task in its slot (-1: last); loads: [S] updates per slot."""

    first: jax.Array
    next: jax.Array
    loads: jax.Array


def lpt_schedule(lifetimes: jax.Array, slots: int) -> Schedule:
    """Longest-processing-time-first packing of tasks with lifetimes [P] into `slots` slots.

    Tasks are taken in order of decreasing N (ties by index, so the schedule is deterministic)
    and each goes to the currently least loaded slot.
    """
    p = lifetimes.shape[0]
    order = jnp.argsort(-lifetimes, stable=True)

    def assign(carry, task):
        loads, first, last, nxt = carry
        s = jnp.argmin(loads)
        # Index p is out of bounds and dropped: an empty slot has no previous task to link.
        nxt = nxt.at[jnp.where(last[s] >= 0, last[s], p)].set(task, mode="drop")
        first = first.at[s].set(jnp.where(first[s] >= 0, first[s], task))
        return (loads.at[s].add(lifetimes[task]), first, last.at[s].set(task), nxt), None

    empty = jnp.full((slots,), -1, jnp.int32)
    init = (jnp.zeros((slots,), jnp.int32), empty, empty, jnp.full((p,), -1, jnp.int32))
    (loads, first, _, nxt), _ = jax.lax.scan(assign, init, order.astype(jnp.int32))
    return Schedule(first, nxt, loads)


def auto_slots(population: int, mean_lifetime: float, max_lifetime: int, width: float = 1.0) -> int:
    """Slots for `population` tasks: enough that the expected total work fills them to about the
    longest lifetime (S = P * E[N] / N_max), times `width` (> 1: wider, shorter loop, for an
    accelerator that is not yet saturated), between 1 and P."""
    if max_lifetime <= 0 or mean_lifetime <= 0:
        return population
    return int(min(population, max(1, math.ceil(population * width * mean_lifetime / max_lifetime))))


class _Slots(NamedTuple):
    task: jax.Array  # [S] the task each slot is training (-1: the slot has finished its queue)
    n: jax.Array  # [S] update index of that task's agent
    state: object  # AgentState [S, ...]


class _Outputs(NamedTuple):
    stats: dict  # name -> [P, N_max] per-update statistics (discover.lifetime.STAT_FIELDS)
    actor: object  # [P, ...] the actor of each task at the end of its lifetime
    finite: jax.Array  # [P] every agent parameter of the task was finite at the end


def make_packed_train(lifetime, slots: int) -> Callable:
    """train_many(objective_params [P, ...], levels [P, ...], lifetimes [P], keys [P])
    -> (LifetimeMetrics [P, ...], utilisation scalar).

    lifetime: a discover.lifetime.Lifetime (its max_lifetime bounds every N);
    slots: S, the vmapped width of the update loop (see auto_slots).
    utilisation = sum N / (S * L): the share of computed updates that belong to some agent.
    """
    max_n = lifetime.max_lifetime
    update = jax.vmap(lifetime.update)

    def train_many(objective_params, levels, lifetimes, keys):
        p = lifetimes.shape[0]
        lifetimes = jnp.minimum(lifetimes.astype(jnp.int32), max_n)
        k_init, k_train, k_eval = jnp.moveaxis(jax.vmap(lambda k: jax.random.split(k, 3))(keys), 1, 0)
        fresh = jax.vmap(lifetime.init)(k_init, levels)
        sched = lpt_schedule(lifetimes, slots)
        take = lambda tree, idx: jax.tree.map(lambda x: x[jnp.maximum(idx, 0)], tree)

        def where(mask, new, old):
            return jax.tree.map(lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old)

        def body(carry):
            run, out = carry
            active = run.task >= 0
            idx = jnp.maximum(run.task, 0)
            n_task = lifetimes[idx]
            keys_n = jax.vmap(jax.random.fold_in)(k_train[idx], run.n)
            new, stats = update(run.state, run.n, take(objective_params, idx), take(levels, idx), n_task, keys_n)
            state = where(active, new, run.state)
            row = jnp.where(active, run.task, p)  # p: out of bounds, dropped
            out = out._replace(stats={k: buf.at[row, run.n].set(stats[k], mode="drop") for k, buf in out.stats.items()})
            done = active & (run.n + 1 >= n_task)
            end_row = jnp.where(done, run.task, p)
            out = out._replace(
                actor=jax.tree.map(lambda buf, x: buf.at[end_row].set(x, mode="drop"), out.actor, state.params["actor"]),
                finite=out.finite.at[end_row].set(jax.vmap(all_finite)(state.params), mode="drop"),
            )
            following = jnp.where(done, sched.next[idx], run.task)
            state = where(done & (following >= 0), take(fresh, following), state)
            return _Slots(following, jnp.where(done, 0, run.n + 1), state), out

        stats = {k: jnp.full((p, max_n), STAT_FILL.get(k, 0.0), jnp.float32) for k in STAT_FIELDS}
        out = _Outputs(stats, fresh.params["actor"], jnp.zeros((p,), bool))
        run = _Slots(sched.first, jnp.zeros((slots,), jnp.int32), take(fresh, sched.first))
        _, out = jax.lax.while_loop(lambda c: jnp.any(c[0].task >= 0), body, (run, out))
        returns = jax.vmap(lifetime.evaluate)(out.actor, levels, k_eval)
        metrics = LifetimeMetrics(final_return=jnp.where(out.finite, returns, jnp.nan), **out.stats)
        utilisation = lifetimes.sum() / (slots * jnp.maximum(sched.loads.max(), 1))
        return metrics, utilisation.astype(jnp.float32)

    return train_many
