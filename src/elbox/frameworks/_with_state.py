"""`WithState`: an Equinox model that keeps state, and its `eqx.nn.State`, as one model."""

import inspect
from collections.abc import Callable
from typing import Any, cast, final

import equinox as eqx
import jax
from jaxtyping import Array, PRNGKeyArray

CONVENTION = (
    "a stateful Equinox VAE is called model(x, state, *, key) -> ((recon_x, mean, logvar), "
    "state), with encode(x, state) -> ((mean, logvar), state) and decode(z, state) -> "
    "(output, state)"
)


@final
class _Recorder:
    """The newest state of a `WithState` run inside a training step (None until it runs)."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: eqx.nn.State | None = None


@final
class WithState(eqx.Module):
    """An Equinox model with state (`eqx.nn.BatchNorm`, `eqx.nn.SpectralNorm`, anything
    with an `eqx.nn.StateIndex`) and that state, as one model elbox trains.

    Equinox keeps such state outside the model, in the `eqx.nn.State` that
    `eqx.nn.make_with_state` returns beside it. Pass the pair to elbox as
    `WithState(model, state)`, wherever a model goes (`TrainStep.init`, `VAETrainer`,
    `LossFnTrainer`, `load_checkpoint`). The wrapped model follows this convention:

    - `model(x, state, *, key) -> ((recon_x, mean, logvar), state)`;
    - `model.encode(x, state) -> ((mean, logvar), state)` and
      `model.decode(z, state) -> (output, state)`, for the metrics, the plots and the
      objectives that run the model in parts (beta-TC).

    The wrapper itself is called like a stateless Equinox VAE, `wrapper(x, key=key) ->
    (recon_x, mean, logvar)` (and `encode(x)`, `decode(z)`), so objectives and loss
    functions run it unchanged. Inside a training step the state it returns is kept: a
    second call in the same step sees it, and the step stores the last one in
    `TrainState.model_state`, beside the parameters; a skipped step keeps the old state,
    and checkpoints save and restore it with the rest of the `TrainState`. Anywhere else
    the wrapper is a value: it runs on its own `state` and drops the state the model
    returns. Evaluation (`TrainStep.evaluate`, the trainers' `evaluate`, the metrics,
    `elbox eval` and the plots) runs it in inference mode (`eqx.nn.inference_mode`), with
    the running statistics.

    Attributes:
        model: the stateful Equinox model.
        state: its state (running statistics and the like).

    Example:
        >>> import equinox as eqx, jax, jax.numpy as jnp, optax
        >>> from elbox import ELBOObjective, ConstantSchedule, TrainStep, WithState
        >>> from elbox.models.equinox import BatchNormMLPVAE
        >>> model, state = eqx.nn.make_with_state(BatchNormMLPVAE)(
        ...     8, hidden=16, latent=2, key=jax.random.key(0)
        ... )
        >>> objective = ELBOObjective(ConstantSchedule(1.0))
        >>> train_step = TrainStep(objective, optax.adam(1e-2))
        >>> wrapped = WithState(model, state)
        >>> train_state = train_step.init(wrapped, key=jax.random.key(1))
        >>> x = jax.random.uniform(jax.random.key(2), (16, 8))
        >>> train_state, metrics = jax.jit(train_step)(train_state, x)
        >>> trained = train_state.model  # a WithState with the new running statistics
        >>> [a.shape for a in trained(x, key=jax.random.key(3))]
        [(16, 8), (16, 2), (16, 2)]
    """

    model: eqx.Module
    state: eqx.nn.State

    def __init__(self, model: eqx.Module, state: eqx.nn.State) -> None:
        if not isinstance(model, eqx.Module):
            raise TypeError(f"WithState wraps an Equinox model; got {type(model).__name__}")
        if not isinstance(state, eqx.nn.State):
            raise TypeError(
                "WithState(model, state) takes the eqx.nn.State that "
                f"eqx.nn.make_with_state(...) returns beside the model; got {type(state).__name__}"
            )
        _check_signature(model)
        self.model = model
        self.state = state

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> Any:
        """The wrapped model's outputs on `x`, its noise drawn from `key`."""
        run = cast(Callable[..., object], self.model)
        return self._kept(run(x, self._current(), key=key), "model(x, state, *, key)")

    def encode(self, x: Array) -> Any:
        """The wrapped model's `encode(x, state)`, without the state: `(mean, logvar)`."""
        return self._kept(self._method("encode")(x, self._current()), "encode(x, state)")

    def decode(self, z: Array) -> Any:
        """The wrapped model's `decode(z, state)`, without the state: the decoder's output."""
        return self._kept(self._method("decode")(z, self._current()), "decode(z, state)")

    def _method(self, name: str) -> Callable[..., object]:
        method: object = getattr(self.model, name, None)
        if not callable(method):
            raise TypeError(f"{type(self.model).__name__} has no {name} method; {CONVENTION}")
        return cast(Callable[..., object], method)

    def _current(self) -> eqx.nn.State:
        """The state to run on: the newest recorded in this step, or a copy of `state`
        (a stateful layer invalidates the `State` object it is given, never ours)."""
        recorder = _recorder_of(self)
        if recorder is not None and recorder.state is not None:
            return recorder.state
        copy: eqx.nn.State = jax.tree.map(lambda leaf: leaf, self.state)
        return copy

    def _kept(self, result: object, call: str) -> Any:
        if not (
            isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], eqx.nn.State)
        ):
            raise TypeError(
                f"{type(self.model).__name__}.{call} must return (outputs, state) with an "
                f"eqx.nn.State; got {type(result).__name__} ({CONVENTION})"
            )
        outputs, state = result
        recorder = _recorder_of(self)
        if recorder is not None:
            recorder.state = state
        return outputs


def _recorder_of(model: WithState) -> _Recorder | None:
    recorder = model.__dict__.get("_recorder")
    return recorder if isinstance(recorder, _Recorder) else None


def recording(model: WithState) -> Callable[[], eqx.nn.State]:
    """Make `model` keep the state it returns (for a training step, within one trace); a
    function that gives its newest state (its own `state` until it has run).

    The recorder is an attribute outside the model's fields: it is not part of the pytree,
    so a copy of the model (any `jax.tree` operation, a compiled function's argument) is
    a plain value again, and no traced state can outlive the step that made it.
    """
    recorder = _Recorder()
    object.__setattr__(model, "_recorder", recorder)

    def newest() -> eqx.nn.State:
        return model.state if recorder.state is None else recorder.state

    return newest


def _check_signature(model: eqx.Module) -> None:
    """Refuse a wrapped model whose `__call__` takes no state or no key."""
    if not callable(model):
        raise TypeError(f"{type(model).__name__} is not callable; {CONVENTION}")
    call = type(model).__call__
    try:
        parameters = list(inspect.signature(call).parameters.values())[1:]  # without self
    except (TypeError, ValueError):  # no inspectable signature: trust the model
        return
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    takes_key = any(p.name == "key" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    if not (len(positional) >= 2 or variadic) or not takes_key:
        raise TypeError(
            f"{type(model).__name__}.__call__{inspect.signature(call)} does not take "
            f"(x, state, *, key); {CONVENTION}"
        )
