"""The gradient signal-to-noise ratio of the IWAE estimators as K grows, on a
linear-Gaussian VAE (Rainforth et al. 2018; Tucker et al. 2019).

    python benchmarks/gradient_snr.py [--draws 400] [--output docs/benchmarks/gradient_snr.json]

The model is the one of the tests' estimator checks: p(z) = N(0, I) with 2 latent
dimensions, p(x|z) = N(W z + b, 0.25 I) with 3 values (W's columns orthogonal), and an
encoder linear in x whose parameters are moved away from the exact posterior. For K in
1, 4, 16, 64 and 256, `elbox.metrics.gradient_snr` measures the mean SNR of the encoder's
and the decoder's gradient components over `--draws` draws, for the standard gradient
and for DReG, on three fixed examples. `--output` writes the table as JSON, which the
guide "Tighter bounds: IWAE and DReG" reads.
"""

import argparse
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from elbox import GaussianLikelihood, IWAEObjective
from elbox.metrics import gradient_snr

VARIANCE = 0.25
W = np.array([[1.0, 0.5], [1.0, -0.5], [0.0, 0.5]])
B = np.array([0.2, -0.1, 0.3])
X = jnp.asarray([[0.5, -1.0, 0.2], [1.5, 0.3, -0.4], [-0.7, 0.1, 0.9]], jnp.float32)
SAMPLES = (1, 4, 16, 64, 256)


class LinearGaussian(eqx.Module):
    """A linear decoder, and an encoder linear in x with a variance per latent dimension."""

    weight: Array
    bias: Array
    encoder_weight: Array
    encoder_bias: Array
    encoder_logvar: Array

    def encode(self, x: Array) -> tuple[Array, Array]:
        mean = x @ self.encoder_weight.T + self.encoder_bias[None]
        return mean, jnp.broadcast_to(self.encoder_logvar[None], mean.shape)

    def decode(self, z: Array) -> Array:
        return z @ self.weight.T + self.bias[None]


def off_posterior_model() -> LinearGaussian:
    """The exact posterior's encoder, moved away from it."""
    covariance = np.linalg.inv(np.eye(2) + W.T @ W / VARIANCE)
    gain = covariance @ W.T / VARIANCE
    return LinearGaussian(
        weight=jnp.asarray(W, jnp.float32),
        bias=jnp.asarray(B, jnp.float32),
        encoder_weight=jnp.asarray(gain + 0.3, jnp.float32),
        encoder_bias=jnp.asarray(-gain @ B - 0.2, jnp.float32),
        encoder_logvar=jnp.asarray(
            np.log(np.diag(covariance)) + np.array([0.6, -0.4]), jnp.float32
        ),
    )


def measure(draws: int) -> dict[str, list[float]]:
    """The mean encoder and decoder SNRs for each K, standard and DReG."""
    model = off_posterior_model()
    likelihood = GaussianLikelihood(variance=VARIANCE)
    table: dict[str, list[float]] = {
        "standard_encoder": [],
        "dreg_encoder": [],
        "standard_decoder": [],
        "dreg_decoder": [],
    }
    for samples in SAMPLES:
        for gradient in ("standard", "dreg"):
            objective = IWAEObjective(samples, gradient=gradient, loss_type=likelihood)
            snr = gradient_snr(
                model, X, objective=objective, num_draws=draws, key=jax.random.key(0)
            )
            table[f"{gradient}_encoder"].append(round(snr.encoder, 4))
            table[f"{gradient}_decoder"].append(round(snr.decoder, 4))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=400, help="gradient draws per SNR")
    parser.add_argument("--output", type=Path, default=None, help="write the table as JSON")
    args = parser.parse_args()
    table = measure(args.draws)
    print(f"jax {jax.__version__}, {args.draws} draws per SNR\n")
    print("| K | " + " | ".join(str(k) for k in SAMPLES) + " |")
    print("|---|" + "---|" * len(SAMPLES))
    for name, values in table.items():
        print(f"| {name} | " + " | ".join(f"{v:.3g}" for v in values) + " |")
    if args.output is not None:
        record = {"draws": args.draws, "samples": list(SAMPLES), **table}
        args.output.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
