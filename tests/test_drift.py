"""Drift functions of the PPO family: mirror-learning constraints, PPO/DPO closed forms, TA-LPO."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discover.agents import make_networks
from discover.config import AgentConfig, ObjectiveConfig
from discover.objectives import LifetimeFeatures, lifetime_features, make_objective
from discover.objectives.drift import dpo_drift, drift_inputs, make_learned_drift, ppo_drift

LEARNED = [
    dict(name="lpo"),
    dict(name="lpo", init_at_ppo=True),
    dict(name="ta-lpo"),
    dict(name="ta-lpo", init_at_ppo=True),
    dict(name="ta-lpo", log_lifetime=True),
    dict(name="ta-lpo", log_lifetime=True, init_at_ppo=True),
]
SEEDS = [0, 1, 2]


def _ids(kw):
    return "-".join(f"{k}={v}" for k, v in kw.items())


def _random_params(init, key, perturb):
    """Initial params; with perturb, add N(0, 1) noise so init_at_ppo's zero output layer is
    random too (the constraints must hold for every parameter value, not just the init)."""
    params = init(key)
    if not perturb:
        return params
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.fold_in(key, 7), len(leaves))
    leaves = [p + jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
    return jax.tree.unflatten(tree, leaves)


def _feats(seed):
    rng = np.random.default_rng(seed)
    big_n = float(rng.integers(10, 1000))
    return lifetime_features(float(rng.integers(0, big_n)), big_n)


def _constraint_checks(drift):
    """One compiled function per drift: D, dD/dr and dD/dA at r = 1, and D on an (r, A) grid."""

    def checks(params, adv, feats):
        ones = jnp.ones_like(adv)
        d = drift(params, ones, adv, feats)
        dd_dr = jax.grad(lambda r: drift(params, r, adv, feats).sum())(ones)
        dd_da = jax.grad(lambda a: drift(params, ones, a, feats).sum())(adv)
        r, a = jnp.meshgrid(jnp.linspace(0.1, 3.0, 59), jnp.linspace(-3.0, 3.0, 61))
        grid = drift(params, r.ravel(), a.ravel(), feats)
        return d, dd_dr, dd_da, grid

    return checks


@pytest.mark.parametrize("kw", LEARNED, ids=_ids)
def test_learned_drift_constraints(kw):
    """D = 0 and dD/dr = 0 at r = 1 (exactly), D >= 0 on r in [0.1, 3] x A in [-3, 3], for
    random parameters (perturbed, so init_at_ppo's zero output layer is random too)."""
    cfg = ObjectiveConfig(**kw)
    init, drift = make_learned_drift(cfg)
    checks = jax.jit(_constraint_checks(drift))
    for seed in SEEDS:
        for perturb in (False, True):
            params = _random_params(init, jax.random.key(seed), perturb=perturb)
            feats = _feats(seed)
            adv = jax.random.normal(jax.random.key(100 + seed), (64,)) * 2.0
            d, dd_dr, dd_da, grid = checks(params, adv, feats)
            np.testing.assert_array_equal(np.asarray(d), 0.0)
            np.testing.assert_array_equal(np.asarray(dd_dr), 0.0)
            # dD/dA vanishes too at r = 1 (every input is exactly zero there).
            np.testing.assert_array_equal(np.asarray(dd_da), 0.0)
            assert bool(jnp.all(jnp.isfinite(grid)))
            assert float(grid.min()) >= 0.0
            if perturb or not cfg.init_at_ppo:
                # Not trivially zero: away from r = 1 the random drift is positive somewhere.
                assert float(grid.max()) > 1e-3

    # Without jit too (one seed): value and slope at r = 1.
    params = _random_params(init, jax.random.key(0), perturb=True)
    adv = jnp.linspace(-3.0, 3.0, 7)
    ones = jnp.ones_like(adv)
    np.testing.assert_array_equal(np.asarray(drift(params, ones, adv, _feats(0))), 0.0)
    dd_dr = jax.grad(lambda r: drift(params, r, adv, _feats(0)).sum())(ones)
    np.testing.assert_array_equal(np.asarray(dd_dr), 0.0)


def test_learned_drift_input_width():
    # 8 inputs (LPO), 16 (TA-LPO: [x_rA, n/N * x_rA]), 24 (TA-LPO + log N block).
    for kw, width in [(dict(name="lpo"), 8), (dict(name="ta-lpo"), 16), (dict(name="ta-lpo", log_lifetime=True), 24)]:
        init, _ = make_learned_drift(ObjectiveConfig(**kw))
        assert init(jax.random.key(0))["params"]["Dense_0"]["kernel"].shape == (width, 128)


def test_drift_inputs_hand_computed():
    # r = 2, A = -0.5, n/N = 0.25, log N = log(100), scale 10:
    # x = [r-1, (r-1)^2, log r, (log r)^2] = [1, 1, ln2, ln2^2]; A x = [-0.5, -0.5, -0.5 ln2, -0.5 ln2^2]
    ln2 = np.log(2.0)
    x = np.array([1.0, 1.0, ln2, ln2**2])
    x_ra = np.concatenate([x, -0.5 * x])
    feats = LifetimeFeatures(jnp.float32(0.25), jnp.float32(np.log(100.0)))
    got = drift_inputs(jnp.array([2.0]), jnp.array([-0.5]), feats, 10.0)[0]
    want = np.concatenate([x_ra, 0.25 * x_ra, np.log(100.0) / 10.0 * x_ra])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_init_at_ppo_starts_at_offset_ppo():
    cfg = ObjectiveConfig(name="lpo", init_at_ppo=True)
    init, drift = make_learned_drift(cfg)
    params = init(jax.random.key(3))
    r = jnp.array([0.5, 0.7, 1.1, 1.3, 2.0, 0.5])
    a = jnp.array([-1.0, 2.0, 1.0, 1.0, -2.0, 1.0])
    # D_ppo = relu((r - clip(r, 0.8, 1.2)) A):
    #   (0.5-0.8)*-1 = 0.3; (0.7-0.8)*2 = -0.2 -> 0; (1.1-1.1)*1 = 0; (1.3-1.2)*1 = 0.1;
    #   (2-1.2)*-2 = -1.6 -> 0; (0.5-0.8)*1 = -0.3 -> 0
    # init_at_ppo: relu(0 + D_ppo - 1e-4)
    want = np.maximum(np.array([0.3, 0.0, 0.0, 0.1, 0.0, 0.0]) - 1e-4, 0.0)
    np.testing.assert_allclose(np.asarray(drift(params, r, a, None)), want, atol=1e-6)


# ------------------------------------------------------------------------------------------
# PPO: the drift form equals the clipped surrogate.


def _clipped_surrogate(r, a, eps):
    return -jnp.mean(jnp.minimum(r * a, jnp.clip(r, 1 - eps, 1 + eps) * a))


def _drift_surrogate(r, a, eps):
    return -jnp.mean(r * a - ppo_drift(r, a, eps))


def test_ppo_drift_hand_computed():
    eps = 0.2
    r = jnp.array([0.5, 1.5, 1.5, 0.5, 1.0, 1.1])
    a = jnp.array([-1.0, 2.0, -2.0, 1.0, 3.0, -3.0])
    # (0.5-0.8)*-1 = 0.3; (1.5-1.2)*2 = 0.6; (1.5-1.2)*-2 -> 0; (0.5-0.8)*1 -> 0; 0; 0
    np.testing.assert_allclose(np.asarray(ppo_drift(r, a, eps)), [0.3, 0.6, 0.0, 0.0, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("use_jit", [False, True])
def test_ppo_drift_equals_clipped_surrogate(use_jit):
    eps = 0.2
    key_r, key_a = jax.random.split(jax.random.key(0))
    r = jnp.exp(0.5 * jax.random.normal(key_r, (512,)))
    a = jax.random.normal(key_a, (512,))
    # Avoid the measure-zero kinks at r = 1 +- eps where the two forms pick different subgradients.
    r = jnp.where(jnp.abs(jnp.abs(r - 1.0) - eps) < 1e-3, 1.0, r)
    f1 = jax.jit(_drift_surrogate, static_argnums=2) if use_jit else _drift_surrogate
    f2 = jax.jit(_clipped_surrogate, static_argnums=2) if use_jit else _clipped_surrogate
    np.testing.assert_allclose(float(f1(r, a, eps)), float(f2(r, a, eps)), rtol=1e-6, atol=1e-7)
    g1 = jax.grad(f1)(r, a, eps)
    g2 = jax.grad(f2)(r, a, eps)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), atol=1e-7)
    # The gradient is genuinely clipped for some samples (else the test proves little).
    assert int(jnp.sum(g2 == 0.0)) > 50 and int(jnp.sum(g2 != 0.0)) > 50


def _purejaxrl_ppo_loss(nets, params, batch, clip_eps, vf_coef, ent_coef):
    """PureJaxRL's PPO _loss_fn (ppo.py), written out independently."""
    logits = nets.actor(params["actor"], batch["obs"])
    value = nets.aux(params["aux"], batch["obs"])
    logp_all = jax.nn.log_softmax(logits)
    log_prob = logp_all[jnp.arange(logits.shape[0]), batch["action"]]
    value_pred_clipped = batch["value"] + (value - batch["value"]).clip(-clip_eps, clip_eps)
    value_losses = jnp.square(value - batch["targets"])
    value_losses_clipped = jnp.square(value_pred_clipped - batch["targets"])
    value_loss = 0.5 * jnp.maximum(value_losses, value_losses_clipped).mean()
    ratio = jnp.exp(log_prob - batch["log_prob"])
    gae = batch["advantages"]
    gae = (gae - gae.mean()) / (gae.std() + 1e-8)
    loss_actor1 = ratio * gae
    loss_actor2 = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * gae
    loss_actor = -jnp.minimum(loss_actor1, loss_actor2).mean()
    entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
    return loss_actor + vf_coef * value_loss - ent_coef * entropy


def _ppo_batch(nets, params, key, B=256, A=3, D=5):
    ks = jax.random.split(key, 6)
    obs = jax.random.normal(ks[0], (B, D))
    action = jax.random.randint(ks[1], (B,), 0, A)
    logits = nets.actor(params["actor"], obs)
    # log pi_old: current log-probs perturbed so ratios spread well beyond the clip range.
    logp = jax.nn.log_softmax(logits)[jnp.arange(B), action]
    log_prob_old = logp + 0.4 * jax.random.normal(ks[2], (B,))
    value_old = nets.aux(params["aux"], obs) + 0.3 * jax.random.normal(ks[3], (B,))
    adv = 1.0 + 2.0 * jax.random.normal(ks[4], (B,))
    targets = value_old + jax.random.normal(ks[5], (B,))
    return {"obs": obs, "action": action, "log_prob": log_prob_old, "value": value_old, "advantages": adv, "targets": targets}


def test_make_ppo_loss_matches_purejaxrl():
    cfg = ObjectiveConfig(name="ppo")
    obj = make_objective(cfg)
    nets = make_networks(AgentConfig(hidden=(32, 32)), 3, "critic", 0)
    params = nets.init(jax.random.key(0), jnp.zeros((5,)))
    # Perturb the (orthogonal-0.01) actor head so the policy is not nearly uniform.
    params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(1), p.shape), params)
    batch = _ppo_batch(nets, params, jax.random.key(2))

    ours = lambda p: obj.loss({}, nets, p, batch, None)[0]
    ref = lambda p: _purejaxrl_ppo_loss(nets, p, batch, cfg.clip_eps, cfg.vf_coef, cfg.ent_coef)
    # Loss values with and without jit; gradients under jit (op-by-op grads of flax are slow).
    np.testing.assert_allclose(float(ours(params)), float(ref(params)), rtol=1e-6)
    np.testing.assert_allclose(float(jax.jit(ours)(params)), float(ref(params)), rtol=1e-6)
    g_ours, g_ref = jax.jit(jax.grad(ours))(params), jax.jit(jax.grad(ref))(params)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(g_ours), jax.tree.leaves(g_ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6, rtol=1e-5, err_msg=str(path))
    # Some ratios are outside the clip range, so the clipping matters in this batch.
    logp = jax.nn.log_softmax(nets.actor(params["actor"], batch["obs"]))[jnp.arange(256), batch["action"]]
    ratio = jnp.exp(logp - batch["log_prob"])
    assert int(jnp.sum(jnp.abs(ratio - 1) > cfg.clip_eps)) > 20


