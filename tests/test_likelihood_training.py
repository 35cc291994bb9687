"""Likelihoods in training: a learned variance converges to the residual variance, learned
scales are parameters of the model (trained, checkpointed, vmapped over seeds) in both
frameworks, and a dynamic binarisation feeds the model binary data."""

from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats  # type: ignore[import-untyped]  # SciPy ships no type hints
from flax import nnx
from jax.extend.random import threefry_2x32
from jaxtyping import Array, PRNGKeyArray

from elbox import (
    BernoulliLikelihood,
    ConstantSchedule,
    ELBOObjective,
    GaussianLikelihood,
    TrainStep,
    VAETrainer,
    VAETrainingConfig,
)
from elbox.likelihoods._binarisation import dynamically_binarised, fixed_binarised
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models
from elbox.training import CheckpointStore

from .helpers import Framework

FEATURES = 8
CONFIG = VAETrainingConfig(kl_annealing="none", beta=1.0, free_bits=0.0)


def _model(framework: Framework, likelihood: Any, seed: int = 0) -> tuple[Any, Any]:
    outputs = likelihood.decoder_outputs
    if framework == "nnx":
        model = nnx_models.MLPVAE(
            FEATURES, hidden=16, latent=2, decoder_outputs=outputs, rngs=nnx.Rngs(seed)
        )
        return model, nnx.Optimizer(model, optax.adam(2e-2), wrt=nnx.Param)
    eqx_model = eqx_models.MLPVAE(
        FEATURES, hidden=16, latent=2, decoder_outputs=outputs, key=jax.random.key(seed)
    )
    return eqx_model, optax.adam(2e-2)


def _log_scale(model: Any) -> np.ndarray[Any, Any]:
    learned: Any = model.log_scale
    return np.asarray(learned[...] if isinstance(model, nnx.Module) else learned, np.float64)


@pytest.mark.parametrize(("framework", "variance"), [("nnx", "global"), ("equinox", "per_feature")])
def test_a_learned_variance_converges_to_the_residual_variance(
    framework: Framework, variance: Any
) -> None:
    # Noise around a fixed mean: nothing for the latent code to explain, so the decoder's
    # mean is the data's and the learned variance the data's residual variance.
    rng = np.random.default_rng(0)
    spread = np.linspace(0.1, 0.4, FEATURES) if variance == "per_feature" else np.full(8, 0.25)
    data = (0.5 + spread * rng.normal(size=(512, FEATURES))).astype(np.float32)
    likelihood = GaussianLikelihood(variance=variance)
    model, optimizer = _model(framework, likelihood)
    trainer = VAETrainer(model, optimizer, CONFIG)
    batches = jnp.asarray(np.stack([data] * 100))
    for _ in range(3):
        trainer.train_steps(batches, loss_type=likelihood)
    model = trainer.model
    mean, _ = model.encode(jnp.asarray(data))
    residuals = data - np.asarray(likelihood.mean(model.decode(mean)))
    learned = np.exp(2 * _log_scale(model))
    if variance == "global":
        # The stationary point of the global log-sigma: the mean squared residual.
        assert float(learned) == pytest.approx(float(np.mean(residuals**2)), rel=0.05)
        assert float(learned) == pytest.approx(0.25**2, rel=0.1)
    else:
        np.testing.assert_allclose(learned, np.mean(residuals**2, axis=0), rtol=0.05)
        np.testing.assert_allclose(learned, spread**2, rtol=0.15)


@pytest.mark.parametrize("framework", ["nnx", "equinox"])
def test_a_learned_scale_is_checkpointed_and_restored(framework: Framework, tmp_path: Path) -> None:
    likelihood = GaussianLikelihood(variance="global")
    trainer = VAETrainer(*_model(framework, likelihood), CONFIG)
    x = jax.random.uniform(jax.random.key(1), (16, FEATURES))
    for _ in range(3):
        trainer.train_step(x, loss_type=likelihood)
    learned = _log_scale(trainer.model)
    assert float(learned) != 0.0  # trained away from its initial 0
    with CheckpointStore(tmp_path) as store:
        store.save(3, trainer.state, metadata={})
    fresh = VAETrainer(*_model(framework, likelihood, seed=5), CONFIG)
    assert float(_log_scale(fresh.model)) == 0.0
    with CheckpointStore(tmp_path) as store:
        restored, _, _ = store.restore(fresh.state)
    fresh.load_state(restored)
    assert float(_log_scale(fresh.model)) == float(learned)
    assert float(fresh.evaluate(x, loss_type=likelihood)["neg_elbo"]) == pytest.approx(
        float(trainer.evaluate(x, loss_type=likelihood)["neg_elbo"]), rel=1e-6
    )


def test_learned_scales_train_under_vmap_over_seeds() -> None:
    likelihood = GaussianLikelihood(variance="per_feature")
    trainers = [VAETrainer(*_model("equinox", likelihood, seed), CONFIG) for seed in (0, 1)]
    step = trainers[0].as_train_step(likelihood)
    states = [trainer.state for trainer in trainers]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    x = jax.random.uniform(jax.random.key(2), (16, FEATURES))
    run = jax.jit(jax.vmap(step))
    for _ in range(3):
        stacked, _ = run(stacked, jnp.stack([x, x]))
    for index, trainer in enumerate(trainers):
        for _ in range(3):
            trainer.train_step(x, loss_type=likelihood)
        params: Any = trainer.state.params
        alone = np.asarray(params.log_scale)
        np.testing.assert_allclose(
            np.asarray(stacked.params.log_scale[index]), alone, rtol=1e-5, atol=1e-6
        )
    assert not np.allclose(stacked.params.log_scale[0], stacked.params.log_scale[1])


