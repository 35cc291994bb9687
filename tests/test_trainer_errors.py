"""VAETrainer's bad inputs: each raises an error that says what was expected and what came."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jaxtyping import Array, PRNGKeyArray, TypeCheckError

from elbox import VAETrainer, VAETrainingConfig
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

from .helpers import FEATURES, FRAMEWORKS, Framework, batch, make_trainer


class DictVAE(eqx.Module):
    """A model written for the reference library: it returns a mapping."""

    inner: eqx_models.MLPVAE
    keys: tuple[str, str, str] = eqx.field(static=True)

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> dict[str, Array]:
        recon, mean, logvar = self.inner(x, key=key)
        return dict(zip(self.keys, (recon, mean, logvar), strict=True))


class WrongOutputVAE(eqx.Module):
    inner: eqx_models.MLPVAE
    how: str = eqx.field(static=True)

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> Any:
        recon, mean, logvar = self.inner(x, key=key)
        if self.how == "pair":
            return recon, mean
        if self.how == "array":
            return recon
        if self.how == "short_latent":
            return recon, mean, logvar[:, :2]
        if self.how == "wrong_recon":
            return recon[:, :5], mean, logvar
        return {"recon": recon, "mu": mean}


def _inner() -> eqx_models.MLPVAE:
    return eqx_models.MLPVAE(FEATURES, hidden=16, latent=3, key=jax.random.key(0))


@pytest.mark.parametrize(
    "keys",
    [("reconstructed", "mean", "log_var"), ("reconstruction", "mean", "logvar")],
)
def test_mapping_outputs_of_reference_models_are_accepted(keys: tuple[str, str, str]) -> None:
    triple = make_trainer("equinox")
    mapped = VAETrainer(DictVAE(_inner(), keys), optax.adam(1e-2))
    a, _ = triple.compute_loss(batch(), step=0)
    b, _ = mapped.compute_loss(batch(), step=0)
    assert float(a) == float(b)
    mapped.train_step(batch())


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("pair", "the model returned a tuple of 2 items; expected a (recon_x, mean, logvar)"),
        ("array", "the model returned a single array of shape (8, 12); expected a (recon_x"),
        ("mapping", "the model returned a mapping with keys ['mu', 'recon']; expected"),
    ],
)
def test_wrong_kind_of_model_output(how: str, message: str) -> None:
    trainer = VAETrainer(WrongOutputVAE(_inner(), how), optax.adam(1e-2))
    with pytest.raises(TypeError) as error:
        trainer.train_step(batch())
    assert message in str(error.value)
    assert "'reconstructed' or 'reconstruction'" in str(error.value)


def test_mismatched_mean_and_logvar_shapes_name_both() -> None:
    trainer = VAETrainer(WrongOutputVAE(_inner(), "short_latent"), optax.adam(1e-2))
    with pytest.raises(TypeCheckError) as error:
        trainer.train_step(batch())
    assert "f32[8,3]" in str(error.value)
    assert "f32[8,2]" in str(error.value)


def test_mismatched_reconstruction_and_input_shapes_name_both() -> None:
    trainer = VAETrainer(WrongOutputVAE(_inner(), "wrong_recon"), optax.adam(1e-2))
    with pytest.raises(TypeCheckError) as error:
        trainer.train_step(batch())
    assert "f32[8,12]" in str(error.value)
    assert "f32[8,5]" in str(error.value)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_batch_mapping_without_image_or_data(framework: Framework) -> None:
    trainer = make_trainer(framework)
    with pytest.raises(KeyError, match=r"'image' or 'data'; this one has keys \['label', 'x'\]"):
        trainer.train_step({"x": batch(), "label": jnp.zeros(8)})


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ([[0.0] * FEATURES], TypeError, "a batch must be a JAX or NumPy array"),
        (np.zeros((8, FEATURES), np.uint8), TypeError, "batch data must be floating point"),
        (jnp.zeros(FEATURES), ValueError, r"shape \(batch, ...\); got shape \(12,\)"),
    ],
)
@pytest.mark.usefixtures("without_hook_checks")
def test_bad_batches(data: Any, error: type[Exception], message: str) -> None:
    trainer = make_trainer("equinox")
    with pytest.raises(error, match=message):
        trainer.train_step(data)
    assert trainer.step == 0


def test_train_steps_needs_a_leading_steps_axis() -> None:
    trainer = make_trainer("equinox")
    with pytest.raises(ValueError, match=r"\(steps, batch, ...\); got shape \(8, 12\)"):
        trainer.train_steps(batch())


def test_wrong_optimizer_for_nnx_model() -> None:
    model = nnx_models.MLPVAE(FEATURES, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match=r"a Flax NNX model is trained with an nnx\.Optimizer"):
        VAETrainer(model, optax.adam(1e-3))


def test_wrong_optimizer_for_equinox_model() -> None:
    nnx_model = nnx_models.MLPVAE(FEATURES, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(nnx_model, optax.adam(1e-3), wrt=nnx.Param)
    with pytest.raises(TypeError, match="an Equinox model is trained with an optax"):
        VAETrainer(_inner(), optimizer)


def test_unknown_model_type() -> None:
    with pytest.raises(
        TypeError, match=r"trains a Flax nnx\.Module or an Equinox eqx\.Module; got function"
    ):
        VAETrainer(lambda x: x, optax.adam(1e-3))


class NoKeyVAE(eqx.Module):
    inner: eqx_models.MLPVAE

    def __call__(self, x: Array) -> Any:
        return self.inner(x, key=jax.random.key(0))


def test_equinox_model_without_key_argument() -> None:
    with pytest.raises(TypeError, match=r"NoKeyVAE.__call__\(x: .*\) -> Any takes no `key`"):
        VAETrainer(NoKeyVAE(_inner()), optax.adam(1e-3))


@pytest.mark.usefixtures("without_hook_checks")
def test_bad_config_type() -> None:
    with pytest.raises(TypeError, match="config must be a VAETrainingConfig; got dict"):
        VAETrainer(_inner(), optax.adam(1e-3), {"beta": 4.0})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("step", "error", "message"),
    [
        (-1, ValueError, "step must be >= 0; got -1"),
        (1.5, TypeError, "step must be a Python or NumPy integer; got float"),
    ],
)
@pytest.mark.usefixtures("without_hook_checks")
def test_bad_step(step: Any, error: type[Exception], message: str) -> None:
    trainer = make_trainer("equinox")
    with pytest.raises(error, match=message):
        trainer.train_step(batch(), step=step)


def test_unknown_loss_type() -> None:
    trainer = make_trainer("nnx")
    with pytest.raises(ValueError, match="unknown loss_type 'l2'; expected one of 'mse'"):
        trainer.train_step(batch(), loss_type="l2")  # type: ignore[arg-type]  # deliberately bad
    assert trainer.step == 0


def test_train_step_inside_jit_is_refused() -> None:
    trainer = make_trainer("equinox")
    with pytest.raises(TypeError, match="use create_loss_fn"):
        jax.jit(lambda x: trainer.train_step(x)[0])(batch())


def test_config_defaults_when_none() -> None:
    trainer = make_trainer("equinox", None)
    assert trainer.config == VAETrainingConfig()
