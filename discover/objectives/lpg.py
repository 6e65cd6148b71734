"""Learned Policy Gradient (Oh et al. 2020) and its temporally-aware variant TA-LPG.

The LPG network reads one worker's rollout backwards in time and emits, per step, a scalar
pi_hat_t (how to move log pi(a_t|s_t)) and a categorical target y_hat_t for the agent's
prediction vector y(s_t). The agent minimises
    L = -mean_t[pi_hat_t log pi(a_t|s_t)] + alpha_y mean_t[KL_t],
so pi_hat plays the role of an advantage (pi_hat := A recovers A2C's policy gradient).
KL_t is KL(y(s_t) || y_hat_t) by default, the direction of the LPG paper and the GROOVE code;
objective.lpg_kl_direction="yhat_y" gives KL(y_hat_t || y(s_t)), this project's earlier choice
(a cross-entropy towards the target, which is mass-covering where the default is mode-seeking).
All LPG inputs are stop-gradient'ed w.r.t. the agent.

Per-step input x_t = [r_t, d_t, (gamma), pi(a_t|s_t), phi(y(s_t)), (1 - d_t) phi(y(s_{t+1}))]
plus, for TA-LPG, [n/N, log N / max_log_lifetime]. We include the constant gamma by default
(the LPG paper does; the GROOVE code omits it: set lpg_include_gamma=false for that).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from discover.objectives.base import Objective, log_prob_entropy


class _ResetGRU(nn.Module):
    """GRU step whose incoming state is zeroed where the episode ended at this step."""

    hidden: int

    @nn.compact
    def __call__(self, h, inputs):
        x, done = inputs
        # Run backwards, h carries information from t+1..T; an episode end at t cuts it.
        h = h * (1.0 - done)
        h, out = nn.GRUCell(self.hidden)(h, x)
        return h, out


def reverse_gru(cell, x, done):
    """The outputs [T, H] of flax's GRUCell (parameters `cell`: ir, iz, in, hr, hz, hn) run
    backwards over inputs x [T, D] from a zero state, the state zeroed where done [T] is 1
    (what _ResetGRU under a reversed nn.scan computes, up to float rounding).

    The input projections of all T steps run before the loop and the three recurrent ones are
    one matrix product per step, so a step runs 6 kernels instead of flax's 12 (a small GRU's
    step loop is bound by kernel count). Measured on a 2-core CPU: the packed TA-LPG loop 5-7%
    faster. The input projections stay three products [T, H]: one [T, 3H] product sliced per
    step made the loop 20% slower (XLA laid the time axis out inside the gate axis).
    """
    gates = ("r", "z", "n")
    w_h = jnp.concatenate([cell["h" + g]["kernel"] for g in gates], axis=1)  # [H, 3H]
    b_hn = cell["hn"]["bias"]
    xs = tuple(x @ cell["i" + g]["kernel"] + cell["i" + g]["bias"] for g in gates)  # 3 x [T, H]

    def step(h, inputs):
        (xr, xz, xn), d = inputs
        h = h * (1.0 - d)
        hr, hz, hn = jnp.split(h @ w_h, 3)
        r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * (hn + b_hn))
        h = (1.0 - z) * n + z * h
        return h, h

    _, out = jax.lax.scan(step, jnp.zeros((w_h.shape[0],), x.dtype), (xs, done), reverse=True)
    return out


class LPGNetwork(nn.Module):
    """LPG network on one trajectory.

    Inputs: reward, done, pi_a [T]; y, y_next [T, m] (probabilities); extra [T, k] (temporal
    features, k may be 0). Returns pi_hat [T], y_hat [T, m] (probabilities).
    """

    m: int
    embed: tuple = (16, 1)
    hidden: int = 256
    include_gamma: bool = True
    gamma: float = 0.99
    pi_hat_init_scale: float = 1.0

    @nn.compact
    def __call__(self, reward, done, pi_a, y, y_next, extra):
        embed = _Embed(tuple(self.embed))
        phi, phi_next = embed(y), embed(y_next) * (1.0 - done)[:, None]
        cols = [reward[:, None], done[:, None]]
        if self.include_gamma:
            cols.append(jnp.full_like(reward[:, None], self.gamma))
        x = jnp.concatenate(cols + [pi_a[:, None], phi, phi_next, extra], axis=-1)
        if self.is_initializing():
            # Parameters are created by flax's GRUCell under nn.scan, so their tree (and every
            # saved objective) keeps GRUCell's layout; applying uses reverse_gru on them.
            scan = nn.scan(_ResetGRU, variable_broadcast="params", split_rngs={"params": False},
                           in_axes=0, out_axes=0, reverse=True)
            _, out = scan(self.hidden)(jnp.zeros((self.hidden,), x.dtype), (x, done))
        else:
            out = reverse_gru(self.variables["params"]["Scan_ResetGRU_0"]["GRUCell_0"], x, done)
        scale = self.pi_hat_init_scale
        kernel_init = lambda key, shape, dtype: scale * nn.initializers.lecun_normal()(key, shape, dtype)
        pi_hat = nn.Dense(1, kernel_init=kernel_init)(out)[:, 0]
        y_hat = jax.nn.softmax(nn.Dense(self.m)(out), axis=-1)
        return pi_hat, y_hat


class _Embed(nn.Module):
    """phi: the shared embedding of a prediction vector [T, m] -> [T, widths[-1]]."""

    widths: tuple

    @nn.compact
    def __call__(self, y):
        for i, w in enumerate(self.widths):
            y = nn.Dense(w)(y)
            if i < len(self.widths) - 1:
                y = nn.relu(y)
        return y


# log(0) guard for the LPG target y_hat (a softmax, so exact zeros only come from underflow).
_EPS = 1e-8


def kl_y_yhat(y_hat, y_logp):
    """KL(y || y_hat) = sum_i y_i (log y_i - log y_hat_i), over the last axis [..., m] -> [...]."""
    return jnp.sum(jnp.exp(y_logp) * (y_logp - jnp.log(y_hat + _EPS)), axis=-1)


def kl_yhat_y(y_hat, y_logp):
    """KL(y_hat || y) = sum_i y_hat_i (log y_hat_i - log y_i), over the last axis [..., m] -> [...]."""
    return jnp.sum(y_hat * (jnp.log(y_hat + _EPS) - y_logp), axis=-1)


# objective.lpg_kl_direction -> KL(agent's y, LPG's y_hat) term of the agent loss.
KL_DIRECTIONS = {"y_yhat": kl_y_yhat, "yhat_y": kl_yhat_y}


def agent_loss_from_outputs(pi_hat, y_hat, logp, y_logp, alpha_y, kl_direction: str = "y_yhat"):
    """The agent's LPG loss given the LPG outputs (any shape [..., T] / [..., T, m]).

    -mean(pi_hat * log pi(a|s)) + alpha_y * mean(KL); y_logp = log y(s); KL is
    KL(y || y_hat) for kl_direction "y_yhat" (the papers'), KL(y_hat || y) for "yhat_y".
    Returns (loss, mean KL).
    """
    kl = KL_DIRECTIONS[kl_direction](y_hat, y_logp)
    return -jnp.mean(pi_hat * logp) + alpha_y * jnp.mean(kl), kl.mean()


def temporal_inputs(feats, n_steps, cfg):
    """[T, 2] TA-LPG inputs (n/N, log N / max_log_lifetime), or [T, 0] for plain LPG."""
    if not cfg.temporal:
        return jnp.zeros((n_steps, 0))
    row = jnp.stack([feats.progress, feats.log_lifetime / cfg.max_log_lifetime]).astype(jnp.float32)
    return jnp.broadcast_to(row, (n_steps, 2))


def make_lpg(cfg) -> Objective:
    """LPG or TA-LPG (cfg.name == 'ta-lpg') as an Objective with a predictor head of size m."""
    net = LPGNetwork(cfg.lpg_m, tuple(cfg.lpg_embed), cfg.lpg_hidden, cfg.lpg_include_gamma, cfg.gamma,
                     cfg.lpg_pi_hat_init_scale)
    k = 2 if cfg.temporal else 0

    def init(key):
        t = 2
        z = jnp.zeros((t,))
        y = jnp.full((t, cfg.lpg_m), 1.0 / cfg.lpg_m)
        return net.init(key, z, z, z, y, y, jnp.zeros((t, k)))

    def outputs(params, batch, logp, y_logits, feats):
        """pi_hat [T, B], y_hat [T, B, m] for a time-major batch; inputs are stop-gradient'ed."""
        sg = jax.lax.stop_gradient
        pi_a = sg(jnp.exp(logp))
        y = sg(jax.nn.softmax(y_logits))
        y_next = sg(jax.nn.softmax(batch["next_aux"]))
        extra = temporal_inputs(feats, batch["reward"].shape[0], cfg)
        apply = lambda r, d, p, yy, yn: net.apply(params, r, d, p, yy, yn, extra)
        return jax.vmap(apply, in_axes=1, out_axes=1)(batch["reward"], batch["done"], pi_a, y, y_next)

    def loss(params, nets, agent_params, batch, feats):
        logits = nets.actor(agent_params["actor"], batch["obs"])
        y_logits = nets.aux(agent_params["aux"], batch["obs"])
        logp, entropy = log_prob_entropy(logits, batch["action"])
        pi_hat, y_hat = outputs(params, batch, logp, y_logits, feats)
        total, kl = agent_loss_from_outputs(
            pi_hat, y_hat, logp, jax.nn.log_softmax(y_logits), cfg.lpg_alpha_y, cfg.lpg_kl_direction
        )
        info = {
            "actor_loss": total,
            "pi_hat": pi_hat.mean(),
            "kl_y": kl,
            "entropy": entropy.mean(),
            # Differentiable w.r.t. the LPG parameters: the meta-gradient regularisers use them.
            "pi_hat_sq": jnp.mean(pi_hat**2),
            "y_hat_sq": jnp.mean(jnp.sum(y_hat**2, axis=-1)),
        }
        return total, info

    return Objective(
        cfg.name,
        init,
        loss,
        head="predictor",
        aux_size=cfg.lpg_m,
        sequence=True,
        uses_gae=False,
        epochs=1,
        minibatches=1,
        learned=True,
        outputs=outputs,
    )
