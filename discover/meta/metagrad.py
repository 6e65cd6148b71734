"""The LPG paper's meta-gradient optimiser: the comparison baseline to ES.

A batch of B agents lives across meta-steps. Each meta-step, every agent takes K LPG updates
(differentiable w.r.t. the LPG parameters eta), then the updated agent is scored on a fresh
rollout by an A2C policy-gradient loss whose advantages come from a separately trained value
critic, plus the regularisers of the LPG paper:
    L_meta = -mean(A log pi) - b0 H(pi) - b1 H(y) + b2 mean(pi_hat^2) + b3 mean(|y_hat|^2).
eta follows Adam on dL_meta/deta (backpropagated through the K agent updates). The critic
learns, as in the LPG paper, from the agent's own experience: after each meta-step it takes
one Adam step towards GAE(lambda) targets on each of the K rollouts the agent trained on, then
on the meta-objective's rollout (K + 1 steps, in order). Agents whose
n reaches their lifetime N restart on a new task from the curriculum. Because it only sees K
updates ahead, this optimiser cannot see the end of training (the TA paper's point).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from discover.agents import gae, make_networks
from discover.lifetime import image_shape_of
from discover.meta.fitness import fitness_stats
from discover.meta.levels import Held, Outcome, make_agent_levels


class MetaGradState(NamedTuple):
    params: dict  # eta, the LPG parameters
    opt_state: tuple
    agents: object  # AgentState [B, ...]
    critic: dict  # value-critic params [B, ...]
    critic_opt: tuple
    n: jax.Array  # [B] update index of each agent
    lifetimes: jax.Array  # [B]
    levels: object  # [B, ...]
    curriculum_state: object
    generation: jax.Array
    level_slot: jax.Array  # [B] buffer slot of each agent's level (-1: fresh; prioritised replay)
    seen_max: jax.Array  # [B] best episode return each agent has seen on its level


class MetaGrad(NamedTuple):
    init: callable  # (key, eta) -> MetaGradState
    generation: callable  # (state, run_key) -> (state, metrics): one meta-step
    mean: callable  # state -> eta
    loss: callable  # (eta, state, keys [B]) -> (meta-loss, aux): the batch meta-objective


def _where(mask, new, old):
    """Per-agent select over a batched pytree: mask [B]."""
    return jax.tree.map(lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old)


def make_metagrad(cfg, objective, lifetime, task, antagonist_lifetime=None) -> MetaGrad:
    """antagonist_lifetime: Lifetime of the antagonist when curriculum.score=alg_regret."""
    mcfg, ocfg, lcfg = cfg.metagrad, cfg.objective, cfg.lifetime
    b, k_steps = mcfg.batch, mcfg.unroll
    critic_nets = make_networks(cfg.agent, task.env.num_actions, "critic", 0, image_shape_of(task.env, task.template))
    meta_opt = optax.adam(mcfg.lr)
    critic_opt = optax.adam(mcfg.critic_lr)
    run_antagonist = None
    if antagonist_lifetime is not None:
        run_antagonist = jax.vmap(lambda lv, n, k: antagonist_lifetime.train({}, lv, n, k)[1].final_return)
    agent_levels = make_agent_levels(cfg, task, run_antagonist)

    def init(key, params):
        k_cur, k_task, k_agents, k_critic = jax.random.split(key, 4)
        cur_state, held = agent_levels.init(k_task, b)
        levels, lifetimes = held.levels, held.lifetimes
        agents = jax.vmap(lifetime.init)(jax.random.split(k_agents, b), levels)
        critic = jax.vmap(lambda k, o: critic_nets.init(k, o)["aux"])(jax.random.split(k_critic, b), agents.obs[:, 0])
        state = MetaGradState(
            params, meta_opt.init(params), agents, critic, jax.vmap(critic_opt.init)(critic),
            jnp.zeros((b,), jnp.int32), lifetimes, levels, cur_state, jnp.zeros((), jnp.int32),
            held.slot, jnp.full((b,), -jnp.inf, jnp.float32),
        )
        return jax.tree.map(lambda x: jnp.asarray(x), state)

    def agent_meta_loss(eta, agent, critic, n, lifetime_n, level, key):
        """K LPG updates then the meta-loss on a fresh rollout, for one agent."""

        def inner(carry, i):
            agent, n = carry
            new, stats = lifetime.update(agent, n, eta, level, lifetime_n, jax.random.fold_in(key, i))
            # An agent whose lifetime ends inside the unroll is frozen from update N on: past N the
            # TA inputs would exceed n/N = 1 and an annealed learning rate would turn negative.
            active = n < lifetime_n
            new = jax.tree.map(lambda a, b: jnp.where(active, a, b), new, agent)
            stats = dict(stats, active=active.astype(jnp.float32), last_obs=new.obs)
            return (new, n + active.astype(n.dtype)), stats

        (agent_k, n_k), stats = jax.lax.scan(inner, (agent, n), jnp.arange(k_steps))
        active = stats["active"]  # [K] 1 for the updates within the agent's lifetime
        env_state, obs, traj = lifetime.rollout(
            jax.lax.stop_gradient(agent_k.params), level, agent_k.env_state, agent_k.obs, jax.random.fold_in(key, k_steps)
        )
        adv = jax.lax.stop_gradient(critic_gae(critic, _critic_data(traj, obs))[0])
        logits = lifetime.nets.actor(agent_k.params["actor"], traj.obs)
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, traj.action[..., None], axis=-1)[..., 0]
        ent_pi = -jnp.sum(jnp.exp(logp_all) * logp_all, -1).mean()
        y_logp = jax.nn.log_softmax(lifetime.nets.aux(agent_k.params["aux"], traj.obs))
        ent_y = -jnp.sum(jnp.exp(y_logp) * y_logp, -1).mean()
        info = stats["info"]
        # The LPG-output regularisers average over the updates that happened (at least one does:
        # agents restart before n reaches N).
        within = lambda x: jnp.sum(x * active) / jnp.maximum(active.sum(), 1.0)
        loss = (
            -jnp.mean(adv * logp)
            - mcfg.beta_entropy * ent_pi
            - mcfg.beta_y_entropy * ent_y
            + mcfg.beta_pi_hat * within(info["pi_hat_sq"])
            + mcfg.beta_y_hat * within(info["y_hat_sq"])
        )
        agent_next = agent_k._replace(env_state=env_state, obs=obs)
        # The critic's training data: the K rollouts of the unroll (weight 0 past N), then this one.
        critic_batch = jax.tree.map(
            lambda inner_k, meta: jnp.concatenate([inner_k, meta[None]], axis=0),
            _critic_data(stats["traj"], stats["last_obs"], active),
            _critic_data(traj, obs),
        )
        ret_sum = (stats["return_sum"] * active).sum() + traj.episode_return.sum()
        episodes = (stats["episodes"] * active).sum() + traj.episode_done.sum()
        # For level scores: value statistics of the last update within N, best episode return seen.
        last = jnp.maximum(active.sum().astype(jnp.int32) - 1, 0)
        best = jnp.where(active > 0, stats["return_max"], -jnp.inf).max()
        level_stats = (stats["pvl"][last], stats["value_mean"][last],
                       jnp.max(jnp.where(traj.episode_done > 0, traj.episode_return, best)))
        return loss, (jax.lax.stop_gradient(agent_next), n_k, critic_batch, ret_sum, episodes,
                      jax.lax.stop_gradient(level_stats))

    def batch_meta_loss(eta, state, keys):
        loss, aux = jax.vmap(agent_meta_loss, in_axes=(None, 0, 0, 0, 0, 0, 0))(
            eta, state.agents, state.critic, state.n, state.lifetimes, state.levels, keys
        )
        return loss.mean(), aux

    def critic_gae(critic, data):
        """(advantages, lambda-return targets) [T, E] of one rollout under the value critic."""
        value = critic_nets.aux(critic, data.obs)
        next_value = critic_nets.aux(critic, data.next_obs)
        return jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None), out_axes=1)(
            data.reward, value, next_value, ocfg.gamma * (1.0 - data.terminated), data.done, ocfg.gae_lambda
        )

    def critic_step(critic, opt_state, batch):
        """One Adam step per rollout of batch (CriticData [R, T, E, ...]), in order; a rollout of
        weight 0 leaves the critic and its optimiser unchanged."""

        def step(carry, data):
            critic, opt_state = carry
            targets = jax.lax.stop_gradient(critic_gae(critic, data)[1])
            grads = jax.grad(lambda c: 0.5 * jnp.mean((critic_nets.aux(c, data.obs) - targets) ** 2))(critic)
            updates, new_opt = critic_opt.update(grads, opt_state, critic)
            new = (optax.apply_updates(critic, updates), new_opt)
            return jax.tree.map(lambda a, b_: jnp.where(data.weight > 0, a, b_), new, (critic, opt_state)), None

        return jax.lax.scan(step, (critic, opt_state), batch)[0]

    def generation(state, run_key):
        key = jax.random.fold_in(run_key, state.generation)
        k_agents, k_task, k_reset = jax.random.split(key, 3)
        (loss, aux), grads = jax.value_and_grad(batch_meta_loss, has_aux=True)(
            state.params, state, jax.random.split(k_agents, b)
        )
        agents, n, critic_batch, ret_sum, episodes, (pvl, value_mean, seen) = aux
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
        # A non-finite meta-gradient is skipped rather than allowed to poison eta.
        grads = jax.tree.map(lambda g: jnp.where(finite, g, 0.0), grads)
        updates, opt_state = meta_opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        critic, critic_opt_state = jax.vmap(critic_step)(state.critic, state.critic_opt, critic_batch)

        # Agents at the end of their lifetime are scored on their level (prioritised replay
        # writes it to its buffer) and restart on a new task with a fresh critic.
        done = n >= state.lifetimes
        seen_max = jnp.fmax(state.seen_max, seen)
        k_eval, k_a, k_c = jax.random.split(k_reset, 3)
        held = Held(state.levels, state.lifetimes, state.level_slot)
        final = jax.lax.cond(
            done.any(),
            lambda: jax.vmap(lifetime.evaluate)(agents.params["actor"], state.levels, jax.random.split(k_eval, b)),
            lambda: jnp.full((b,), jnp.nan, jnp.float32),
        )
        outcome = Outcome(final, pvl, value_mean, jnp.fmax(seen_max, final), jax.random.split(k_eval, b))
        cur_state, held, level_metrics = agent_levels.finish(k_task, state.curriculum_state, done, held, outcome,
                                                             state.generation)
        levels, lifetimes = held.levels, held.lifetimes
        fresh = jax.vmap(lifetime.init)(jax.random.split(k_a, b), levels)
        fresh_critic = jax.vmap(lambda kk, o: critic_nets.init(kk, o)["aux"])(jax.random.split(k_c, b), fresh.obs[:, 0])
        agents = _where(done, fresh, agents)
        critic = _where(done, fresh_critic, critic)
        critic_opt_state = _where(done, jax.vmap(critic_opt.init)(fresh_critic), critic_opt_state)
        new_state = MetaGradState(
            params, opt_state, agents, critic, critic_opt_state,
            jnp.where(done, 0, n), lifetimes, levels, cur_state, state.generation + 1,
            held.slot, jnp.where(done, -jnp.inf, seen_max),
        )
        per_agent = ret_sum / jnp.maximum(episodes, 1.0)
        out = fitness_stats(jnp.where(episodes > 0, per_agent, jnp.nan))
        out.update(
            meta_loss=loss,
            grad_norm=optax.tree.norm(grads),
            skipped=(~finite).astype(jnp.int32),
            es_lr=jnp.float32(mcfg.lr),
            sigma=jnp.float32(0.0),
            env_steps=jnp.float32(b * (k_steps + 1) * lcfg.num_envs * lcfg.rollout_len),
            **level_metrics,
        )
        return new_state, out

    return MetaGrad(init, generation, lambda state: state.params, batch_meta_loss)


class CriticData(NamedTuple):
    """What the value critic needs from one rollout: obs / next_obs [T, E, D], reward /
    terminated / done [T, E], weight (scalar: 0 for a rollout that did not happen)."""

    obs: jax.Array
    next_obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    weight: jax.Array


def _critic_data(traj, last_obs, weight=1.0) -> CriticData:
    """CriticData of a rollout (or of a stack of them: traj [K, T, ...], last_obs [K, E, D]).

    next_obs is s_{t+1} within the rollout and the post-rollout observation last. At episode
    ends this is the reset observation; the GAE discount is zero there for terminations, and
    truncations are rare within one rollout, so the error is negligible.
    """
    next_obs = jnp.concatenate([traj.obs[..., 1:, :, :], last_obs[..., None, :, :]], axis=-3)
    sg = jax.lax.stop_gradient
    return CriticData(sg(traj.obs), sg(next_obs), sg(traj.reward), sg(traj.terminated), sg(traj.done),
                      jnp.asarray(weight, jnp.float32))
