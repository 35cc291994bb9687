"""Shared model factories and comparisons for the tests."""

import os
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import optax
from flax import nnx

from elbox import VAETrainer, VAETrainingConfig
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

Framework = Literal["nnx", "equinox"]
FRAMEWORKS: tuple[Framework, ...] = ("nnx", "equinox")

FEATURES, HIDDEN, LATENT = 12, 16, 3


def make_model_and_optimizer(
    framework: Framework,
    *,
    learning_rate: float = 1e-2,
    features: int = FEATURES,
    seed: int = 0,
) -> tuple[Any, Any]:
    """A small MLP VAE and its adam optimizer, in either framework."""
    if framework == "nnx":
        model = nnx_models.MLPVAE(features, hidden=HIDDEN, latent=LATENT, rngs=nnx.Rngs(seed))
        return model, nnx.Optimizer(model, optax.adam(learning_rate), wrt=nnx.Param)
    eqx_model = eqx_models.MLPVAE(features, hidden=HIDDEN, latent=LATENT, key=jax.random.key(seed))
    return eqx_model, optax.adam(learning_rate)


def make_trainer(
    framework: Framework,
    config: VAETrainingConfig | None = None,
    *,
    learning_rate: float = 1e-2,
    features: int = FEATURES,
    seed: int = 0,
    **kwargs: Any,
) -> VAETrainer[Any]:
    """A small MLP VAE with adam, in either framework, wrapped in a VAETrainer."""
    model, optimizer = make_model_and_optimizer(
        framework, learning_rate=learning_rate, features=features, seed=seed
    )
    return VAETrainer(model, optimizer, config, **kwargs)


def batch(n: int = 8, features: int = FEATURES, seed: int = 0) -> jax.Array:
    """Data in [0, 1] of shape (n, features)."""
    return jax.random.uniform(jax.random.key(seed), (n, features))


def patterns(n: int, features: int = FEATURES, kinds: int = 4) -> jax.Array:
    """n binary rows drawn from `kinds` fixed patterns: data a small VAE can learn."""
    prototypes = jnp.round(jax.random.uniform(jax.random.key(99), (kinds, features)))
    return jnp.tile(prototypes, (n // kinds + 1, 1))[:n]


def params_of(model: Any) -> list[npt.NDArray[Any]]:
    """The model's trainable arrays as NumPy copies, in a fixed order."""
    if isinstance(model, nnx.Module):
        leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    else:
        leaves = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))
    return [np.asarray(leaf) for leaf in leaves]


def as_float(x: Any) -> float:
    """A scalar array as a Python float."""
    return float(jnp.asarray(x))


def xla_flags_with_devices(count: int) -> str:
    """XLA_FLAGS for a process the test starts with `count` virtual CPU devices: the
    suite's own flags (tests/conftest.py) with the device count added."""
    return f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}"
