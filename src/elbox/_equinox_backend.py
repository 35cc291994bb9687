"""The Equinox backend: an `eqx.Module` model trained with an optax optimizer."""

import inspect
from collections.abc import Callable
from typing import Any, cast, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ._backend import AbstractBackend
from ._batch import batch_data
from ._custom_types import Batch, LossFn, LossFnFactory, Metrics, StepLike
from ._elbo import ELBOObjective
from ._outputs import vae_outputs


def noise_key(key: PRNGKeyArray, step: StepLike) -> PRNGKeyArray:
    """The reparameterisation key of `step`: `key` with the step folded in."""
    return jax.random.fold_in(key, step)


def _check_takes_key(model: eqx.Module) -> None:
    call = cast(Callable[..., Any], model)
    try:
        parameters = inspect.signature(call).parameters
    except (TypeError, ValueError):  # a callable without an inspectable signature
        return
    takes_key = "key" in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )
    if not takes_key:
        raise TypeError(
            f"{type(model).__name__}.__call__{inspect.signature(call)} takes no `key`; an "
            "Equinox VAE is called as model(x, *, key) and returns (recon_x, mean, logvar)"
        )


@final
class EquinoxBackend(AbstractBackend[eqx.Module]):
    """Trains an `eqx.Module` with an `optax.GradientTransformation`.

    The trainable parameters are the model's floating-point arrays; everything else stays
    fixed. The model is called as `model(x, key=key)`, with a fresh key for each step.
    """

    def __init__(self, model: eqx.Module, optimizer: optax.GradientTransformation) -> None:
        _check_takes_key(model)
        params, self._static = eqx.partition(model, eqx.is_inexact_array)
        opt_state = optimizer.init(params)
        self._optimizer = optimizer
        self._leaves, self.treedef = jax.tree.flatten((params, opt_state))

    def read(self) -> list[Any]:
        return self._leaves

    def write(self, leaves: list[Any]) -> None:
        self._leaves = leaves

    @property
    def model(self) -> eqx.Module:
        params, _ = jax.tree.unflatten(self.treedef, self._leaves)
        model: eqx.Module = eqx.combine(params, self._static)
        return model

    def loss_fn(
        self, objective: ELBOObjective, step: StepLike, key: PRNGKeyArray
    ) -> LossFn[eqx.Module]:
        step_key = noise_key(key, step)

        def loss_fn(model: eqx.Module, batch: Batch) -> tuple[Float[Array, ""], Metrics]:
            x = jnp.asarray(batch_data(batch))
            recon_x, mean, logvar = vae_outputs(model(x, key=step_key))  # type: ignore[operator]  # eqx.Module declares no __call__; _check_takes_key checked it
            return objective(x, recon_x, mean, logvar, step)

        return loss_fn

    def update(
        self,
        params: Any,
        opt_state: Any,
        batch: Any,
        step: Any,
        make_loss_fn: LossFnFactory[eqx.Module],
    ) -> tuple[Any, Any, Float[Array, ""], Metrics]:
        model = eqx.combine(params, self._static)
        grad_fn = eqx.filter_value_and_grad(make_loss_fn(step), has_aux=True)
        (loss, metrics), grads = grad_fn(model, batch)
        # optax mixes Python floats with integer counters (adam's `decay**count`), which
        # jax_numpy_dtype_promotion="strict" rejects; elbox's own code is strict-clean.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = self._optimizer.update(grads, opt_state, params)
        params = eqx.apply_updates(params, updates)
        return params, opt_state, loss, metrics

    def evaluate(
        self,
        params: Any,
        opt_state: Any,
        batch: Any,
        step: Any,
        make_loss_fn: LossFnFactory[eqx.Module],
    ) -> tuple[Float[Array, ""], Metrics]:
        return make_loss_fn(step)(eqx.combine(params, self._static), batch)
