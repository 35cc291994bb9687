"""elbox's trainer against closed-form optima: a linear VAE on Gaussian data.

    python benchmarks/theory.py [--output docs/theory/linear_gaussian.json] [--quick]

For Gaussian data and a linear VAE (a linear encoder with a learned diagonal variance, a
linear decoder, the Gaussian likelihood of `loss_type="mse"`: variance sigma^2 = 1/2),
the optimum of the ELBO is known in closed form. With the data's covariance S = U
diag(l_1 >= ... >= l_D) U^T (about its mean), a latent dimension k, and the noise
variance fixed at sigma^2:

- the maximum-likelihood linear-Gaussian model p(x) = N(b, W W^T + sigma^2 I) is
  probabilistic PCA with fixed noise (Tipping and Bishop 1999): b is the mean, and W
  keeps the directions with l_i > sigma^2 (the first k of them), scaled to
  sqrt(l_i - sigma^2); its average log-likelihood is
  -1/2 sum_i [log(2 pi c_i) + l_i / c_i], c_i = l_i for those directions, sigma^2
  for the others;
- the linear VAE's ELBO reaches that log-likelihood at its optimum, where the encoder is
  the exact posterior (Lucas, Tucker, Grosse and Norouzi 2019, "Don't blame the ELBO!");
- each direction with l_i <= sigma^2 collapses: its latent carries nothing (the posterior
  collapse threshold of Lucas et al.), so the active units number #{l_i > sigma^2}
  (at most k);
- the KL term at the optimum is sum over active directions of (1/2) log(l_i / sigma^2),
  and, since the aggregate posterior is then the prior, so is the mutual information
  I_q(x; z).

The script draws the data, trains the linear VAE with `VAETrainer` (no annealing, beta
1, no free bits, Adam with a cosine-decayed step) and puts what elbox reaches beside
those values: the negative ELBO of the trained model (exact, since the model is linear),
its KL term, active units and mutual information (`elbox.metrics`, with log N beside),
and the importance-weighted bound (`elbox.metrics.log_likelihood`) against the trained
model's exact log-likelihood. Two spectra: four directions above the threshold, and
none (complete posterior collapse). `--output` writes the numbers as JSON (the
"Checked against theory" page reads them); `--quick` is the short version the test suite
runs (`tests/test_theory.py`).
"""

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from elbox import VAETrainer, VAETrainingConfig
from elbox._atomic import write_json
from elbox.data import batches
from elbox.metrics import active_units, log_likelihood, mutual_information, posterior_parameters
from elbox.training import Trainer

NOISE_VARIANCE = 0.5
"""The variance of the Gaussian likelihood of `loss_type="mse"`: -log p(x|z) is the
squared error plus (D/2) log(pi)."""

SPECTRA = {
    # Four directions above sigma^2 = 0.5, four below: four active units of six.
    "above": (4.0, 2.0, 1.0, 0.7, 0.4, 0.3, 0.2, 0.1),
    # Every direction below: the posterior collapses completely.
    "below": (0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1),
}


@dataclasses.dataclass(frozen=True)
class Setup:
    """A check's size: examples, latent dimension, training length."""

    examples: int = 20_000
    latent: int = 6
    batch: int = 1_000
    epochs: int = 200
    learning_rate: float = 1e-2
    bound_examples: int = 2_000
    bound_samples: int = 1_000
    seed: int = 0


FULL = Setup()
QUICK = Setup(examples=2_000, batch=250, epochs=200, bound_examples=300, bound_samples=50)


