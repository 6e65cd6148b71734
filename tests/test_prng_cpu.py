"""discover.prng_cpu: the loop-free threefry lowering on CPU gives the same random bits as JAX's
rolled one, and is what lifetime programs get."""

import jax
import jax.numpy as jnp
import numpy as np
from jax._src.interpreters import mlir
from jax._src.random import threefry2x32 as tf

import discover.lifetime  # noqa: F401  (registers the lowering on import)
from discover.prng_cpu import use_unrolled_threefry


def _draws(key):
    """Every kind of draw a lifetime makes: splits, fold_in, uniform, categorical, bernoulli, vmapped."""
    k1, k2 = jax.random.split(key)
    keys = jax.random.split(jax.random.fold_in(k1, 7), 5)
    logits = jnp.linspace(-1.0, 1.0, 4)
    return {
        "keys": jax.random.key_data(keys),
        "uniform": jax.random.uniform(k2, (3, 11)),
        "categorical": jax.vmap(lambda k: jax.random.categorical(k, logits, shape=(6,)))(keys),
        "bernoulli": jax.vmap(lambda k: jax.random.bernoulli(k, 0.3, (9,)))(keys),
        "bits": jax.random.bits(k2, (1000,)),
    }


def _compile(key):
    # A fresh function each time, so nothing is reused from an earlier lowering.
    return jax.jit(lambda k: _draws(k)).lower(key).compile()


def test_unrolled_threefry_gives_the_same_bits_as_jax_rolled_lowering():
    assert use_unrolled_threefry()
    key = jax.random.key(1234)
    unrolled = _compile(key)
    mlir.register_lowering(tf.threefry2x32_p, tf._threefry2x32_cpu_lowering_rule, platform="cpu")
    try:
        rolled = _compile(key)
    finally:
        mlir.register_lowering(tf.threefry2x32_p, tf._threefry2x32_lowering_rule, platform="cpu", inline=False)
    # Not vacuous: the two programs really differ (JAX's CPU rule loops over the rounds).
    assert "while" in rolled.as_text() and "while" not in unrolled.as_text()
    a, b = jax.device_get(unrolled(key)), jax.device_get(rolled(key))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_lifetime_programs_get_the_unrolled_lowering():
    """After importing discover.lifetime, a CPU program's random draws contain no loop."""
    text = jax.jit(lambda k: jax.random.uniform(k, (4,))).lower(jax.random.key(0)).compile().as_text()
    assert "while" not in text
