"""LPG / TA-LPG: the agent loss reduces to A2C, the recurrent core runs backwards and resets at
episode ends, TA inputs act only through n/N and log N, and the loss is sane on a real rollout."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper

from discover.agents import make_networks, make_rollout
from discover.config import AgentConfig, ObjectiveConfig
from discover.objectives import LifetimeFeatures, lifetime_features, make_objective
from discover.objectives.a2c import make_a2c
from discover.objectives.base import log_prob_entropy, normalise
from discover.objectives.lpg import KL_DIRECTIONS, agent_loss_from_outputs

M = 8


# ------------------------------------------------------------------------------------------
# (a) pi_hat := normalised advantage, y_hat := y  ==>  A2C's policy gradient.


def _agent_and_batch(T=6, B=5, D=4, A=3, seed=0):
    nets_pred = make_networks(AgentConfig(hidden=(16,)), A, "predictor", M)
    nets_critic = make_networks(AgentConfig(hidden=(16,)), A, "critic", 0)
    k = jax.random.split(jax.random.key(seed), 5)
    params = nets_pred.init(k[0], jnp.zeros((D,)))
    # Make the actor non-trivial (its output layer is initialised at scale 0.01).
    params["actor"] = jax.tree.map(lambda p: p + 0.5 * jax.random.normal(k[1], p.shape), params["actor"])
    obs = jax.random.normal(k[2], (T, B, D))
    action = jax.random.randint(k[3], (T, B), 0, A)
    adv = 0.5 + 2.0 * jax.random.normal(k[4], (T, B))
    return nets_pred, nets_critic, params, obs, action, adv


def test_lpg_with_advantage_outputs_is_a2c_policy_gradient():
    nets_pred, nets_critic, params, obs, action, adv = _agent_and_batch()
    T, B = action.shape

    def lpg_loss(agent_params):
        logits = nets_pred.actor(agent_params["actor"], obs)
        y_logits = nets_pred.aux(agent_params["aux"], obs)
        logp, _ = log_prob_entropy(logits, action)
        pi_hat = normalise(adv)  # over the whole [T, B] batch, as A2C does
        y_hat = jax.lax.stop_gradient(jax.nn.softmax(y_logits))  # LPG outputs carry no gradient
        loss, _ = agent_loss_from_outputs(pi_hat, y_hat, logp, jax.nn.log_softmax(y_logits), 0.5)
        return loss

    a2c = make_a2c(ObjectiveConfig(name="a2c", vf_coef=0.0, ent_coef=0.0, normalize_adv=True))
    # A2C needs a critic; its params don't matter with vf_coef = 0 (only actor grads compared).
    critic_params = nets_critic.init(jax.random.key(9), obs[0, 0])["aux"]
    flat = lambda x: x.reshape((T * B,) + x.shape[2:])
    a2c_batch = {"obs": flat(obs), "action": flat(action), "advantages": flat(adv), "targets": jnp.zeros(T * B)}

    def a2c_loss(actor_params):
        return a2c.loss({}, nets_critic, {"actor": actor_params, "aux": critic_params}, a2c_batch, None)[0]

    # Loss values agree without jit too (the KL(y || y) term is ~0); gradients under jit only,
    # since op-by-op gradients through flax cost ~10 s here.
    np.testing.assert_allclose(float(lpg_loss(params)), float(a2c_loss(params["actor"])), rtol=1e-5, atol=1e-6)
    g_lpg, g_a2c = jax.jit(jax.grad(lpg_loss)), jax.jit(jax.grad(a2c_loss))
    grads_lpg = g_lpg(params)
    grads_a2c = g_a2c(params["actor"])
    for a, b in zip(jax.tree.leaves(grads_lpg["actor"]), jax.tree.leaves(grads_a2c)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads_a2c)) > 1e-3
    # With y_hat = y the KL term is at its minimum: zero gradient for the predictor.
    for g in jax.tree.leaves(grads_lpg["aux"]):
        np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-6)


def test_agent_loss_from_outputs_hand_computed():
    # pi_hat = [1, -2], logp = [log 0.5, log 0.25] = [-0.693147, -1.386294]
    #   -mean(pi_hat * logp) = -(1*-0.693147 + -2*-1.386294)/2 = -(-0.693147 + 2.772589)/2 = -1.039721
    # y_hat = [[0.5, 0.5], [1, 0]], y = [[0.25, 0.75], [0.5, 0.5]]
    #   KL_0 = 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5*0.693147 + 0.5*-0.405465 = 0.143841
    #   KL_1 = 1 * ln(1/0.5) + 0 = 0.693147   (0 * log 0 contributes 0)
    #   mean KL = 0.418494; alpha_y = 0.5 -> 0.209247; total = -1.039721 + 0.209247 = -0.830474
    pi_hat = jnp.array([1.0, -2.0])
    logp = jnp.log(jnp.array([0.5, 0.25]))
    y_hat = jnp.array([[0.5, 0.5], [1.0, 0.0]])
    y_logp = jnp.log(jnp.array([[0.25, 0.75], [0.5, 0.5]]))
    total, kl = agent_loss_from_outputs(pi_hat, y_hat, logp, y_logp, 0.5, kl_direction="yhat_y")
    np.testing.assert_allclose(float(kl), 0.418494, atol=1e-5)
    np.testing.assert_allclose(float(total), -0.830474, atol=1e-5)


def test_agent_loss_kl_y_yhat_hand_computed():
    """The default direction, KL(y || y_hat) (LPG paper, GROOVE code)."""
    # pi_hat term as above: -1.039721
    # y = [[0.25, 0.75], [0.5, 0.5]], y_hat = [[0.5, 0.5], [0.8, 0.2]]
    #   KL_0 = 0.25 ln(0.25/0.5) + 0.75 ln(0.75/0.5) = 0.25*-0.693147 + 0.75*0.405465 = 0.130812
    #   KL_1 = 0.5 ln(0.5/0.8) + 0.5 ln(0.5/0.2) = 0.5*-0.470004 + 0.5*0.916291 = 0.223144
    #   mean KL = 0.176978; alpha_y = 0.5 -> 0.088489; total = -1.039721 + 0.088489 = -0.951232
    pi_hat = jnp.array([1.0, -2.0])
    logp = jnp.log(jnp.array([0.5, 0.25]))
    y_hat = jnp.array([[0.5, 0.5], [0.8, 0.2]])
    y_logp = jnp.log(jnp.array([[0.25, 0.75], [0.5, 0.5]]))
    total, kl = agent_loss_from_outputs(pi_hat, y_hat, logp, y_logp, 0.5)  # default direction
    np.testing.assert_allclose(float(kl), 0.176978, atol=1e-5)
    np.testing.assert_allclose(float(total), -0.951232, atol=1e-5)
    # The other direction on the same numbers: KL(y_hat || y)_1 = 0.8 ln(0.8/0.5) + 0.2 ln(0.2/0.5)
    #   = 0.8*0.470004 + 0.2*-0.916291 = 0.192745; KL_0 = 0.143841 (previous test); mean 0.168293
    _, kl_rev = agent_loss_from_outputs(pi_hat, y_hat, logp, y_logp, 0.5, kl_direction="yhat_y")
    np.testing.assert_allclose(float(kl_rev), 0.168293, atol=1e-5)


def test_kl_directions_gradient_wrt_y_logits_hand_computed():
    """Gradients w.r.t. the agent's y logits z (y = softmax(z)), row y = [0.25, 0.75], y_hat = [0.5, 0.5]:
    KL(y_hat || y) = const - sum y_hat log y  ->  dKL/dz = y - y_hat = [-0.25, 0.25];
    KL(y || y_hat): dKL/dz_k = y_k (ln(y_k / y_hat_k) - KL), KL = 0.130812
      -> [0.25 (-0.693147 - 0.130812), 0.75 (0.405465 - 0.130812)] = [-0.205990, 0.205990]."""
    z = jnp.log(jnp.array([0.25, 0.75]))
    y_hat = jnp.array([0.5, 0.5])
    for direction, expected in (("yhat_y", [-0.25, 0.25]), ("y_yhat", [-0.205990, 0.205990])):
        grad = jax.grad(lambda zz: KL_DIRECTIONS[direction](y_hat, jax.nn.log_softmax(zz)))(z)
        np.testing.assert_allclose(np.asarray(grad), expected, atol=1e-5)


@pytest.mark.parametrize("direction", ["y_yhat", "yhat_y"])
def test_lpg_objective_uses_the_configured_kl_direction(direction):
    """objective.lpg_kl_direction reaches the agent loss: the LPG objective's kl_y equals the
    chosen KL of its own outputs on a batch."""
    cfg = ObjectiveConfig(name="lpg", lpg_m=M, lpg_hidden=8, lpg_kl_direction=direction)
    obj = make_objective(cfg)
    nets, _, agent_params, obs, action, _ = _agent_and_batch()
    T, B = action.shape
    batch = {"obs": obs, "action": action, "reward": jnp.ones((T, B)), "done": jnp.zeros((T, B)),
             "next_aux": jnp.zeros((T, B, M))}
    params = obj.init(jax.random.key(3))
    _, info = obj.loss(params, nets, agent_params, batch, lifetime_features(0, 10))
    logp, _ = log_prob_entropy(nets.actor(agent_params["actor"], obs), action)
    y_logits = nets.aux(agent_params["aux"], obs)
    _, y_hat = obj.outputs(params, batch, logp, y_logits, lifetime_features(0, 10))
    expected = KL_DIRECTIONS[direction](y_hat, jax.nn.log_softmax(y_logits)).mean()
    np.testing.assert_allclose(float(info["kl_y"]), float(expected), rtol=1e-5)
    other = KL_DIRECTIONS["yhat_y" if direction == "y_yhat" else "y_yhat"](y_hat, jax.nn.log_softmax(y_logits)).mean()
    assert abs(float(expected) - float(other)) > 1e-4  # the two directions differ on this batch


def test_lpg_sign_convention_gradient_step_raises_logp_of_positive_pi_hat():
    """Minimising the loss (gradient descent) moves log pi(a_t|s_t) along pi_hat_t."""
    logits = jnp.zeros((2, 3))
    action = jnp.array([0, 1])
    pi_hat = jnp.array([1.0, -1.0])
    loss = lambda lg: agent_loss_from_outputs(pi_hat, jnp.full((2, 2), 0.5), log_prob_entropy(lg, action)[0], jnp.log(jnp.full((2, 2), 0.5)), 0.5)[0]
    new = logits - 0.1 * jax.grad(loss)(logits)
    logp_old, _ = log_prob_entropy(logits, action)
    logp_new, _ = log_prob_entropy(new, action)
    assert float(logp_new[0]) > float(logp_old[0])  # pi_hat > 0: more likely
    assert float(logp_new[1]) < float(logp_old[1])  # pi_hat < 0: less likely


# ------------------------------------------------------------------------------------------
# (b) Backward recurrence with resets at episode ends.

T_SEQ = 12
DONE_AT = 4  # an episode ends at step 4


def _seq_inputs(seed=0, B=2):
    k = jax.random.split(jax.random.key(seed), 4)
    done = jnp.zeros((T_SEQ, B)).at[DONE_AT].set(1.0)
    batch = {
        "reward": jax.random.normal(k[0], (T_SEQ, B)),
        "done": done,
        "next_aux": jax.random.normal(k[1], (T_SEQ, B, M)),
    }
    logp = -jax.random.uniform(k[2], (T_SEQ, B), minval=0.1, maxval=2.0)
    y_logits = jax.random.normal(k[3], (T_SEQ, B, M))
    return batch, logp, y_logits


@pytest.fixture(scope="module")
def lpg_setup():
    obj = make_objective(ObjectiveConfig(name="lpg"))
    params = jax.jit(obj.init)(jax.random.key(1))
    return obj, params, jax.jit(obj.outputs)


def _changed(a, b, tol=1e-6):
    """Per-step flag: did the outputs at step t (any batch column / y_hat entry) change?"""
    pa, ya = a
    pb, yb = b
    diff = jnp.abs(pa - pb).max(axis=1) + jnp.abs(ya - yb).max(axis=(1, 2))
    return np.asarray(diff > tol), np.asarray(diff)


@pytest.mark.parametrize("t", [7, 11, DONE_AT + 1])
def test_lpg_reward_after_done_never_reaches_earlier_episode(lpg_setup, t):
    obj, params, outputs = lpg_setup
    batch, logp, y_logits = _seq_inputs()
    feats = lifetime_features(0, 10)
    base = outputs(params, batch, logp, y_logits, feats)
    pert = dict(batch, reward=batch["reward"].at[t].add(3.0))
    out = outputs(params, pert, logp, y_logits, feats)
    changed, diff = _changed(base, out)
    # Steps 0..DONE_AT belong to the earlier episode: bit-identical.
    np.testing.assert_array_equal(np.asarray(base[0][: DONE_AT + 1]), np.asarray(out[0][: DONE_AT + 1]))
    np.testing.assert_array_equal(np.asarray(base[1][: DONE_AT + 1]), np.asarray(out[1][: DONE_AT + 1]))
    # Steps DONE_AT+1..t (same episode, at or before t): changed (information flows backwards).
    assert changed[DONE_AT + 1 : t + 1].all(), diff
    # Steps after t: unchanged (no forward flow).
    assert not changed[t + 1 :].any(), diff


def test_lpg_reward_flows_backwards_within_episode_only(lpg_setup):
    obj, params, outputs = lpg_setup
    batch, logp, y_logits = _seq_inputs(seed=3)
    feats = lifetime_features(0, 10)
    base = outputs(params, batch, logp, y_logits, feats)
    t = 2  # inside the first episode (steps 0..4)
    out = outputs(params, dict(batch, reward=batch["reward"].at[t].add(3.0)), logp, y_logits, feats)
    changed, diff = _changed(base, out)
    assert changed[: t + 1].all(), diff  # steps 0, 1, 2 see it
    assert not changed[t + 1 :].any(), diff  # steps 3.. never do
    # Only the perturbed batch column changes (workers are independent).
    b0 = batch["reward"].at[t, 0].add(3.0)
    out0 = outputs(params, dict(batch, reward=b0), logp, y_logits, feats)
    np.testing.assert_array_equal(np.asarray(out0[0][:, 1]), np.asarray(base[0][:, 1]))
    assert float(jnp.abs(out0[0][:, 0] - base[0][:, 0]).max()) > 1e-6


def test_lpg_done_step_ignores_next_prediction(lpg_setup):
    """phi(y(s_{t+1})) is zeroed where d_t: changing next_aux at the done step changes nothing."""
    obj, params, outputs = lpg_setup
    batch, logp, y_logits = _seq_inputs(seed=4)
    feats = lifetime_features(0, 10)
    base = outputs(params, batch, logp, y_logits, feats)
    na = batch["next_aux"].at[DONE_AT].add(5.0 * jnp.arange(M))
    out = outputs(params, dict(batch, next_aux=na), logp, y_logits, feats)
    np.testing.assert_array_equal(np.asarray(out[0]), np.asarray(base[0]))
    np.testing.assert_array_equal(np.asarray(out[1]), np.asarray(base[1]))
    # ... whereas at a non-done step it matters (for that step and earlier ones).
    na = batch["next_aux"].at[DONE_AT + 2].add(5.0 * jnp.arange(M))
    out = outputs(params, dict(batch, next_aux=na), logp, y_logits, feats)
    changed, diff = _changed(base, out)
    assert changed[DONE_AT + 1 : DONE_AT + 3].all() and not changed[: DONE_AT + 1].any(), diff


def test_lpg_outputs_unjitted_match_jitted(lpg_setup):
    obj, params, outputs = lpg_setup
    batch, logp, y_logits = _seq_inputs(seed=5)
    feats = lifetime_features(2, 10)
    a = obj.outputs(params, batch, logp, y_logits, feats)
    b = outputs(params, batch, logp, y_logits, feats)
    np.testing.assert_allclose(np.asarray(a[0]), np.asarray(b[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(a[1]), np.asarray(b[1]), rtol=1e-5, atol=1e-6)
    assert a[0].shape == (T_SEQ, 2) and a[1].shape == (T_SEQ, 2, M)
    np.testing.assert_allclose(np.asarray(a[1].sum(-1)), 1.0, rtol=1e-5)  # y_hat is a distribution


def test_zero_pi_hat_init_leaves_the_policy_alone_until_the_lpg_changes():
    """lpg_pi_hat_init_scale=0: pi_hat is exactly 0 (no policy gradient), y_hat is unaffected,
    and any change to its output layer (params/Dense_0, as an ES perturbation makes) switches
    pi_hat on."""
    batch, logp, y_logits = _seq_inputs(seed=5)
    feats = lifetime_features(0, 10)
    zero = make_objective(ObjectiveConfig(name="lpg", lpg_pi_hat_init_scale=0.0))
    full = make_objective(ObjectiveConfig(name="lpg"))
    p0, p1 = zero.init(jax.random.key(3)), full.init(jax.random.key(3))
    pi0, y0 = zero.outputs(p0, batch, logp, y_logits, feats)
    pi1, y1 = full.outputs(p1, batch, logp, y_logits, feats)
    np.testing.assert_array_equal(np.asarray(pi0), 0.0)
    assert float(jnp.abs(pi1).max()) > 1e-3
    np.testing.assert_allclose(np.asarray(y0), np.asarray(y1), rtol=1e-6)  # only pi_hat's layer differs

    def policy_grad(params):
        return jax.grad(lambda lp: agent_loss_from_outputs(*zero.outputs(params, batch, lp, y_logits, feats), lp,
                                                           jax.nn.log_softmax(y_logits), 0.5)[0])(logp)

    np.testing.assert_array_equal(np.asarray(policy_grad(p0)), 0.0)
    bumped = jax.tree_util.tree_map_with_path(
        lambda path, x: x + 0.1 if jax.tree_util.keystr(path).startswith("['params']['Dense_0']") else x, p0)
    assert float(jnp.abs(zero.outputs(bumped, batch, logp, y_logits, feats)[0]).max()) > 1e-3
    assert float(jnp.abs(policy_grad(bumped)).max()) > 1e-6


# ------------------------------------------------------------------------------------------
# (c) TA-LPG inputs: n/N and log N, nothing else.


def test_ta_lpg_outputs_depend_on_lifetime_features_lpg_does_not():
    batch, logp, y_logits = _seq_inputs(seed=6)
    for name, should_differ in (("ta-lpg", True), ("lpg", False)):
        obj = make_objective(ObjectiveConfig(name=name))
        params = jax.jit(obj.init)(jax.random.key(2))
        outputs = jax.jit(obj.outputs)
        f_start = lifetime_features(0, 100)  # n/N = 0, log N = log 100
        f_mid = lifetime_features(50, 100)  # n/N = 0.5, same log N
        f_longer = lifetime_features(0, 1000)  # n/N = 0, different log N
        base = outputs(params, batch, logp, y_logits, f_start)
        for f in (f_mid, f_longer):
            other = outputs(params, batch, logp, y_logits, f)
            diff = float(jnp.abs(other[0] - base[0]).max())
            if should_differ:
                assert diff > 1e-6, (name, f)
            else:
                np.testing.assert_array_equal(np.asarray(other[0]), np.asarray(base[0]))
                np.testing.assert_array_equal(np.asarray(other[1]), np.asarray(base[1]))
        if should_differ:
            # Only through (n/N, log N): another (n, N) with the same features gives the same output.
            same = outputs(params, batch, logp, y_logits, LifetimeFeatures(jnp.float32(0.0), jnp.log(jnp.float32(100.0))))
            np.testing.assert_allclose(np.asarray(same[0]), np.asarray(base[0]), rtol=1e-6, atol=1e-7)
            same2 = outputs(params, batch, logp, y_logits, lifetime_features(jnp.int32(0), jnp.int32(100)))
            np.testing.assert_allclose(np.asarray(same2[0]), np.asarray(base[0]), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------------------
# (d) The full loss on a real CartPole rollout.


@pytest.mark.parametrize("name", ["ta-lpg"])
def test_lpg_loss_on_real_rollout(name):
    env, env_params = gymnax.make("CartPole-v1")
    env = LogWrapper(FlattenObservationWrapper(env))
    cfg = ObjectiveConfig(name=name)
    obj = make_objective(cfg)
    nets = make_networks(AgentConfig(hidden=(32,)), env.num_actions, obj.head, obj.aux_size)
    E, T = 4, 40
    k_reset, k_net, k_roll, k_obj = jax.random.split(jax.random.key(0), 4)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, E), env_params)
    agent = nets.init(k_net, obs[0])
    rollout = jax.jit(make_rollout(env, nets, T))
    _, _, traj = rollout(agent, env_params, state, obs, k_roll)
    assert traj.aux.shape == (T, E, M) and traj.next_aux.shape == (T, E, M)
    assert float(traj.done.sum()) >= 1  # a random CartPole policy ends episodes within 40 steps
    batch = {"obs": traj.obs, "action": traj.action, "log_prob": traj.log_prob, "reward": traj.reward,
             "done": traj.done, "terminated": traj.terminated, "next_aux": traj.next_aux}
    params = jax.jit(obj.init)(k_obj)
    feats = lifetime_features(3, 10)
    # One compiled call: loss, metrics, and gradients w.r.t. the agent (and the LPG params).
    vg = jax.jit(jax.value_and_grad(obj.loss, argnums=(0, 2), has_aux=True), static_argnums=1)
    (loss, info), (meta, grads) = vg(params, nets, agent, batch, feats)
    assert np.isfinite(float(loss))
    for k in ("pi_hat", "kl_y", "entropy"):
        assert np.isfinite(float(info[k])), k
    for part in ("actor", "aux"):
        leaves = jax.tree.leaves(grads[part])
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves), part
        assert max(float(jnp.abs(g).max()) for g in leaves) > 0.0, part
    # The LPG network parameters get a meta-gradient through the agent loss as well.
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(meta))
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(meta)) > 0.0


# ------------------------------------------------------------------------------------------
# (e) LPG sees only rewards, dones, pi(a|s) and y: the same network drives a conv agent.


def test_lpg_updates_a_conv_agent_on_minatar():
    import environments
    from discover.config import LifetimeConfig, RunConfig
    from discover.lifetime import make_lifetime

    cfg = RunConfig(
        agent=AgentConfig(torso="conv", hidden=(16,), activation="relu", lr=1e-3, anneal_lr=False),
        objective=ObjectiveConfig(name="lpg", lpg_hidden=8),
        lifetime=LifetimeConfig(num_envs=2, rollout_len=8, lifetime=2, eval_envs=2, eval_steps=10),
    )
    obj = make_objective(cfg.objective)
    env, level = environments.make("Breakout-MinAtar")
    life = make_lifetime(cfg, obj, env, level, max_lifetime=2)
    key = jax.random.key(0)
    before = life.init(jax.random.split(key, 3)[0], level).params  # train() initialises with this key
    state, metrics = jax.jit(life.train)(obj.init(jax.random.key(1)), level, 2, key)
    assert any("Conv" in jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(before["actor"])[0])
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), before, state.params)
    assert max(jax.tree.leaves(moved["actor"])) > 0 and max(jax.tree.leaves(moved["aux"])) > 0
    assert np.isfinite(float(metrics.final_return))


def test_lpg_kl_direction_is_validated():
    from discover.config import ConfigError

    assert ObjectiveConfig().lpg_kl_direction == "y_yhat"  # the papers' direction by default
    with pytest.raises(ConfigError, match="objective.lpg_kl_direction='y_hat' is not valid; choose from: y_yhat, yhat_y"):
        ObjectiveConfig(lpg_kl_direction="y_hat")


def test_reverse_gru_equals_flax_gru_cell_scanned_backwards():
    """The LPG core applies reverse_gru to parameters made by flax's GRUCell: same outputs, and
    the same gradients w.r.t. those parameters (meta-gradients differentiate through it), as
    GRUCell under a reversed nn.scan with the state zeroed at episode ends."""
    import flax.linen as nn

    from discover.objectives.lpg import _ResetGRU, reverse_gru

    t, d, h = 9, 5, 7
    k = jax.random.split(jax.random.key(11), 3)
    x = jax.random.normal(k[0], (t, d))
    done = jnp.zeros((t,)).at[3].set(1.0).at[6].set(1.0)
    scan = nn.scan(_ResetGRU, variable_broadcast="params", split_rngs={"params": False}, in_axes=0, out_axes=0,
                   reverse=True)(h)
    params = scan.init(k[1], jnp.zeros((h,)), (x, done))
    # Non-trivial biases (flax initialises them at zero).
    params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(k[2], p.shape), params)
    flax_out = lambda p: scan.apply(p, jnp.zeros((h,)), (x, done))[1]
    ours = lambda p: reverse_gru(p["params"]["GRUCell_0"], x, done)
    np.testing.assert_allclose(np.asarray(ours(params)), np.asarray(flax_out(params)), rtol=1e-5, atol=1e-6)
    weights = jnp.arange(t * h, dtype=jnp.float32).reshape(t, h) / (t * h)
    g_ours = jax.grad(lambda p: jnp.sum(weights * ours(p)))(params)
    g_flax = jax.grad(lambda p: jnp.sum(weights * flax_out(p)))(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6),
                 g_ours, g_flax)
    # The reset: steps up to 3 do not see inputs after it.
    later = x.at[5].add(1.0)
    moved = reverse_gru(params["params"]["GRUCell_0"], later, done)
    np.testing.assert_array_equal(np.asarray(moved[:4]), np.asarray(ours(params)[:4]))
    assert float(jnp.abs(moved[4:6] - ours(params)[4:6]).max()) > 1e-4
