"""The log-probabilities of a Bernoulli, value by value, from logits or probabilities."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

# torch.nn.BCELoss bounds each log term below by -100; so do we, so that a probability of
# exactly 0 or 1 gives a large but finite loss.
LOG_FLOOR = -100.0


def floored_log(p: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """`log(p)` bounded below by -100, with a finite (zero) gradient where `p == 0`."""
    # The inner `where` keeps log's gradient finite (zero) where p == 0.
    positive = p > 0
    safe = jnp.where(positive, p, 1.0)
    return jnp.where(positive, jnp.maximum(jnp.log(safe), LOG_FLOOR), LOG_FLOOR)


def bernoulli_log_probs_of_logits(
    x: Float[Array, "*shape"], logits: Float[Array, "*shape"]
) -> Float[Array, "*shape"]:
    """`x log p + (1 - x) log(1 - p)` with `p = sigmoid(logits)`, as `x * logits -
    softplus(logits)`: exact for every logit, never forming `p`."""
    return x * logits - jax.nn.softplus(logits)


def bernoulli_log_probs_of_probs(
    x: Float[Array, "*shape"], probs: Float[Array, "*shape"]
) -> Float[Array, "*shape"]:
    """`x log p + (1 - x) log(1 - p)`, each log bounded below by -100 (`floored_log`)."""
    return x * floored_log(probs) + (1.0 - x) * floored_log(1.0 - probs)