# ------------------------------------------------------------------------------------------
# DPO closed form at hand-picked points (alpha = 2, beta = 0.6).


@pytest.mark.parametrize("use_jit", [False, True])
def test_dpo_hand_computed(use_jit):
    cases = [
        # (r, A, D)
        # A >= 0: (r-1)A = 0.5*2 = 1;  1 - 2 tanh(0.5) = 1 - 2*0.4621172 = 0.0757657
        (1.5, 2.0, 0.0757657),
        # A >= 0: (r-1)A = 2*1 = 2;  2 - 2 tanh(1) = 2 - 2*0.7615942 = 0.4768117
        (3.0, 1.0, 0.4768117),
        # A < 0: log(0.5)*(-1) = 0.6931472; 0.6931472/0.6 = 1.1552453; tanh = 0.8194843;
        #        0.6931472 - 0.6*0.8194843 = 0.6931472 - 0.4916906 = 0.2014566
        (0.5, -1.0, 0.2014566),
        # A < 0: log(0.2)*(-0.5) = 0.8047190; /0.6 = 1.3411983; tanh = 0.8719598;
        #        0.8047190 - 0.5231759 = 0.2815431
        (0.2, -0.5, 0.2815431),
        # A >= 0 with r < 1: (r-1)A = -1; -1 - 2 tanh(-0.5) = -1 + 0.9242344 = -0.0757656 -> relu -> 0
        (0.5, 2.0, 0.0),
        # A < 0 with r > 1: log(2)*(-1) = -0.693 -> x - b tanh(x/b) < 0 -> 0
        (2.0, -1.0, 0.0),
        # r = 1 and A = 0 give zero
        (1.0, 1.7, 0.0),
        (1.0, -1.7, 0.0),
        (1.8, 0.0, 0.0),
    ]
    r = jnp.array([c[0] for c in cases])
    a = jnp.array([c[1] for c in cases])
    want = np.array([c[2] for c in cases])
    fn = jax.jit(dpo_drift) if use_jit else dpo_drift
    np.testing.assert_allclose(np.asarray(fn(r, a, 2.0, 0.6)), want, atol=2e-6)


