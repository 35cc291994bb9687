"""The importance-weighted lower bound of log p(x) (Burda et al., 2016)."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import ModelState, Params
from .._validation import checked_int
from ..frameworks._model_def import AbstractModelDef
from ..frameworks._seam import framework_of
from ..likelihoods._by_name import LIKELIHOOD_NAMES, reconstruction_loss
from ..likelihoods._likelihood import AbstractLikelihood
from ..likelihoods._reconstruction import AbstractReconstructionLoss
from ._batches import padded_batches
from ._checks import checked_batch_size, checked_data
from ._model import EncoderDecoder, check_model, encode

# (example, sample) pairs decoded at once: about a few MB of activations for an MLP, big
# enough for efficient matrix products, small enough to stay in cache.
_PAIRS_PER_CHUNK = 8192


def log_likelihood(
    model: EncoderDecoder,
    x: Float[Array, "batch *features"] | Float[np.ndarray, "batch *features"],
    *,
    loss_type: str | AbstractLikelihood = "mse",
    num_samples: int = 1000,
    key: PRNGKeyArray,
    batch_size: int | None = None,
) -> Float[Array, " batch"]:
    r"""The importance-weighted lower bound of log p(x), in nats, for each example.

    With the encoder's posterior q(z|x) as the proposal and the standard normal prior
    p(z), Burda, Grosse and Salakhutdinov (2016, "Importance weighted autoencoders",
    eq. 8) bound the log marginal likelihood from below with K samples
    z_1..z_K ~ q(z|x):

        L_K(x) = log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)  <=  log p(x)

    `L_1` is the ELBO in expectation; `L_K` rises with K and reaches log p(x) as K grows,
    and equals it for every K when q(z|x) is the exact posterior. The sum is computed
    with `logsumexp`.

    p(x|z) is the likelihood `loss_type` names or is (an `AbstractLikelihood`, or a
    name of `likelihood_from_name`): its `log_prob`, normalising constant included, of
    the data as its `for_evaluation()` likelihood observes it (a binarising Bernoulli
    likelihood bounds the fixed binarisation of `x`). For the spec's losses:

    - `"mse"`: a Gaussian with mean `decode(z)` and variance 1/2, so
      `-log p(x|z) = sum (x - mu)**2 + (D/2) log(pi)` (D values per example);
    - `"bce"`: a Bernoulli with probabilities `decode(z)` (each log bounded below by
      -100, as the loss does); `"bce_logits"`: a Bernoulli with logits `decode(z)`;
      `-log p(x|z)` is the loss itself. A Bernoulli is a distribution of binary data:
      on grey levels the bound is not one of log p(x) (`normalised_for` says so);
    - `"mae"`: a Laplace with location `decode(z)` and scale 1, so
      `-log p(x|z) = sum |x - mu| + D log 2`.

    The bound is in nats; for discrete data (`data_support.discrete`),
    `elbox.bits_per_dimension` gives it in bits per dimension.

    Sample k of example i is drawn with `jax.random.fold_in(fold_in(key, i), k)`, where
    i counts the rows of `x`: the result does not depend on `batch_size`. The model runs
    compiled, once per shape, on `batch_size` examples at a time (the last batch padded);
    the samples are decoded in chunks, at most `max(batch_size, 8192)` (example, sample)
    pairs at once and never more than `batch_size * num_samples`, with a running
    `logsumexp`. K is not compiled in: every `num_samples` of at least
    `8192 // batch_size` reuses one compilation.

    Args:
        model: a VAE with `encode(x) -> (mean, logvar)` and `decode(z)` (Flax NNX or
            Equinox; see [`EncoderDecoder`][elbox.metrics.EncoderDecoder]).
        x: the data, a JAX or NumPy floating-point array of shape `(batch, ...)`.
        loss_type: the likelihood the model was trained with: a name (`"mse"`, `"bce"`,
            `"bce_logits"`, `"mae"` or one of `likelihood_from_name`'s) or an
            `AbstractLikelihood`.
        num_samples: K, the number of importance samples per example (at least 1).
        key: the key of the samples.
        batch_size: examples per compiled call; `None` for all of `x` at once.

    Returns:
        The bound `L_K(x)` of each example, in nats, shape `(batch,)`.

    Raises:
        TypeError: for a model without `encode` and `decode`, or one whose `encode` does
            not return `(mean, logvar)`.
        ValueError: for an unknown `loss_type` or a reconstruction loss that is not a
            likelihood, `num_samples < 1`, a `batch_size` below 1, `x` that is not
            floating-point data of shape `(batch, ...)`, or a decoder whose output does
            not have the shape the likelihood reads.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from elbox.metrics import log_likelihood
        >>> from elbox.models.equinox import MLPVAE
        >>> model = MLPVAE(64, hidden=32, latent=4, key=jax.random.key(0))
        >>> x = jax.random.uniform(jax.random.key(1), (5, 64))
        >>> bound = log_likelihood(model, x, loss_type="continuous_bernoulli",
        ...                        num_samples=100, key=jax.random.key(2))
        >>> bound.shape, bool(jnp.all(jnp.isfinite(bound)))
        ((5,), True)
    """
    check_model(model, "log_likelihood")
    likelihood = _likelihood(loss_type).for_evaluation()
    samples = checked_int("", "num_samples", num_samples, 1)
    data = checked_data(x, "log_likelihood")
    size = checked_batch_size(batch_size, data.shape[0])
    chunk = _chunk_size(samples, size)
    framework = framework_of(model)
    definition, params, model_state = framework.split(framework.inference(model))
    bounds = []
    for start, count, batch in padded_batches(data, size):
        bound = _bound(
            definition,
            params,
            model_state,
            batch,
            jnp.asarray(start, jnp.int32),
            key,
            jnp.asarray(samples, jnp.int32),
            likelihood=likelihood,
            chunk=chunk,
        )
        bounds.append(bound[:count])
    return jnp.concatenate(bounds)


def _likelihood(loss_type: Any) -> AbstractLikelihood:
    """The likelihood `loss_type` names or is; a clear error for anything else."""
    loss = loss_type if isinstance(loss_type, AbstractReconstructionLoss) else None
    if loss is None and isinstance(loss_type, str) and loss_type in LIKELIHOOD_NAMES:
        loss = reconstruction_loss(loss_type)  # type: ignore[arg-type]  # a name, checked
    if not isinstance(loss, AbstractLikelihood):
        choices = ", ".join(repr(name) for name in LIKELIHOOD_NAMES)
        raise ValueError(
            f"loss_type must be one of {choices} or an elbox.AbstractLikelihood (a "
            f"normalised distribution); got {loss_type!r}"
        )
    return loss


def negative_log_likelihood(
    loss_type: str | AbstractLikelihood,
    x: Float[Array, "batch *features"],
    output: Float[Array, "batch *outputs"],
) -> Float[Array, " batch"]:
    """`-log p(x|z)` of each example, where `output = decode(z)`: minus the likelihood's
    `log_prob`, normalising constant included."""
    return -_likelihood(loss_type).log_prob(x, output)


@eqx.filter_jit
def _bound(
    definition: AbstractModelDef,
    params: Params,
    model_state: ModelState,
    x: Float[Array, "batch *features"],
    start: Array,
    key: PRNGKeyArray,
    num_samples: Array,
    *,
    likelihood: AbstractLikelihood,
    chunk: int,
) -> Float[Array, " batch"]:
    model = definition.merge(params, model_state)
    x = likelihood.observe(x, key=key)  # the fixed binarisation of a Bernoulli likelihood
    mean, logvar = encode(model, x)
    batch, latent = mean.shape
    std = jnp.exp(0.5 * logvar)
    half_log_det = 0.5 * jnp.sum(logvar, axis=-1)
    example_keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
        key, start + jnp.arange(batch, dtype=jnp.int32)
    )

    def noise(sample: Array) -> Float[Array, "batch latent"]:
        def one(example_key: PRNGKeyArray) -> Float[Array, " latent"]:
            return jax.random.normal(
                jax.random.fold_in(example_key, sample), (latent,), dtype=mean.dtype
            )

        return jax.vmap(one)(example_keys)

    def log_weights(first: Array, size: int) -> Float[Array, "size batch"]:
        eps = jax.vmap(noise)(first + jnp.arange(size, dtype=jnp.int32))
        z = mean[None] + std[None] * eps
        output = model.decode(z.reshape(size * batch, latent))
        per_value = likelihood.decoder_outputs.per_value
        expected = (size * batch, *x.shape[1:-1], per_value * x.shape[-1])
        if output.shape != expected:
            shape = "the shape of an example of x" if per_value == 1 else "the shape"
            raise ValueError(
                f"log_likelihood: model.decode(z) must return one output of {shape} "
                f"{expected[1:]} ({likelihood.describe()}) per latent code; for "
                f"{size * batch} codes it returned shape {output.shape}"
            )
        repeated = jnp.broadcast_to(x[None], (size, *x.shape)).reshape(size * batch, *x.shape[1:])
        log_p_x_given_z = likelihood.log_prob(repeated, output)
        # log p(z) - log q(z|x): the 2*pi terms cancel, and (z - mean)**2 / var = eps**2.
        log_prior_ratio = 0.5 * jnp.sum(eps**2 - z**2, axis=-1) + half_log_det[None]
        return log_p_x_given_z.reshape(size, batch) + log_prior_ratio

    def accumulate(index: Array, total: Array) -> Array:
        first = index * chunk
        weights = log_weights(first, chunk)
        # The last chunk may run past K: its extra samples count for nothing.
        valid = first + jnp.arange(chunk, dtype=jnp.int32) < num_samples
        weights = jnp.where(valid[:, None], weights, -jnp.inf)
        return jnp.logaddexp(total, jax.nn.logsumexp(weights, axis=0))

    num_chunks = (num_samples + chunk - 1) // chunk
    initial = jnp.full((batch,), -jnp.inf, mean.dtype)
    total: Array = jax.lax.fori_loop(0, num_chunks, accumulate, initial)
    return total - jnp.log(num_samples.astype(mean.dtype))


def _chunk_size(num_samples: int, batch: int) -> int:
    """Samples per chunk: as many as `_PAIRS_PER_CHUNK` allows, and at most K.

    K itself is not compiled in, so every K of at least `_PAIRS_PER_CHUNK // batch` shares
    one compilation; the samples of the last chunk beyond K are masked.
    """
    return min(num_samples, max(1, _PAIRS_PER_CHUNK // batch))