# -- binarisation ------------------------------------------------------------------------------


def test_a_dynamic_binarisation_draws_each_value_with_its_probability() -> None:
    x = jax.random.uniform(jax.random.key(0), (1, 16))
    draws = jax.vmap(lambda k: dynamically_binarised(x, k))(
        jax.random.split(jax.random.key(1), 4000)
    )
    assert set(np.unique(np.asarray(draws))) == {0.0, 1.0}
    # Each value is 1 as often as it is large: within 4 standard errors.
    frequency = np.asarray(draws.mean(axis=0))
    error = np.sqrt(np.asarray(x * (1 - x)) / 4000)
    assert np.all(np.abs(frequency - np.asarray(x)) < 4 * error + 1e-3)


def test_the_dynamic_draw_is_uniform_at_float32_resolution_from_both_words_of_each_hash() -> None:
    key = jax.random.key(5)
    x = jax.random.uniform(jax.random.key(6), (40, 25))  # 1,000 values: 500 hashes
    keypair = jax.random.bits(key, (2,), jnp.uint32)
    words = np.asarray(threefry_2x32(keypair, jnp.arange(1000, dtype=jnp.uint32)))
    # The draw is 1 exactly where the word's top 23 bits, as a fraction, are below the value.
    uniform = (words >> 9).astype(np.float64) / 2.0**23
    expected = (uniform < np.asarray(x, dtype=np.float64).ravel()).reshape(40, 25)
    np.testing.assert_array_equal(np.asarray(dynamically_binarised(x, key)), expected)
    # Both halves of the counters are used, and their words look independent and uniform.
    result = scipy.stats.kstest(uniform, "uniform")
    assert result.pvalue > 1e-3
    assert abs(np.corrcoef(uniform[:500], uniform[500:])[0, 1]) < 4 / np.sqrt(500)
    # The extremes: 0 is never drawn as 1, 1 always is; any key implementation works.
    edges = jnp.array([[0.0, 1.0, 0.0, 1.0]])
    for any_key in (key, jax.random.key(7, impl="rbg")):
        np.testing.assert_array_equal(
            np.asarray(dynamically_binarised(edges, any_key)), [[0.0, 1.0, 0.0, 1.0]]
        )


def test_the_fixed_binarisation_is_one_draw_per_example_whatever_the_batch() -> None:
    x = jax.random.uniform(jax.random.key(3), (2000, 6))
    binary = np.asarray(fixed_binarised(x))
    assert set(np.unique(binary)) == {0.0, 1.0}
    order = np.random.default_rng(0).permutation(2000)
    np.testing.assert_array_equal(np.asarray(fixed_binarised(x[order])), binary[order])
    np.testing.assert_array_equal(np.asarray(fixed_binarised(x[:7])), binary[:7])
    # Over the examples, a value is 1 with the probability that it is.
    difference = binary - np.asarray(x)
    assert abs(float(difference.mean())) < 4 * float(difference.std()) / np.sqrt(difference.size)


class EchoVAE(eqx.Module):
    """A VAE whose reconstruction is a sharp logit of its own input: near 0 loss for
    binary data, `log 2` per value for data at 1/2."""

    weight: Array

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> tuple[Array, Array, Array]:
        logits = 20.0 * (x - 0.5) + 0.0 * self.weight
        zeros = jnp.zeros((x.shape[0], 1))
        return logits, zeros, zeros


def test_the_model_and_the_likelihood_see_the_binarised_data() -> None:
    grey = jnp.full((4, 10), 0.5)
    dynamic = BernoulliLikelihood(binarisation="dynamic")
    trainer = VAETrainer(EchoVAE(jnp.zeros(())), optax.sgd(0.0), CONFIG)
    _, metrics = trainer.train_step(grey, loss_type=dynamic)
    assert float(metrics["recon_loss"]) < 1e-2  # binary data, echoed sharply
    evaluated = trainer.evaluate(grey, loss_type=dynamic)  # the fixed binarisation
    assert float(evaluated["recon_loss"]) < 1e-2
    assert trainer.evaluate(grey, loss_type=dynamic) == evaluated  # the same draw each time
    _, unbinarised = trainer.train_step(grey, loss_type=BernoulliLikelihood())
    assert float(unbinarised["recon_loss"]) == pytest.approx(10 * np.log(2.0), rel=1e-5)


class ConstantVAE(eqx.Module):
    """A VAE whose reconstruction is the logit 2 everywhere: its Bernoulli loss counts the
    ones of the data it is given, `softplus(2) - 2 x` per value."""

    weight: Array

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> tuple[Array, Array, Array]:
        zeros = jnp.zeros((x.shape[0], 1))
        return jnp.full(x.shape, 2.0) + 0.0 * self.weight, zeros, zeros


def test_each_step_draws_a_new_binarisation() -> None:
    objective = ELBOObjective(
        schedule=ConstantSchedule(1.0), loss_type=BernoulliLikelihood(binarisation="dynamic")
    )
    step = jax.jit(TrainStep(objective, optax.sgd(0.0)))
    state = TrainStep(objective, optax.sgd(0.0)).init(
        ConstantVAE(jnp.zeros(())), key=jax.random.key(0)
    )
    x = jnp.full((1, 64), 0.5)
    ones = []
    for _ in range(4):
        state, metrics = step(state, x)
        count = (64 * float(jax.nn.softplus(2.0)) - float(metrics["recon_loss"])) / 2
        assert count == pytest.approx(round(count), abs=1e-3)  # binary data: whole ones
        ones.append(round(count))
    assert len(set(ones)) > 1  # a new draw at each step
    assert all(16 <= count <= 48 for count in ones)  # about half of 64
