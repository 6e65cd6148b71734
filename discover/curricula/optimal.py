"""The exact optimal return of a tabular gridworld level, by finite-horizon value iteration.

On a tabular level (fixed object cells, fixed start) the state that matters is the agent's cell
and which objects are present: 121 cells x 2^5 object masks. One step (environments.gridworld):
move (blocked moves stay), collect the present object on the new cell (its reward; the episode
ends with its p_terminate), then every valid object that was absent at the start of the step
reappears independently with its p_respawn. With k steps left,
    V_k(p, m) = max_a [ r(p', m) + (1 - p_term(p', m)) E_{m'}[ V_{k-1}(p', m') ] ],   V_0 = 0,
where m' = (m without the collected object) | R and R is the set of respawned objects among
those absent from m. The optimal return is V_H(start, all valid objects present) with
H = min(max_steps_in_episode, horizon): the evaluation protocol scores the first episode within
`horizon` steps (discover.agents.rollout.make_evaluate), undiscounted. Used for optimal regret
(discover.curricula.scores).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from environments.gridworld import MAX_OBJECTS, MAX_SIZE, MOVES, blocked_cells

_MASKS = 1 << MAX_OBJECTS  # 32 subsets of present objects
_NONE = MAX_OBJECTS  # "nothing collected"
# bit i of mask m, [32, 5]
_BITS = (np.arange(_MASKS)[:, None] >> np.arange(MAX_OBJECTS)[None, :]) & 1


def _respawn_matrix(valid, q):
    """M [m, c, m'] = P(next mask m' | mask m at the step's start, collected object c), c = 5: none.

    m' must keep exactly the present objects minus the collected one, and adds a subset R of
    the valid objects absent from m, each with its own probability q_i.
    """
    bits = jnp.asarray(_BITS, bool)  # [32, 5]
    m = bits[:, None, None, :]  # start mask
    nxt = bits[None, None, :, :]  # next mask m'
    collected = jnp.arange(MAX_OBJECTS + 1)[None, :, None, None] == jnp.arange(MAX_OBJECTS)[None, None, None, :]
    kept = m & ~collected  # m_c
    absent = ~m & valid[None, None, None, :]
    consistent = jnp.all(jnp.where(m, nxt == kept, ~nxt | absent), axis=-1)  # [32, 6, 32]
    p_each = jnp.where(absent, jnp.where(nxt, q, 1.0 - q), 1.0)
    return jnp.where(consistent, jnp.prod(p_each, axis=-1), 0.0)


def optimal_return(level, horizon: int) -> jax.Array:
    """Scalar: the optimal expected return of the first episode of a tabular `level` (GridParams,
    unbatched; jittable and vmappable) within `horizon` steps. Static cost: horizon backups of
    121 x 32 x 4 states and actions."""
    blocked = blocked_cells(level).reshape(-1)
    cells = jnp.arange(MAX_SIZE * MAX_SIZE)
    rc = jnp.stack([cells // MAX_SIZE, cells % MAX_SIZE], -1)  # [121, 2]
    target = rc[:, None, :] + MOVES[None, :, :]  # [121, 4, 2]
    clipped = jnp.clip(target, 0, MAX_SIZE - 1)
    t_idx = clipped[..., 0] * MAX_SIZE + clipped[..., 1]
    can = jnp.all(target == clipped, -1) & ~blocked[t_idx]
    nxt_cell = jnp.where(can, t_idx, cells[:, None])  # [121, 4]

    obj_cell = level.obj_pos[:, 0] * MAX_SIZE + level.obj_pos[:, 1]
    here = (obj_cell[None, :] == cells[:, None]) & level.obj_valid[None, :]  # [121, 5]
    obj_at = jnp.where(here.any(-1), jnp.argmax(here, -1), _NONE)  # [121] object on each cell
    reward = jnp.append(level.type_reward[level.obj_type], 0.0)  # [6]
    p_term = jnp.append(level.type_p_terminate[level.obj_type], 0.0)
    q = level.type_p_respawn[level.obj_type]
    trans = _respawn_matrix(level.obj_valid, q)  # [32, 6, 32]

    j = obj_at[nxt_cell]  # [121, 4] object on the destination
    present = jnp.asarray(_BITS, bool)[:, jnp.minimum(j, MAX_OBJECTS - 1)] & (j < _NONE)  # [32, 121, 4]
    c = jnp.where(present, j[None], _NONE)  # collected object per (m, p, a)
    r = reward[c]
    cont = 1.0 - p_term[c]

    def backup(v, _):
        # ev[m, c, p'] = E[V(p', m') | m, c]
        ev = jnp.einsum("mcn,pn->mcp", trans, v)
        m_idx = jnp.arange(_MASKS)[:, None, None]
        q_val = r + cont * ev[m_idx, c, nxt_cell[None]]  # [32, 121, 4]
        return jnp.max(q_val, axis=-1).T, None  # V [121, 32]

    steps = jnp.minimum(level.max_steps_in_episode, horizon)
    v0 = jnp.zeros((MAX_SIZE * MAX_SIZE, _MASKS), jnp.float32)
    # A static loop of `horizon` backups; the value stops changing past the level's own H.
    v, _ = jax.lax.scan(lambda v, k: (jnp.where(k < steps, backup(v, None)[0], v), None), v0, jnp.arange(horizon))
    start = level.start[0] * MAX_SIZE + level.start[1]
    start_mask = jnp.sum(level.obj_valid.astype(jnp.int32) << jnp.arange(MAX_OBJECTS))
    return v[start, start_mask]
