"""Training objectives: what a training step minimises, given the model and a batch."""

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._batch import batch_data
from ._custom_types import Batch, LossFn, Metrics, StepLike
from ._outputs import vae_outputs


class AbstractObjective(eqx.Module):
    """A training objective: `objective(model, batch, step=..., key=...) -> (loss, metrics)`.

    `TrainStep` differentiates it with respect to the model's trained parameters. `step`
    is traced (a schedule may depend on it without recompiling) and `key` is the step's
    own PRNG key, `fold_in(state.key, step)`. The metrics are scalar arrays; `loss` is
    among them.
    """

    @abc.abstractmethod
    def __call__(
        self, model: Any, batch: Batch, *, step: StepLike, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` of `model` on `batch` at `step`."""

    def loss_fn(self, step: StepLike, key: PRNGKeyArray) -> LossFn:
        """This objective as `loss_fn(model, batch) -> (loss, metrics)` at `step`."""
        return lambda model, batch: self(model, batch, step=step, key=key)


def call_vae(model: Any, batch: Batch, *, key: PRNGKeyArray) -> tuple[Array, Array, Array, Array]:
    """Run a VAE on a batch: `(x, recon_x, mean, logvar)`.

    An Equinox model is called as `model(x, key=key)`; a Flax NNX model as `model(x)`,
    drawing its noise from its own `nnx.Rngs`. Either may return the documented triple or a
    mapping with `reconstructed`/`reconstruction`, `mean` and `log_var`/`logvar` entries.
    """
    x = jnp.asarray(batch_data(batch))
    run: Callable[..., Any] = model
    outputs = run(x, key=key) if isinstance(model, eqx.Module) else run(x)
    recon_x, mean, logvar = vae_outputs(outputs)
    return x, recon_x, mean, logvar


def step_key(key: PRNGKeyArray, step: StepLike) -> PRNGKeyArray:
    """The PRNG key of `step`: the base `key` with the step folded in."""
    return jax.random.fold_in(key, step)
