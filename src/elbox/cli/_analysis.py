"""What a trained VAE learned: the test ELBO, KL per latent dimension, active units."""

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._kl import gaussian_kl
from .._trainer import LossType, VAETrainer

ACTIVE_THRESHOLD = 0.01
"""A latent dimension is active when its posterior mean varies over the data by more than
this (Burda et al., 2016: `Cov_x(E_q(z|x)[z_u]) > 0.01`)."""


@dataclasses.dataclass(frozen=True)
class Analysis:
    """A trained VAE on held-out data.

    Attributes:
        neg_elbo: the negative ELBO (reconstruction + KL, weight 1, no free bits), in
            nats per example.
        recon_loss: its reconstruction part.
        kl: its KL part.
        kl_per_dimension: the mean KL of each latent dimension.
        mean_variance: the variance over the data of each dimension's posterior mean.
        active: which dimensions are active (`mean_variance > 0.01`).
        num_examples: how many examples were evaluated.
    """

    neg_elbo: float
    recon_loss: float
    kl: float
    kl_per_dimension: np.ndarray[Any, np.dtype[np.float64]]
    mean_variance: np.ndarray[Any, np.dtype[np.float64]]
    active: np.ndarray[Any, np.dtype[np.bool_]]
    num_examples: int

    @property
    def active_units(self) -> int:
        """How many latent dimensions are active."""
        return int(self.active.sum())

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "neg_elbo": self.neg_elbo,
            "recon_loss": self.recon_loss,
            "kl": self.kl,
            "active_units": self.active_units,
            "latent_dimensions": int(self.active.size),
            "active_threshold": ACTIVE_THRESHOLD,
            "kl_per_dimension": self.kl_per_dimension.tolist(),
            "mean_variance": self.mean_variance.tolist(),
            "num_examples": self.num_examples,
        }


@runtime_checkable
class Examples(Protocol):
    """Held-out data: an array, or anything sliced like one (`data[a:b]` gives an array)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice, /) -> Any: ...


Encoder = Callable[
    [Float[Array, "batch ..."]], tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]
]


def analyse(
    vae: VAETrainer[Any],
    data: Examples,
    *,
    loss_type: LossType,
    batch_size: int = 256,
) -> Analysis:
    """Evaluate `vae` on `data` (all of it, in batches) at its current step."""
    model = vae.model
    # A closure rather than the bound method: an Equinox bound method is not hashable.
    encode: Encoder = jax.jit(lambda x: model.encode(x))
    totals = {"neg_elbo": 0.0, "recon_loss": 0.0}
    means, kls = [], []
    for start in range(0, len(data), batch_size):
        batch = data[start : start + batch_size]
        metrics = vae.evaluate(batch, loss_type=loss_type)
        for name in totals:
            totals[name] += len(batch) * float(metrics[name])
        mean, logvar = encode(jnp.asarray(batch))
        means.append(np.asarray(mean, np.float64))
        kls.append(np.asarray(gaussian_kl(mean, logvar), np.float64))
    n = len(data)
    all_means, all_kls = np.concatenate(means), np.concatenate(kls)
    variance = all_means.var(axis=0)
    neg_elbo, recon = totals["neg_elbo"] / n, totals["recon_loss"] / n
    return Analysis(
        neg_elbo=neg_elbo,
        recon_loss=recon,
        kl=neg_elbo - recon,
        kl_per_dimension=all_kls.mean(axis=0),
        mean_variance=variance,
        active=variance > ACTIVE_THRESHOLD,
        num_examples=n,
    )