def test_dpo_objective_uses_config_alpha_beta():
    """make_dpo's loss actor term equals -mean(rA - D_dpo) with the config's alpha/beta."""
    cfg = ObjectiveConfig(name="dpo", dpo_alpha=1.0, dpo_beta=0.3, normalize_adv=False, vf_coef=0.0, ent_coef=0.0)
    obj = make_objective(cfg)
    nets = make_networks(AgentConfig(hidden=(16,)), 3, "critic", 0)
    params = nets.init(jax.random.key(0), jnp.zeros((5,)))
    batch = _ppo_batch(nets, params, jax.random.key(1), B=64)
    total, info = jax.jit(obj.loss, static_argnums=1)({}, nets, params, batch, None)
    logp = jax.nn.log_softmax(nets.actor(params["actor"], batch["obs"]))[jnp.arange(64), batch["action"]]
    r = jnp.exp(logp - batch["log_prob"])
    a = batch["advantages"]
    want = -jnp.mean(r * a - dpo_drift(r, a, 1.0, 0.3))
    np.testing.assert_allclose(float(info["actor_loss"]), float(want), rtol=1e-6)
    np.testing.assert_allclose(float(total), float(want), rtol=1e-6)  # vf_coef = ent_coef = 0
    # ... and differs from the default-alpha/beta DPO on the same batch.
    assert abs(float(want) - float(-jnp.mean(r * a - dpo_drift(r, a, 2.0, 0.6)))) > 1e-4


