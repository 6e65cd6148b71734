"""A2C: one gradient step per rollout on -A log pi + vf_coef * value loss - ent_coef * entropy."""

from __future__ import annotations

import jax.numpy as jnp

from discover.objectives.base import Objective, empty_params, log_prob_entropy, normalise


def make_a2c(cfg) -> Objective:
    def loss(params, nets, agent_params, batch, feats):
        logits = nets.actor(agent_params["actor"], batch["obs"])
        value = nets.aux(agent_params["aux"], batch["obs"])
        logp, entropy = log_prob_entropy(logits, batch["action"])
        adv = normalise(batch["advantages"], cfg.normalize_adv)
        actor_loss = -jnp.mean(adv * logp)
        value_loss = 0.5 * jnp.mean((value - batch["targets"]) ** 2)
        ent = entropy.mean()
        total = actor_loss + cfg.vf_coef * value_loss - cfg.ent_coef * ent
        return total, {"actor_loss": actor_loss, "value_loss": value_loss, "entropy": ent}

    # A2C takes exactly one step on the whole rollout, whatever epochs/minibatches say.
    return Objective("a2c", empty_params, loss, epochs=1, minibatches=1)
