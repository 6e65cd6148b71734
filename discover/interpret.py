"""What a discovered LPG does during an agent's life (the data behind its interpretation plot).

A fresh agent is trained with the LPG for N updates (N = the run's meta-training lifetime) on
the run's own tasks. At every update a second rollout from the same policy is scored twice:
by the LPG (its pi_hat, how it moves log pi(a|s)) and by a value critic that is trained on the
side with GAE targets and never touches the agent. If pi_hat tracks the critic's advantage,
the LPG has discovered something like an actor-critic update; the entropy of y(s) over the
lifetime shows whether the prediction vector settles into a meaning.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from discover.agents import gae, make_networks
from discover.curricula import make_task
from discover.lifetime import image_shape_of, make_lifetime
from discover.objectives.temporal import lifetime_features

PROGRESS_POINTS = (0.0, 0.5, 1.0)


def _pearson(x, y):
    x, y = x.ravel() - x.mean(), y.ravel() - y.mean()
    return jnp.sum(x * y) / jnp.sqrt(jnp.sum(x * x) * jnp.sum(y * y) + 1e-12)


def lpg_lifetime_analysis(cfg, objective, params, seeds: int = 4, points=PROGRESS_POINTS, seed: int = 0,
                          critic_lr: float = 1e-3) -> dict:
    """Train `seeds` agents with the LPG `params` on the run's tasks; returns numpy arrays:

    pi_hat, advantage: [S, K, T, E] at the K updates n = round(p (N - 1)) for p in points;
    y_entropy: [S, N] mean entropy of y(s) over the rollout at each update;
    correlation: [S, N] Pearson correlation of pi_hat with the critic's advantage per update;
    returns: [S, N] mean return of episodes that ended in the update (NaN if none);
    progress: [K] the n/N of the K snapshots; lifetime: N; steps_per_update: E x T.
    """
    task = make_task(cfg.env, cfg.lifetime)
    n_life = int(task.max_lifetime)
    lt = make_lifetime(cfg, objective, task.env, task.template, n_life)
    critic_nets = make_networks(cfg.agent, task.env.num_actions, "critic", 0, image_shape_of(task.env, task.template))
    opt = optax.adam(critic_lr)
    ocfg = cfg.objective
    snaps = jnp.asarray([int(round(p * (n_life - 1))) for p in points], jnp.int32)

    def one(level, key):
        k_init, k_critic, k_train = jax.random.split(key, 3)
        state = lt.init(k_init, level)
        critic = critic_nets.init(k_critic, state.obs[0])["aux"]

        def body(carry, n):
            state, critic, copt = carry
            k_update, k_probe = jax.random.split(jax.random.fold_in(k_train, n))
            # A probe rollout from the current policy (its env state is discarded).
            _, last_obs, traj = lt.rollout(state.params, level, state.env_state, state.obs, k_probe)
            batch = {"reward": traj.reward, "done": traj.done, "next_aux": traj.next_aux}
            pi_hat, _ = objective.outputs(params, batch, traj.log_prob, traj.aux, lifetime_features(n, n_life))
            next_obs = jnp.concatenate([traj.obs[1:], last_obs[None]], axis=0)
            value, next_value = critic_nets.aux(critic, traj.obs), critic_nets.aux(critic, next_obs)
            adv, targets = jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None), out_axes=1)(
                traj.reward, value, next_value, ocfg.gamma * (1.0 - traj.terminated), traj.done, ocfg.gae_lambda)
            grads = jax.grad(lambda c: 0.5 * jnp.mean((critic_nets.aux(c, traj.obs) - targets) ** 2))(critic)
            updates, copt = opt.update(grads, copt, critic)
            critic = optax.apply_updates(critic, updates)
            y_logp = jax.nn.log_softmax(traj.aux)
            ent_y = -jnp.sum(jnp.exp(y_logp) * y_logp, axis=-1).mean()
            state, stats = lt.update(state, n, params, level, jnp.int32(n_life), k_update)
            ret = jnp.where(stats["episodes"] > 0, stats["return_sum"] / jnp.maximum(stats["episodes"], 1.0), jnp.nan)
            out = dict(pi_hat=pi_hat, advantage=adv, y_entropy=ent_y, correlation=_pearson(pi_hat, adv), returns=ret)
            return (state, critic, copt), out

        _, out = jax.lax.scan(body, (state, critic, opt.init(critic)), jnp.arange(n_life))
        out["pi_hat"], out["advantage"] = out["pi_hat"][snaps], out["advantage"][snaps]
        return out

    key = jax.random.key(seed)
    _, levels, _ = task.curriculum.sample(key, task.curriculum.init(key), seeds)
    out = jax.jit(jax.vmap(one))(levels, jax.random.split(jax.random.fold_in(key, 1), seeds))
    out = {k: np.asarray(v) for k, v in out.items()}
    out.update(progress=np.asarray(points, dtype=np.float32), lifetime=np.int32(n_life),
               steps_per_update=np.int32(cfg.lifetime.num_envs * cfg.lifetime.rollout_len))
    return out
