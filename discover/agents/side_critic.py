"""A value critic trained beside an agent that has none (LPG's agent has a prediction vector,
not a value function), so that level scores that need values (positive value loss, maximum
Monte-Carlo; discover.curricula.scores) exist for every objective. It learns from the agent's
own rollouts and never touches the agent's update.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from discover.agents.gae import gae
from discover.agents.networks import make_networks


class SideCritic(NamedTuple):
    init: Callable  # (key, obs [D]) -> (params, opt_state)
    step: Callable  # (critic, traj, last_obs [E, D]) -> (critic, advantages [T, E], values [T, E])


def make_side_critic(agent_cfg, num_actions: int, image_shape, gamma: float, gae_lambda: float, lr) -> SideCritic:
    """The agent's torso with a scalar head, trained by one gradient step per update on the GAE
    value targets of that update's rollout (the agent's optimiser kind, learning rate lr).

    The successor of the last step of an episode is the reset observation (the rollout keeps no
    pre-reset observation for a predictor agent); terminations have zero discount, so only
    truncated steps bootstrap from it, a small bias that only the score sees.
    """
    nets = make_networks(agent_cfg, num_actions, "critic", 0, image_shape)
    clip = optax.clip_by_global_norm(agent_cfg.max_grad_norm)
    tx = optax.chain(clip, optax.scale_by_adam(eps=1e-5)) if agent_cfg.optimizer == "adam" else clip

    def init(key, obs):
        params = nets.init(key, obs)["aux"]
        return params, tx.init(params)

    def step(critic, traj, last_obs):
        params, opt_state = critic
        values = nets.aux(params, traj.obs)
        nxt = jnp.concatenate([values[1:], nets.aux(params, last_obs)[None]], axis=0)
        adv, targets = jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None), out_axes=1)(
            traj.reward, values, nxt, gamma * (1.0 - traj.terminated), traj.done, gae_lambda
        )
        targets = jax.lax.stop_gradient(targets)
        grads = jax.grad(lambda p: 0.5 * jnp.mean((nets.aux(p, traj.obs) - targets) ** 2))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, jax.tree.map(lambda u: -lr * u, updates))
        return (params, opt_state), jax.lax.stop_gradient(adv), jax.lax.stop_gradient(values)

    return SideCritic(init, step)
