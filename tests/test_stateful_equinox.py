"""Stateful Equinox models (`WithState`, BatchNorm): trained through the core, their state
kept in the TrainState, kept on a skipped step, and used in inference mode for evaluation."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from elbox import (
    ConstantSchedule,
    ELBOObjective,
    TrainState,
    TrainStep,
    VAETrainer,
    WithState,
    elbo_terms,
)
from elbox.metrics import posterior_parameters
from elbox.models.equinox import BatchNormMLPVAE
from elbox.objectives._objective import step_key

from .helpers import FEATURES, HIDDEN, LATENT, patterns

OBJECTIVE = ELBOObjective(schedule=ConstantSchedule(1.0), loss_type="bce_logits")

Step = Callable[[TrainState, jax.Array], tuple[TrainState, dict[str, jax.Array]]]


def bn_model(seed: int = 0) -> WithState:
    """The BatchNorm reference VAE with its state, as elbox trains it."""
    model, state = eqx.nn.make_with_state(BatchNormMLPVAE)(
        FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(seed)
    )
    return WithState(model, state)


def _leaves(tree: Any) -> list[np.ndarray[Any, Any]]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def _assert_equal(a: Any, b: Any) -> None:
    left, right = _leaves(a), _leaves(b)
    assert len(left) == len(right) > 0
    for x, y in zip(left, right, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def trained() -> tuple[TrainStep, Step, TrainState, TrainState]:
    """The step (with an average of the weights), its compiled form, the initial state
    and the state after 3 steps."""
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2), ema_decay=0.9)
    initial = train_step.init(bn_model(), key=jax.random.key(1))
    step = jax.jit(train_step)
    state = initial
    for seed in range(3):
        state, _ = step(state, patterns(16) * 0.8 + 0.1 * seed)
    return train_step, step, initial, state


def test_running_statistics_change_during_training(
    trained: tuple[TrainStep, Step, TrainState, TrainState],
) -> None:
    _, _, initial, state = trained
    assert isinstance(state.model, WithState)
    before = _leaves(initial.model_state)
    after = _leaves(state.model_state)
    # Two BatchNorms, each with a step counter and its (mean, var) running statistics.
    counters = [a for a in after if a.dtype == np.int32]
    assert [int(c) for c in counters] == [3, 3]
    moved = [
        float(np.abs(a - b).max())
        for a, b in zip(after, before, strict=True)
        if a.dtype.kind == "f"
    ]
    assert len(moved) == 4
    assert min(moved) > 1e-4
    # The statistics are not trained: the optimizer's state has no slot for them.
    assert len(jax.tree.leaves(state.params)) == 14  # 5 Linear and 2 BatchNorm affines


def test_a_skipped_step_keeps_the_state_bit_for_bit(
    trained: tuple[TrainStep, Step, TrainState, TrainState],
) -> None:
    _, step, _, state = trained
    bad = patterns(16).at[3, 2].set(jnp.nan)
    after, metrics = step(state, bad)
    assert float(metrics["skipped"]) == 1.0
    assert int(after.skipped) == 1
    assert int(after.step) == int(state.step) + 1
    _assert_equal(after.model_state, state.model_state)
    _assert_equal(after.params, state.params)
    _assert_equal(after.opt_state, state.opt_state)
    _assert_equal(after.ema_params, state.ema_params)


def test_evaluation_runs_in_inference_mode_on_the_running_statistics(
    trained: tuple[TrainStep, Step, TrainState, TrainState],
) -> None:
    train_step, _, _, state = trained
    x = patterns(8) * 0.5 + 0.25
    loss, metrics = train_step.evaluate(state, x)
    # By hand: the model in inference mode, on the state's running statistics.
    wrapped = state.model
    inference = eqx.nn.inference_mode(wrapped.model)
    key = step_key(state.key, state.step)
    (recon, mean, logvar), _ = inference(x, wrapped.state, key=key)
    expected, _ = elbo_terms(x, recon, mean, logvar, kl_weight=1.0, loss_type="bce_logits")
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    # In training mode (batch statistics) the loss differs.
    (train_recon, train_mean, train_logvar), _ = wrapped.model(x, wrapped.state, key=key)
    training, _ = elbo_terms(
        x, train_recon, train_mean, train_logvar, kl_weight=1.0, loss_type="bce_logits"
    )
    assert abs(float(training) - float(expected)) > 1e-3
    assert float(metrics["loss"]) == pytest.approx(float(expected), rel=1e-6)
    # The metrics too: each example's code depends on that example alone.
    means, _ = posterior_parameters(state.model, x)
    first, _ = posterior_parameters(state.model, x[:1])
    np.testing.assert_allclose(np.asarray(means), np.asarray(mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(first[0]), np.asarray(means[0]), rtol=1e-5, atol=1e-6)
    # With the average of the weights: the same model on other parameters.
    ema_loss, _ = train_step.evaluate(state, x, weights="ema")
    assert float(ema_loss) != float(loss)


def test_vmap_over_two_seeds_equals_two_runs() -> None:
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2))
    states = [train_step.init(bn_model(seed), key=jax.random.key(seed)) for seed in (0, 1)]
    x = patterns(16)
    step = jax.jit(train_step)
    alone = [step(state, x)[0] for state in states]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    together, _ = jax.jit(jax.vmap(train_step, in_axes=(0, None)))(stacked, x)
    for index, state in enumerate(alone):
        one = jax.tree.map(lambda leaf, i=index: leaf[i], together)
        for got, want in zip(_leaves(one.model_state), _leaves(state.model_state), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_vae_trainer_trains_and_evaluates_a_stateful_model() -> None:
    vae = VAETrainer(bn_model(), optax.adam(1e-2), ema_decay=0.5)
    x = patterns(16)
    first = float(vae.evaluate(x, loss_type="bce_logits")["neg_elbo"])
    for _ in range(2):
        vae.train_step(x, loss_type="bce_logits")
    vae.train_steps(np.stack([x, x, x]), loss_type="bce_logits")  # fused: the same steps
    assert isinstance(vae.model, WithState)
    assert [int(c) for c in jax.tree.leaves(vae.state.model_state) if c.dtype == jnp.int32] == [
        5,
        5,
    ]
    last = float(vae.evaluate(x, loss_type="bce_logits")["neg_elbo"])
    assert last < first
    assert isinstance(vae.ema_model, WithState)
    assert float(vae.evaluate(x, loss_type="bce_logits", weights="ema")["neg_elbo"]) < first


@pytest.mark.usefixtures("without_hook_checks")
def test_a_stateful_model_without_its_state_is_refused() -> None:
    model, state = eqx.nn.make_with_state(BatchNormMLPVAE)(
        FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0)
    )
    with pytest.raises(TypeError, match=r"pass it with its state: .*elbox\.WithState"):
        TrainStep(OBJECTIVE, optax.adam(1e-2)).init(model, key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"takes the eqx\.nn\.State that eqx\.nn\.make_with_state"):
        WithState(model, {"mean": jnp.zeros(3)})  # type: ignore[arg-type]  # deliberately bad

    class Stateless(eqx.Module):
        def __call__(self, x: jax.Array, *, key: jax.Array) -> jax.Array:
            return x

    with pytest.raises(TypeError, match=r"does not take \(x, state, \*, key\)"):
        WithState(Stateless(), state)
