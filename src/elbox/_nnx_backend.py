"""The Flax NNX backend: an `nnx.Module` trained in place with its `nnx.Optimizer`.

The model and optimizer are split once. Each step reads the arrays out of the user's own
`nnx.Variable` objects, runs the pure step under `jax.jit` (merging the graph inside the
trace, where NNX's Python graph walk costs nothing per call) and writes the new arrays back
into the same `Variable`s. The user's `model` and `optimizer` therefore always hold the
trained state, as with `nnx.jit`, without `nnx.jit`'s per-call graph traversal.
"""

import inspect
from typing import Any, final

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray

from ._backend import AbstractBackend
from ._batch import batch_data
from ._custom_types import Batch, LossFn, LossFnFactory, Metrics, StepLike
from ._elbo import ELBOObjective
from ._outputs import vae_outputs


def _is_variable(node: object) -> bool:
    return isinstance(node, nnx.Variable)


# Writing back is on the hot path: `set_raw_value`'s trace-level check costs about 2 us per
# Variable. We write only from the top level, outside any trace (`VAETrainer` refuses tracer
# batches), so the check can be skipped where this Flax release lets us.
_CAN_BYPASS_CHECK = (
    "_unsafe_bypass_check" in inspect.signature(nnx.Variable.set_raw_value).parameters
)


@final
class NNXBackend(AbstractBackend[nnx.Module]):
    """Trains an `nnx.Module` in place with the `nnx.Optimizer` made for it."""

    def __init__(self, model: nnx.Module, optimizer: nnx.Optimizer[Any]) -> None:
        self._model = model
        self._optimizer = optimizer
        self._model_graphdef, model_state = nnx.split(model)
        self._optimizer_graphdef, optimizer_state = nnx.split(optimizer)
        # nnx.split's State holds the user's own Variable objects: keep them, in leaf order.
        self._variables: list[nnx.Variable[Any]] = jax.tree.leaves(
            (model_state, optimizer_state), is_leaf=_is_variable
        )
        self.treedef = jax.tree.structure((model_state, optimizer_state))
        if self.treedef.num_leaves != len(self._variables):
            raise TypeError(
                "elbox supports NNX Variables that each hold one array; this model or "
                "optimizer has a Variable holding a pytree of arrays"
            )

    def read(self) -> list[Any]:
        return [variable.get_raw_value() for variable in self._variables]

    def write(self, leaves: list[Any]) -> None:
        if _CAN_BYPASS_CHECK:
            for variable, leaf in zip(self._variables, leaves, strict=True):
                variable.set_raw_value(leaf, _unsafe_bypass_check=True)
        else:  # pragma: no cover - older or newer Flax without the keyword
            for variable, leaf in zip(self._variables, leaves, strict=True):
                variable.set_raw_value(leaf)

    @property
    def model(self) -> nnx.Module:
        return self._model

    def loss_fn(
        self, objective: ELBOObjective, step: StepLike, key: PRNGKeyArray
    ) -> LossFn[nnx.Module]:
        # NNX models draw their reparameterisation noise from their own nnx.Rngs.
        del key

        def loss_fn(model: nnx.Module, batch: Batch) -> tuple[Float[Array, ""], Metrics]:
            x = jnp.asarray(batch_data(batch))
            recon_x, mean, logvar = vae_outputs(model(x))
            return objective(x, recon_x, mean, logvar, step)

        return loss_fn

    def _merge(self, params: Any, opt_state: Any) -> tuple[nnx.Module, nnx.Optimizer[Any]]:
        model = nnx.merge(self._model_graphdef, params)
        optimizer = nnx.merge(self._optimizer_graphdef, opt_state)
        return model, optimizer

    def update(
        self,
        params: Any,
        opt_state: Any,
        batch: Any,
        step: Any,
        make_loss_fn: LossFnFactory[nnx.Module],
    ) -> tuple[Any, Any, Float[Array, ""], Metrics]:
        model, optimizer = self._merge(params, opt_state)
        grad_fn = nnx.value_and_grad(
            make_loss_fn(step), argnums=nnx.DiffState(0, optimizer.wrt), has_aux=True
        )
        (loss, metrics), grads = grad_fn(model, batch)
        # optax mixes Python floats with integer counters (adam's `decay**count`), which
        # jax_numpy_dtype_promotion="strict" rejects; elbox's own code is strict-clean.
        with jax.numpy_dtype_promotion("standard"):
            optimizer.update(model, grads)
        return nnx.state(model), nnx.state(optimizer), loss, metrics

    def evaluate(
        self,
        params: Any,
        opt_state: Any,
        batch: Any,
        step: Any,
        make_loss_fn: LossFnFactory[nnx.Module],
    ) -> tuple[Float[Array, ""], Metrics]:
        model, _ = self._merge(params, opt_state)
        return make_loss_fn(step)(model, batch)
