"""Training objectives: what a training step minimises, given the model and a batch."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._batch import batch_data
from .._custom_types import Batch, LossFn, Metrics, Model, StepLike
from .._dtypes import float_dtype
from .._outputs import vae_outputs
from ..frameworks._seam import framework_of


class AbstractObjective(eqx.Module):
    """A training objective: `objective(model, batch, step=..., key=...) -> (loss, metrics)`.

    `TrainStep` differentiates it with respect to the model's trained parameters. `step`
    is traced (a schedule may depend on it without recompiling) and `key` is the step's
    own PRNG key, `fold_in(state.key, step)`. The metrics are scalar arrays; `loss` is
    among them.
    """

    @abc.abstractmethod
    def __call__(
        self, model: Model, batch: Batch, *, step: StepLike, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` of `model` on `batch` at `step`."""

    def loss_fn(self, step: StepLike, key: PRNGKeyArray) -> LossFn:
        """This objective as `loss_fn(model, batch) -> (loss, metrics)` at `step`."""
        return lambda model, batch: self(model, batch, step=step, key=key)


def call_vae(model: Model, batch: Batch, *, key: PRNGKeyArray) -> tuple[Array, Array, Array, Array]:
    """Run a VAE on a batch: `(x, recon_x, mean, logvar)`.

    An Equinox model is called as `model(x, key=key)`; a Flax NNX model as `model(x)`,
    drawing its noise from its own `nnx.Rngs`. Either may return the documented triple or a
    mapping with `reconstructed`/`reconstruction`, `mean` and `log_var`/`logvar` entries.

    A model whose trained parameters all have one 16-bit floating dtype (as under a
    mixed-precision `TrainStep`) runs on the data cast to that dtype, and its outputs
    come back in elbox's float dtype (float32), so the loss and the KL are computed there.
    """
    x = jnp.asarray(batch_data(batch))
    framework = framework_of(model)
    compute = framework.compute_dtype(model)
    if compute is None:
        recon_x, mean, logvar = vae_outputs(framework.call(model, x, key=key))
        return x, recon_x, mean, logvar
    outputs = vae_outputs(framework.call(model, x.astype(compute), key=key))
    wide = float_dtype()
    recon_x, mean, logvar = (output.astype(wide) for output in outputs)
    return x.astype(wide), recon_x, mean, logvar


def encode_sample_decode(
    model: Model, batch: Batch, *, key: PRNGKeyArray
) -> tuple[Array, Array, Array, Array, Array]:
    """Run a VAE's parts on a batch, keeping the drawn code: `(x, recon_x, mean, logvar, z)`.

    For objectives that need the latent code itself (the beta-TC objective estimates the
    aggregate posterior at it): `mean, logvar = model.encode(x)`, then
    `z = mean + exp(logvar / 2) * noise` with standard normal noise drawn from `key`, then
    `recon_x = model.decode(z)`. Equinox and Flax NNX models alike draw the noise from
    `key` here (an NNX model's own `nnx.Rngs` are not used). The reference models of
    `elbox.models` have both methods. A 16-bit model computes as in `call_vae`; the code
    `z` is drawn in float32.

    Raises:
        TypeError: when the model has no `encode` or `decode` method, or `encode` does
            not return `(mean, logvar)`.
    """
    x = jnp.asarray(batch_data(batch))
    missing = [name for name in ("encode", "decode") if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(
            f"{type(model).__name__} has no {' or '.join(missing)} method: this objective "
            "needs the sampled latent code, so it calls model.encode(x) -> (mean, logvar) "
            "and model.decode(z) -> recon_x rather than model(x)"
        )
    x, mean, logvar = encode_posterior(model, x)
    noise = jax.random.normal(key, mean.shape, dtype=mean.dtype)
    z = mean + jnp.exp(0.5 * logvar) * noise
    return x, decode_codes(model, z), mean, logvar, z


def encode_posterior(model: Model, x: Array) -> tuple[Array, Array, Array]:
    """`model.encode(x)`, checked to be two arrays: `(x, mean, logvar)`.

    A 16-bit model (see `call_vae`) encodes the data cast to its dtype, and `x`, `mean`
    and `logvar` come back in float32, where the codes are drawn and the loss computed.

    Raises:
        TypeError: when `encode` does not return `(mean, logvar)`.
    """
    compute = framework_of(model).compute_dtype(model)
    encoded = model.encode(x if compute is None else x.astype(compute))
    if not (
        isinstance(encoded, tuple | list)
        and len(encoded) == 2
        and all(isinstance(part, jax.Array) for part in encoded)
    ):
        raise TypeError(
            f"{type(model).__name__}.encode(x) must return (mean, logvar), two arrays of "
            f"shape (batch, latent); got {type(encoded).__name__}"
        )
    mean, logvar = encoded
    if compute is not None:  # a 16-bit model: the code and the loss in float32
        wide = float_dtype()
        x, mean, logvar = x.astype(wide), mean.astype(wide), logvar.astype(wide)
    return x, mean, logvar


def decode_codes(model: Model, z: Array) -> Array:
    """`model.decode(z)`; a 16-bit model decodes `z` cast to its dtype, and its output
    comes back in float32."""
    compute = framework_of(model).compute_dtype(model)
    decoded: Array = model.decode(z if compute is None else z.astype(compute))
    return decoded if compute is None else decoded.astype(float_dtype())


def require_encode_decode(model: Model, objective: str) -> None:
    """A TypeError naming what is missing when `model` has no `encode` or `decode`."""
    missing = [name for name in ("encode", "decode") if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(
            f"{type(model).__name__} has no {' or '.join(missing)} method: {objective} "
            "calls model.encode(x) -> (mean, logvar) and model.decode(z) -> recon_x "
            "rather than model(x)"
        )


def step_key(key: PRNGKeyArray, step: StepLike) -> PRNGKeyArray:
    """The PRNG key of `step`: the base `key` with the step folded in."""
    return jax.random.fold_in(key, step)
