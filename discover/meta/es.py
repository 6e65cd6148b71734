"""Meta-optimisation of an objective's parameters by evolution strategies (evosax).

One generation = ask -> sample tasks -> train every member's agent for its lifetime -> shape
fitness -> tell -> update the curriculum, all inside one compiled program. With antithetic
task sampling the twins theta +- sigma z (members i and i + P/2) share level, lifetime and
PRNG key (common random numbers), so the difference between their fitness is due to the
perturbation alone.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from discover.meta.fitness import SHAPINGS, fitness_stats
from discover.meta.strategies import lr_schedule, make_strategy
from discover.meta.levels import make_level_source, outcome_from_metrics
from discover.packing import auto_slots, make_packed_train


class MetaState(NamedTuple):
    """Everything a run needs to continue exactly: ES state, curriculum state, generation."""

    es_state: object
    curriculum_state: object
    generation: jax.Array


class ES(NamedTuple):
    init: Callable  # (key, objective_params) -> MetaState
    generation: Callable  # (MetaState, run_key) -> (MetaState, metrics)
    mean: Callable  # (MetaState) -> objective params (the current search mean)
    strategy: object
    mesh: object = None  # the device mesh the population is sharded over (None: one device)


def _strong(x):
    """Drop weak types, so a generation's output state has exactly its input's types and the
    jitted generation compiles once rather than again on its second call."""
    return jax.lax.convert_element_type(x, jnp.asarray(x).dtype)


def population_mesh(population: int):
    """A 1-D device mesh over all (global) devices when the population divides evenly, else None."""
    devices = jax.devices()
    if len(devices) <= 1 or population % len(devices):
        return None
    return Mesh(np.array(devices), ("pop",))


def make_population_eval(lifetime, chunk_size: int, mesh, slots: int = 0):
    """evaluate(pop [P,...], levels [P,...], lifetimes [P], keys [P]) -> (LifetimeMetrics [P, ...],
    utilisation scalar: the share of computed agent updates that were within some agent's N).

    slots > 0: pack the (per-device, per-chunk) population's lifetimes into that many slots
    (discover.packing); 0: vmap lifetime.train, every member scanned to lifetime.max_lifetime.
    chunk_size > 0 evaluates the (per-device) population in sequential chunks to bound memory;
    with a mesh the population axis is split across devices with shard_map.
    """
    if slots:
        packed = make_packed_train(lifetime, slots)
        group = lambda pop, lv, n, k: packed(pop, lv, n, k)
    else:

        def group(pop, levels, lifetimes, keys):
            metrics = jax.vmap(lambda p, lv, n, k: lifetime.train(p, lv, n, k)[1])(pop, levels, lifetimes, keys)
            return metrics, lifetimes.sum() / (lifetimes.shape[0] * lifetime.max_lifetime)

    def local(pop, levels, lifetimes, keys):
        if chunk_size:
            chunked = lambda x: x.reshape((-1, chunk_size) + x.shape[1:])
            metrics, util = jax.lax.map(lambda xs: group(*xs), jax.tree.map(chunked, (pop, levels, lifetimes, keys)))
            metrics = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), metrics)
            return metrics, util.mean(keepdims=True)
        metrics, util = group(pop, levels, lifetimes, keys)
        return metrics, util.reshape(1).astype(jnp.float32)

    if mesh is not None:
        return _one_gather(local, mesh)

    def evaluate(pop, levels, lifetimes, keys):
        metrics, util = local(pop, levels, lifetimes, keys)
        return metrics, util.mean()

    return evaluate


def _one_gather(local, mesh):
    """The population evaluation split over the mesh's devices with exactly one collective.

    The inputs are pinned replicated, so each device slices its own members without
    communicating; each device's metrics [p, ...] and utilisation go out as one float32 block
    [p, K], and one all-gather makes the block replicated, after which the generation (fitness,
    tell, curriculum) runs replicated. Left to itself, XLA's sharding propagation spread the
    population axis into the level sampler and the curriculum and gathered each result
    separately: 33-44 independent collectives per generation. On CPU devices, which run
    collectives in-process, a GROOVE generation deadlocked with one device in an all-reduce
    and the other in an all-to-all; one collective per generation leaves no order to disagree on.
    """
    spec, replicated = PartitionSpec("pop"), NamedSharding(mesh, PartitionSpec())
    layout = {}  # filled while shard_map traces `flat`: the metrics' treedef and member shapes

    def flat(pop, levels, lifetimes, keys):
        metrics, util = local(pop, levels, lifetimes, keys)
        leaves, layout["tree"] = jax.tree.flatten(metrics)
        if any(x.dtype != jnp.float32 for x in leaves):
            raise TypeError("sharded population metrics must all be float32 to travel in one block")
        layout["shapes"] = [x.shape[1:] for x in leaves]
        members = lifetimes.shape[0]
        cols = [x.reshape(members, -1) for x in leaves] + [jnp.broadcast_to(util.reshape(1, 1), (members, 1))]
        return jnp.concatenate(cols, axis=1)

    sharded = jax.shard_map(flat, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)
    devices = mesh.devices.size

    def evaluate(pop, levels, lifetimes, keys):
        inputs = jax.lax.with_sharding_constraint((pop, levels, lifetimes, keys), replicated)
        block = jax.lax.with_sharding_constraint(sharded(*inputs), replicated)
        members, leaves, start = block.shape[0], [], 0
        for shape in layout["shapes"]:
            size = math.prod(shape)
            leaves.append(block[:, start:start + size].reshape((members,) + shape))
            start += size
        # One utilisation per device (its first member's copy), averaged as before.
        util = block[:, -1].reshape(devices, -1)[:, 0]
        return jax.tree.unflatten(layout["tree"], leaves), util.mean()

    return evaluate


def population_slots(cfg, task, population: int, mesh) -> int:
    """Packed slots per device (and chunk) for a task, or 0 when packing does not apply (every
    task lives max_lifetime updates, or lifetime.packing is off)."""
    if task.fixed_lifetime or not cfg.lifetime.packing:
        return 0
    local = cfg.es.chunk_size or population // (mesh.devices.size if mesh is not None else 1)
    return auto_slots(local, task.mean_lifetime, task.max_lifetime, cfg.lifetime.pack_width)


def select_fitness(kind: str, metrics, baseline=None):
    """Raw fitness [P] (higher is better) from per-member LifetimeMetrics.

    final: mean evaluation return after training; auc: mean return of all training episodes;
    normalised: (final - baseline) / (|baseline| + 1) with the baseline's final return on the
    same task (A2C for LPG-style objectives, PPO for the PPO family).
    """
    if kind == "final":
        return metrics.final_return
    if kind == "auc":
        return metrics.lifetime_return
    return (metrics.final_return - baseline) / (jnp.abs(baseline) + 1.0)


def make_es(cfg, objective, lifetime, task, baseline_lifetime=None, mesh="auto", antagonist_lifetime=None) -> ES:
    """Build the ES generation program for a RunConfig.

    lifetime: discover.lifetime.Lifetime of the learned objective; task: curricula.Task;
    baseline_lifetime: Lifetime of the hand-designed baseline (needed for fitness=normalised);
    antagonist_lifetime: Lifetime of the antagonist (curriculum.score=alg_regret).
    """
    es_cfg = cfg.es
    pop_size = es_cfg.population
    n_tasks = pop_size // 2 if es_cfg.antithetic else pop_size
    template = objective.init(jax.random.key(0))
    strategy, es_params = make_strategy(es_cfg, template)
    if mesh == "auto":
        mesh = population_mesh(pop_size)
    slots = population_slots(cfg, task, pop_size, mesh)
    evaluate = make_population_eval(lifetime, es_cfg.chunk_size, mesh, slots)
    shape = SHAPINGS[es_cfg.shaping]
    schedule = lr_schedule(es_cfg)
    lcfg = cfg.lifetime
    steps_per_update = lcfg.num_envs * lcfg.rollout_len
    if es_cfg.fitness == "normalised":
        if baseline_lifetime is None:
            raise ValueError("fitness=normalised needs a baseline lifetime")
        evaluate_baseline = make_population_eval(
            baseline_lifetime, es_cfg.chunk_size, None, population_slots(cfg, task, n_tasks, None)
        )
    run_antagonist = None
    if antagonist_lifetime is not None:
        evaluate_antagonist = make_population_eval(
            antagonist_lifetime, es_cfg.chunk_size, None, population_slots(cfg, task, n_tasks, None)
        )
        run_antagonist = lambda levels, lifetimes, keys: evaluate_antagonist({}, levels, lifetimes, keys)[0].final_return
    source = make_level_source(cfg, task, run_antagonist)

    def init(key, objective_params):
        k_es, k_cur = jax.random.split(key)
        es_state = strategy.init(k_es, objective_params, es_params)
        state = MetaState(es_state, source.init(k_cur), jnp.zeros((), jnp.int32))
        out = jax.eval_shape(generation, state, jax.random.key(0))[0]
        state = jax.tree.map(lambda x, s: _strong(jnp.asarray(x, s.dtype)), state, out)
        if mesh is not None and jax.process_count() == 1:
            # Where a sharded generation leaves its state (replicated over the mesh), so that
            # its second call does not compile the program again for a differently placed input.
            state = jax.device_put(state, NamedSharding(mesh, PartitionSpec()))
        return state

    def generation(state, run_key):
        key = jax.random.fold_in(run_key, state.generation)
        k_ask, k_task, k_train, k_tell = jax.random.split(key, 4)
        pop, es_state = strategy.ask(k_ask, state.es_state, es_params)
        # The level source's replay decision is one scalar for the whole generation, taken here,
        # outside the population's vmap / shard_map.
        cur_state, draw = source.draw(k_task, state.curriculum_state, n_tasks, state.generation)
        levels, lifetimes = draw.levels, draw.lifetimes
        keys = jax.random.split(k_train, n_tasks)
        twin = lambda x: jnp.concatenate([x, x], axis=0) if es_cfg.antithetic else x
        metrics, utilisation = evaluate(pop, jax.tree.map(twin, levels), twin(lifetimes), twin(keys))
        baseline = None
        if es_cfg.fitness == "normalised":
            base = evaluate_baseline({}, levels, lifetimes, keys)[0].final_return
            baseline = twin(base)
        fitness = select_fitness(es_cfg.fitness, metrics, baseline)
        if mesh is not None:
            # Replicate before tell: otherwise XLA sums the ES gradient per device and then
            # across devices, a different summation order, and sharded runs drift from
            # single-device ones in the last bit.
            replicated = NamedSharding(mesh, PartitionSpec())
            pop, fitness = jax.lax.with_sharding_constraint((pop, fitness), replicated)
        # evosax minimises; shaped fitness is "higher is better" and always finite.
        es_state, _ = strategy.tell(k_tell, pop, -shape(fitness), es_state, es_params)
        outcome = outcome_from_metrics(metrics, lifetimes, keys, n_tasks)
        cur_state, level_metrics = source.score(jax.random.fold_in(k_task, 1), cur_state, draw, outcome, state.generation)
        out = fitness_stats(fitness)
        out.update(level_metrics)
        out.update(
            sigma=jnp.mean(getattr(es_state, "std", jnp.float32(es_cfg.sigma))),
            es_lr=schedule(state.generation),
            mean_norm=jnp.linalg.norm(es_state.mean),
            env_steps=(lifetimes.sum() * steps_per_update * (2 if es_cfg.antithetic else 1)).astype(jnp.float32),
            utilisation=utilisation,
        )
        new_state = MetaState(es_state, cur_state, state.generation + 1)
        return jax.tree.map(_strong, new_state), out

    def mean(state):
        return strategy.get_mean(state.es_state)

    return ES(init, generation, mean, strategy, mesh)