class LinearVAE(eqx.Module):
    """The linear VAE of Lucas et al. (2019): `mean = A x + a`, a learned
    input-independent log-variance, `recon = W z + b`."""

    encoder: eqx.nn.Linear
    log_variance: Float[Array, " latent"]
    decoder: eqx.nn.Linear

    def __init__(self, features: int, latent: int, *, key: PRNGKeyArray) -> None:
        encoder_key, decoder_key = jax.random.split(key)
        self.encoder = eqx.nn.Linear(features, latent, key=encoder_key)
        self.log_variance = jnp.zeros(latent)
        self.decoder = eqx.nn.Linear(latent, features, key=decoder_key)

    def encode(
        self, x: Float[Array, "batch features"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior's mean and log-variance."""
        mean = jax.vmap(self.encoder)(x)
        return mean, jnp.broadcast_to(self.log_variance, mean.shape)

    def decode(self, z: Float[Array, "batch latent"]) -> Float[Array, "batch features"]:
        """The likelihood's mean."""
        return jax.vmap(self.decoder)(z)

    def __call__(
        self, x: Float[Array, "batch features"], *, key: PRNGKeyArray
    ) -> tuple[
        Float[Array, "batch features"], Float[Array, "batch latent"], Float[Array, "batch latent"]
    ]:
        mean, log_variance = self.encode(x)
        z = mean + jnp.exp(0.5 * log_variance) * jax.random.normal(key, mean.shape)
        return self.decode(z), mean, log_variance


def gaussian_data(
    eigenvalues: tuple[float, ...], examples: int, seed: int
) -> npt.NDArray[np.float32]:
    """`examples` draws of N(0, U diag(eigenvalues) U^T), U a seeded random rotation."""
    random = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(random.standard_normal((len(eigenvalues),) * 2))
    noise = random.standard_normal((examples, len(eigenvalues)))
    return np.asarray(noise * np.sqrt(eigenvalues) @ rotation.T, np.float32)


def closed_form(x: npt.NDArray[Any], latent: int) -> dict[str, Any]:
    """The optimum of the linear VAE's ELBO on `x`, per example, in nats (float64)."""
    data = np.asarray(x, np.float64)
    covariance = np.cov(data, rowvar=False, bias=True)
    spectrum = np.sort(np.linalg.eigvalsh(covariance))[::-1]
    above = [value for value in spectrum[:latent] if value > NOISE_VARIANCE]
    kept = np.full(spectrum.shape, NOISE_VARIANCE)
    kept[: len(above)] = above
    log_likelihood = -0.5 * float(np.sum(np.log(2 * np.pi * kept) + spectrum / kept))
    kl = 0.5 * float(np.sum(np.log(np.asarray(above) / NOISE_VARIANCE)))
    return {
        "neg_elbo": -log_likelihood,
        "log_likelihood": log_likelihood,
        "kl": kl,
        "recon": -log_likelihood - kl,
        "active_units": float(len(above)),
        "mutual_information": kl,
        "spectrum": spectrum.tolist(),
    }


def exact_terms(model: LinearVAE, x: npt.NDArray[Any]) -> dict[str, Any]:
    """The trained model's negative ELBO and its parts, and its log-likelihood, exactly
    (the model is linear and Gaussian), per example, in nats (float64)."""
    data = np.asarray(x, np.float64)
    a = np.asarray(model.encoder.weight, np.float64)
    a0 = np.asarray(model.encoder.bias, np.float64)
    w = np.asarray(model.decoder.weight, np.float64)
    b = np.asarray(model.decoder.bias, np.float64)
    variance = np.exp(np.asarray(model.log_variance, np.float64))
    means = data @ a.T + a0
    residual = data - means @ w.T - b
    # E_q ||x - W z - b||^2 = ||x - W m - b||^2 + sum_j var_j ||W_:,j||^2
    squared = np.sum(residual**2, axis=1) + np.sum(variance * np.sum(w**2, axis=0))
    features = data.shape[1]
    recon = float(np.mean(squared / (2 * NOISE_VARIANCE)))
    recon += 0.5 * features * math.log(2 * np.pi * NOISE_VARIANCE)
    kl = float(np.mean(0.5 * np.sum(variance + means**2 - 1.0 - np.log(variance), axis=1)))
    covariance = w @ w.T + NOISE_VARIANCE * np.eye(features)
    _, log_det = np.linalg.slogdet(covariance)
    centred = data - b
    mahalanobis = np.sum(centred @ np.linalg.inv(covariance) * centred, axis=1)
    log_px = -0.5 * (features * math.log(2 * np.pi) + log_det + mahalanobis)
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl, "log_px": log_px.tolist()}


def train(x: npt.NDArray[np.float32], setup: Setup) -> LinearVAE:
    """The linear VAE trained by `VAETrainer` on `x`."""
    steps = setup.epochs * (len(x) // setup.batch)
    schedule = optax.cosine_decay_schedule(setup.learning_rate, steps)
    vae = VAETrainer(
        LinearVAE(x.shape[1], setup.latent, key=jax.random.key(setup.seed)),
        optax.adam(schedule),
        VAETrainingConfig(kl_annealing="none", beta=1.0, free_bits=0.0),
        key=jax.random.key(setup.seed + 1),
    )
    Trainer(vae, loss_type="mse").fit(
        batches(x, setup.batch, shuffle=True, seed=setup.seed), epochs=setup.epochs
    )
    model: LinearVAE = vae.model
    return model


def check(name: str, setup: Setup) -> dict[str, Any]:
    """One spectrum: the closed form, and what elbox's trainer and metrics reach."""
    x = gaussian_data(SPECTRA[name], setup.examples, setup.seed)
    optimum = closed_form(x, setup.latent)
    model = train(x, setup)
    terms = exact_terms(model, x)
    means, _ = posterior_parameters(model, jnp.asarray(x), batch_size=4096)
    subset = jnp.asarray(x[: setup.bound_examples])
    bound = log_likelihood(
        model,
        subset,
        loss_type="mse",
        num_samples=setup.bound_samples,
        key=jax.random.key(1),
        batch_size=256,
    )
    information = mutual_information(model, subset, key=jax.random.key(2), batch_size=256)
    exact = np.asarray(terms["log_px"], np.float64)[: setup.bound_examples]
    return {
        "eigenvalues": list(SPECTRA[name]),
        "closed_form": optimum,
        "reached": {
            "neg_elbo": terms["neg_elbo"],
            "recon": terms["recon"],
            "kl": terms["kl"],
            "active_units": float(np.asarray(active_units(means)).sum()),
            "mutual_information": information,
            "log_likelihood": float(np.mean(np.asarray(terms["log_px"]))),
        },
        "gap": {
            "neg_elbo": terms["neg_elbo"] - optimum["neg_elbo"],
            "kl": terms["kl"] - optimum["kl"],
            "mutual_information": information - optimum["mutual_information"],
        },
        "bound": {
            "examples": setup.bound_examples,
            "samples": setup.bound_samples,
            "iwae": float(np.mean(np.asarray(bound, np.float64))),
            "exact": float(np.mean(exact)),
            "information_ceiling": math.log(setup.bound_examples),
        },
    }


def run(setup: Setup) -> dict[str, Any]:
    """Every spectrum's check."""
    return {
        "setup": {
            **dataclasses.asdict(setup),
            "features": len(SPECTRA["above"]),
            "noise_variance": NOISE_VARIANCE,
        },
        "cases": {name: check(name, setup) for name in SPECTRA},
    }


def _table(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{'case':<6} {'quantity':<20} {'closed form':>12} {'elbox':>12} {'gap':>9}",
    ]
    for name, case in result["cases"].items():
        optimum, reached = case["closed_form"], case["reached"]
        for quantity in ("neg_elbo", "kl", "active_units", "mutual_information"):
            gap = reached[quantity] - optimum[quantity]
            lines.append(
                f"{name:<6} {quantity:<20} {optimum[quantity]:>12.4f} "
                f"{reached[quantity]:>12.4f} {gap:>+9.4f}"
            )
        bound = case["bound"]
        lines.append(
            f"{name:<6} {'IWAE vs log p(x)':<20} {bound['exact']:>12.4f} "
            f"{bound['iwae']:>12.4f} {bound['iwae'] - bound['exact']:>+9.4f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=None, help="write the numbers as JSON")
    parser.add_argument("--quick", action="store_true", help="the test suite's short version")
    arguments = parser.parse_args()
    start = time.perf_counter()
    result = run(QUICK if arguments.quick else FULL)
    result["seconds"] = time.perf_counter() - start
    result["command"] = " ".join(["python", "benchmarks/theory.py", *sys.argv[1:]])
    for line in _table(result):
        print(line)
    print(f"{result['seconds']:.1f} s")
    if arguments.output is not None:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        write_json(arguments.output, result)
        print(f"written to {arguments.output}")


if __name__ == "__main__":
    main()