# ------------------------------------------------------------------------------------------
# TA-LPO at n/N = 0 reduces to LPO with the first block of its first-layer kernel.


@pytest.mark.parametrize("init_at_ppo", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_ta_lpo_at_start_equals_lpo_with_first_block(seed, init_at_ppo):
    ta_init, ta_drift = make_learned_drift(ObjectiveConfig(name="ta-lpo", init_at_ppo=init_at_ppo))
    _, lpo_drift = make_learned_drift(ObjectiveConfig(name="lpo", init_at_ppo=init_at_ppo))
    ta_params = _random_params(ta_init, jax.random.key(seed), perturb=True)
    k = ta_params["params"]["Dense_0"]["kernel"]
    assert k.shape == (16, 128)
    lpo_params = {"params": {"Dense_0": {"kernel": k[:8]}, "Dense_1": ta_params["params"]["Dense_1"]}}

    r, a = jnp.meshgrid(jnp.linspace(0.1, 3.0, 30), jnp.linspace(-3.0, 3.0, 31))
    r, a = r.ravel(), a.ravel()
    for big_n in (10.0, 500.0):
        feats0 = lifetime_features(0, big_n)
        d_ta = jax.jit(ta_drift)(ta_params, r, a, feats0)
        d_lpo = jax.jit(lpo_drift)(lpo_params, r, a, None)
        np.testing.assert_allclose(np.asarray(d_ta), np.asarray(d_lpo), atol=1e-5, rtol=1e-5)
        assert float(d_lpo.max()) > 1e-3
    # Later in the lifetime the second block matters.
    d_mid = ta_drift(ta_params, r, a, lifetime_features(5, 10))
    assert float(jnp.abs(d_mid - d_lpo).max()) > 1e-3


def test_learned_objective_loss_is_ppo_surrogate_with_drift():
    """make_objective('lpo').loss's actor term is -mean(rA - D_theta(r, A)) on a batch, and with
    init_at_ppo + zero output layer it is (offset) PPO."""
    nets = make_networks(AgentConfig(hidden=(16,)), 3, "critic", 0)
    agent = nets.init(jax.random.key(0), jnp.zeros((5,)))
    batch = _ppo_batch(nets, agent, jax.random.key(1), B=64)
    cfg = ObjectiveConfig(name="ta-lpo", init_at_ppo=True)
    obj = make_objective(cfg)
    params = obj.init(jax.random.key(2))
    feats = lifetime_features(3, 10)
    _, info = jax.jit(obj.loss, static_argnums=1)(params, nets, agent, batch, feats)
    _, ppo_info = make_objective(ObjectiveConfig(name="ppo")).loss({}, nets, agent, batch, feats)
    # D = relu(D_ppo - 1e-4) differs from D_ppo by at most 1e-4 per sample.
    assert abs(float(info["actor_loss"]) - float(ppo_info["actor_loss"])) <= 1e-4 + 1e-6
    np.testing.assert_allclose(float(info["value_loss"]), float(ppo_info["value_loss"]), rtol=1e-6)


def test_lifetime_features_hand_computed():
    # n = 25 of N = 100: n/N = 0.25, log N = 4.6051702; traced ints give the same under jit.
    for fn in (lifetime_features, jax.jit(lifetime_features)):
        f = fn(25, 100)
        np.testing.assert_allclose(float(f.progress), 0.25, rtol=1e-7)
        np.testing.assert_allclose(float(f.log_lifetime), 4.6051702, rtol=1e-6)
        assert f.progress.dtype == jnp.float32  # no integer division
    f = lifetime_features(jnp.arange(3), jnp.array([10, 20, 40]))
    np.testing.assert_allclose(np.asarray(f.progress), [0.0, 0.05, 0.05], rtol=1e-6)
