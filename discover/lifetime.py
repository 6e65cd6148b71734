"""One agent's lifetime: N updates of (rollout -> objective loss -> optimiser step), then evaluation.

`make_lifetime(...)` builds pure functions; `train_agent(objective_params, level, lifetime, key)`
is the fitness function that ES vmaps over a population. Lifetimes of different length run in
one program: the update loop scans to the static maximum and freezes agents once n >= N.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from discover.agents import gae, make_evaluate, make_networks, make_rollout
from discover.agents.side_critic import make_side_critic
from discover.objectives.temporal import lifetime_features
from discover.prng_cpu import use_unrolled_threefry

use_unrolled_threefry()  # before any lifetime program is lowered (see discover.prng_cpu)


class AgentState(NamedTuple):
    """Everything that changes during a lifetime ([E, ...] for the env parts)."""

    params: dict
    opt_state: tuple
    env_state: object
    obs: jax.Array
    critic: tuple | None = None  # (params, opt_state) of a side critic (see make_lifetime)


class LifetimeMetrics(NamedTuple):
    """Per-update statistics [N_max] (zero past the agent's own N) and the final evaluation
    (NaN when any agent parameter ended non-finite)."""

    return_sum: jax.Array  # summed returns of the episodes completed during update n
    episodes: jax.Array  # number of episodes completed during update n
    loss: jax.Array  # the objective's loss (last minibatch of update n)
    final_return: jax.Array  # scalar: mean return of fresh evaluation episodes after training
    # Level-score statistics of update n's rollout (discover.curricula.scores), zero without a
    # critic: mean max(GAE, 0), mean V(s_t), and the best episode return completed (-inf: none).
    pvl: jax.Array | None = None
    value_mean: jax.Array | None = None
    return_max: jax.Array | None = None

    @property
    def lifetime_return(self):
        """Mean return of all episodes completed during training (area under the curve)."""
        return self.return_sum.sum(-1) / jnp.maximum(self.episodes.sum(-1), 1.0)


class Lifetime(NamedTuple):
    """The pure functions of an agent's life (see make_lifetime)."""

    nets: object
    rollout: Callable  # (params, level, env_state, obs, key) -> (env_state, obs, Transition)
    init: Callable  # (key, level) -> AgentState
    update: Callable  # (state, n, objective_params, level, lifetime, key) -> (state, info)
    evaluate: Callable  # (actor_params, level, key) -> scalar
    train: Callable  # (objective_params, level, lifetime, key) -> (AgentState, LifetimeMetrics)
    max_lifetime: int  # static: every N this lifetime is built for is <= it


def all_finite(tree) -> jax.Array:
    """Scalar bool: every entry of every leaf is finite. A diverged agent can still produce a
    finite evaluation return (NaN logits make jax.random.categorical pick action 0 forever),
    so fitness checks the parameters themselves."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def image_shape_of(env, params):
    """The unflattened observation shape of a (wrapped) gymnax env, if it is an image [H, W, C]."""
    base = env
    while hasattr(base, "_env"):
        base = base._env
    shape = tuple(base.observation_space(params).shape)
    return shape if len(shape) == 3 else None


def make_optimizer(agent_cfg, differentiable: bool = False):
    """Gradient clipping then Adam scaling (or plain SGD); the learning rate is applied outside
    so it can be annealed with the traced lifetime N and differ between actor and aux nets.

    differentiable: the update will itself be differentiated (meta-gradients). Adam's
    sqrt(v) has an infinite derivative where a gradient entry is exactly zero (e.g. weights of
    always-zero inputs), so a small eps_root keeps second-order gradients finite.
    """
    clip = optax.clip_by_global_norm(agent_cfg.max_grad_norm)
    if agent_cfg.optimizer == "adam":
        return optax.chain(clip, optax.scale_by_adam(eps=1e-5, eps_root=1e-8 if differentiable else 0.0))
    return clip


STAT_FIELDS = ("return_sum", "episodes", "loss", "pvl", "value_mean", "return_max")
# What a per-update statistic reads past an agent's N (or before any update): nothing happened.
STAT_FILL = {"return_max": -jnp.inf}


def make_lifetime(cfg, objective, env, env_params, max_lifetime: int, differentiable: bool = False,
                  side_critic: bool = False) -> Lifetime:
    """Build the lifetime functions for a RunConfig-like cfg (fields agent, objective, lifetime).

    env: a wrapped environment from environments.make; env_params: any level of it (for shapes);
    max_lifetime: static number of updates to scan (>= every N this program will see).
    differentiable: updates will be differentiated w.r.t. the objective (meta-gradients).
    side_critic: an agent without a critic (LPG) also trains a value critic on its rollouts, for
    the pvl / value_mean statistics (agents with a critic use their own).
    """
    acfg, ocfg, lcfg = cfg.agent, cfg.objective, cfg.lifetime
    num_envs, num_steps = lcfg.num_envs, lcfg.rollout_len
    if lcfg.eval_steps < 1:
        raise ValueError(
            "lifetime.eval_steps=0 means the environment's episode limit; resolve it first "
            "(discover.validate.resolve) or set it"
        )
    nets = make_networks(
        acfg, env.num_actions, objective.head, objective.aux_size, image_shape_of(env, env_params)
    )
    rollout = make_rollout(env, nets, num_steps, lcfg.bootstrap_truncation)
    evaluate = make_evaluate(env, nets, lcfg.eval_envs, lcfg.eval_steps)
    tx = make_optimizer(acfg, differentiable)
    # A select, not `or`, so discover.sweep can pass traced learning rates.
    aux_lr = jnp.where(jnp.asarray(acfg.aux_lr) > 0, acfg.aux_lr, acfg.lr)
    if objective.sequence and num_envs % objective.minibatches:
        raise ValueError(f"lifetime.num_envs={num_envs} must be divisible by objective.minibatches={objective.minibatches}")
    if not objective.sequence and (num_envs * num_steps) % objective.minibatches:
        raise ValueError("lifetime.num_envs * lifetime.rollout_len must be divisible by objective.minibatches")
    reset = jax.vmap(env.reset, in_axes=(0, None))
    side = None
    if side_critic and objective.head != "critic":
        side = make_side_critic(acfg, env.num_actions, image_shape_of(env, env_params), ocfg.gamma, ocfg.gae_lambda, aux_lr)

    def init(key, level):
        k_env, k_net = jax.random.split(key)
        obs, env_state = reset(jax.random.split(k_env, num_envs), level)
        params = nets.init(k_net, obs[0])
        critic = None if side is None else side.init(jax.random.fold_in(k_net, 1), obs[0])
        return AgentState(params, tx.init(params), env_state, obs, critic)

    def make_batch(traj):
        """The fields this objective reads, [T, E, ...]; unread fields would only be shuffled."""
        if objective.uses_gae:
            discounts = ocfg.gamma * (1.0 - traj.terminated)
            adv, targets = jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None), out_axes=1)(
                traj.reward, traj.aux, traj.next_aux, discounts, traj.done, ocfg.gae_lambda
            )
            return {
                "obs": traj.obs,
                "action": traj.action,
                "log_prob": traj.log_prob,
                "value": traj.aux,
                "advantages": adv,
                "targets": targets,
            }
        return {
            "obs": traj.obs,
            "action": traj.action,
            "log_prob": traj.log_prob,
            "reward": traj.reward,
            "done": traj.done,
            "terminated": traj.terminated,
            "next_aux": traj.next_aux,
        }

    def minibatches(batch, key):
        """Split a [T, E, ...] batch into [M, ...] minibatches (shuffled unless M == 1)."""
        m = objective.minibatches
        if objective.sequence:
            perm = jax.random.permutation(key, num_envs) if m > 1 else jnp.arange(num_envs)
            split = lambda x: jnp.swapaxes(x[:, perm].reshape((num_steps, m, num_envs // m) + x.shape[2:]), 0, 1)
        else:
            n = num_steps * num_envs
            perm = jax.random.permutation(key, n) if m > 1 or objective.epochs > 1 else jnp.arange(n)
            split = lambda x: x.reshape((n,) + x.shape[2:])[perm].reshape((m, n // m) + x.shape[2:])
        return jax.tree.map(split, batch)

    grad_fn = jax.grad(objective.loss, argnums=2, has_aux=True)

    def update(state, n, objective_params, level, lifetime, key):
        """Agent update n (0-based): one rollout, then epochs x minibatches gradient steps."""
        k_roll, k_perm = jax.random.split(key)
        env_state, obs, traj = rollout(state.params, level, state.env_state, state.obs, k_roll)
        batch = make_batch(traj)
        feats = lifetime_features(n, lifetime)
        frac = 1.0 - n / lifetime if acfg.anneal_lr else 1.0
        scale = {"actor": -acfg.lr * frac, "aux": -aux_lr * frac}

        def grad_step(carry, mb):
            params, opt_state = carry
            grads, info = grad_fn(objective_params, nets, params, mb, feats)
            updates, opt_state = tx.update(grads, opt_state, params)
            updates = {k: jax.tree.map(lambda u: scale[k] * u, v) for k, v in updates.items()}
            return (optax.apply_updates(params, updates), opt_state), info

        def epoch(carry, k):
            return jax.lax.scan(grad_step, carry, minibatches(batch, k))

        (params, opt_state), info = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(k_perm, objective.epochs)
        )
        info = jax.tree.map(lambda x: x[-1, -1], info)  # the objective's info, last minibatch
        critic, adv, values = state.critic, batch.get("advantages"), batch.get("value")
        if side is not None:
            critic, adv, values = side.step(state.critic, traj, obs)
        zero = jnp.float32(0.0)
        stats = {
            "return_sum": traj.episode_return.sum(),
            "episodes": traj.episode_done.sum(),
            "loss": info.get("actor_loss", zero),
            "pvl": zero if adv is None else jnp.maximum(adv, 0.0).mean(),
            "value_mean": zero if values is None else values.mean(),
            "return_max": jnp.max(jnp.where(traj.episode_done > 0, traj.episode_return, -jnp.inf)),
            "info": info,
            "traj": traj,  # the rollout itself (meta-gradients train their critic on it)
        }
        return AgentState(params, opt_state, env_state, obs, critic), stats

    def train(objective_params, level, lifetime, key):
        """Train a fresh agent for `lifetime` updates (traced, <= max_lifetime), then evaluate."""
        k_init, k_train, k_eval = jax.random.split(key, 3)
        state = init(k_init, level)

        def body(state, n):
            # Keys depend only on n, so an agent's trajectory does not depend on max_lifetime.
            new_state, stats = update(state, n, objective_params, level, lifetime, jax.random.fold_in(k_train, n))
            active = n < lifetime
            state = jax.tree.map(lambda a, b: jnp.where(active, a, b), new_state, state)
            stats = {k: stats[k] for k in STAT_FIELDS}
            return state, {k: jnp.where(active, v, STAT_FILL.get(k, 0.0)) for k, v in stats.items()}

        state, stats = jax.lax.scan(body, state, jnp.arange(max_lifetime))
        final = evaluate(state.params["actor"], level, k_eval)
        final = jnp.where(all_finite(state.params), final, jnp.nan)
        return state, LifetimeMetrics(final_return=final, **stats)

    return Lifetime(nets, rollout, init, update, evaluate, train, max_lifetime)
