"""Checkpoints on small pytrees: round trip (PRNG keys included), pruning only after the newer
checkpoint is verified, a flipped byte caught, shape mismatches refused, interrupted writes
ignored, and background-write errors surfaced."""

import errno
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discover import checkpoint as C


def _state(x=0.0):
    return {"mean": jnp.arange(4.0) + x, "key": jax.random.key(3), "generation": jnp.int32(7)}


def _equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_and_pruning(tmp_path):
    for g in range(1, 6):
        C.save(tmp_path, g, _state(g))
    assert C.list_checkpoints(tmp_path) == [3, 4, 5]
    gen, state = C.restore(tmp_path, _state())
    assert gen == 5
    _equal(state, _state(5))
    gen, state = C.restore(tmp_path, _state(), generation=4)
    _equal(state, _state(4))
    manifest = json.loads((tmp_path / "checkpoints" / "gen_000005" / "manifest.json").read_text())
    assert len(manifest["sha256"]) == 64 and manifest["generation"] == 5


def test_a_flipped_byte_is_caught_and_the_older_checkpoint_used(tmp_path):
    C.save(tmp_path, 1, _state(1))
    C.save(tmp_path, 2, _state(2))
    data = tmp_path / "checkpoints" / "gen_000002" / "arrays.npz"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    skipped = []
    gen, state = C.restore(tmp_path, _state(), on_skip=lambda g, why: skipped.append((g, why)))
    assert gen == 1 and skipped == [(2, "checksum mismatch")]
    _equal(state, _state(1))


def test_a_checkpoint_of_another_shape_is_refused(tmp_path):
    C.save(tmp_path, 1, _state())
    other = {"mean": jnp.arange(5.0), "key": jax.random.key(3), "generation": jnp.int32(7)}
    with pytest.raises(C.CheckpointError, match=r"does not match the run's config .*float32\[4\] stored, float32\[5\] expected"):
        C.restore(tmp_path, other)


def test_a_failed_write_keeps_the_older_checkpoints(tmp_path, monkeypatch):
    C.save(tmp_path, 1, _state(1), keep=1)
    real = C._write_file

    def full(path, data):
        if path.name == "manifest.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(C, "_write_file", full)
    with pytest.raises(C.CheckpointError, match="No space left on device"):
        C.save(tmp_path, 2, _state(2), keep=1)
    assert C.list_checkpoints(tmp_path) == [1]  # not pruned: the newer one never completed
    assert not any(".tmp-" in p.name for p in (tmp_path / "checkpoints").iterdir())
    # the background writer reports the same error on its next call
    writer = C.AsyncWriter(tmp_path, keep=1)
    writer.submit(3, _state(3))
    with pytest.raises(C.CheckpointError, match="No space left on device"):
        writer.wait()
    writer.close()
    monkeypatch.setattr(C, "_write_file", real)
    assert C.restore(tmp_path, _state())[0] == 1


def test_an_interrupted_write_is_ignored_then_removed(tmp_path):
    C.save(tmp_path, 1, _state(1))
    partial = tmp_path / "checkpoints" / "gen_000002.tmp-999"
    partial.mkdir()
    (partial / "arrays.npz").write_bytes(b"half")
    assert C.list_checkpoints(tmp_path) == [1] and C.restore(tmp_path, _state())[0] == 1
    C.remove_partial(tmp_path)
    assert not partial.exists()


def test_no_checkpoint_and_none_intact_are_errors(tmp_path):
    with pytest.raises(C.CheckpointError, match="no checkpoint found"):
        C.restore(tmp_path, _state())
    C.save(tmp_path, 1, _state(1))
    (tmp_path / "checkpoints" / "gen_000001" / "manifest.json").write_text("{")
    with pytest.raises(C.CheckpointError, match="no intact checkpoint .*generation 1: unreadable manifest"):
        C.restore(tmp_path, _state(), on_skip=lambda g, why: None)
