"""Mixed precision: what each policy computes in and keeps in, dynamic loss scaling under
float16, and training under bfloat16 against float32."""

from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from elbox import (
    ConstantSchedule,
    ELBOObjective,
    PrecisionPolicy,
    TrainState,
    TrainStep,
    VAETrainer,
    VAETrainingConfig,
)
from elbox.models.equinox import MLPVAE

from .helpers import (
    FEATURES,
    FRAMEWORKS,
    HIDDEN,
    LATENT,
    Framework,
    make_model_and_optimizer,
    patterns,
)

OBJECTIVE = ELBOObjective(schedule=ConstantSchedule(1.0), loss_type="bce_logits")


def _model() -> MLPVAE:
    return MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0))


def _equations(jaxpr: Any) -> Iterator[Any]:
    """Every equation of `jaxpr`, those of the jaxprs inside it included."""
    for equation in jaxpr.eqns:
        yield equation
        for value in equation.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                yield from _equations(inner)


def _matmul_dtypes(train_step: TrainStep, state: TrainState, x: jax.Array) -> set[str]:
    """The dtypes of the operands of every matrix product of one step (forward and back)."""
    closed = jax.make_jaxpr(train_step)(state, x)
    return {
        str(var.aval.dtype)
        for equation in _equations(closed.jaxpr)
        if equation.primitive.name == "dot_general"
        for var in equation.invars
    }


def _float_dtypes(tree: Any) -> set[str]:
    return {
        str(leaf.dtype)
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    }


def _leaves(tree: Any) -> list[np.ndarray[Any, Any]]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_bfloat16_computes_in_bfloat16_and_keeps_float32() -> None:
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2), precision="bfloat16")
    state = train_step.init(_model(), key=jax.random.key(1))
    x = patterns(8)
    assert _matmul_dtypes(train_step, state, x) == {"bfloat16"}  # activations, both ways
    state, metrics = jax.jit(train_step)(state, x)
    assert _float_dtypes(state.params) == {"float32"}
    assert _float_dtypes(state.opt_state) == {"float32"}
    assert {str(metrics[name].dtype) for name in ("loss", "recon_loss", "kl_loss")} == {"float32"}
    assert state.loss_scale is None
    plain = TrainStep(OBJECTIVE, optax.adam(1e-2))
    assert _matmul_dtypes(plain, plain.init(_model(), key=jax.random.key(1)), x) == {"float32"}


def test_float16_scales_the_loss_and_grows_the_scale() -> None:
    policy = PrecisionPolicy("float16", initial_loss_scale=2.0**8, growth_interval=2)
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2), precision=policy)
    state = train_step.init(_model(), key=jax.random.key(1))
    assert _matmul_dtypes(train_step, state, patterns(8)) == {"float16"}
    step = jax.jit(train_step)
    scales = []
    for _ in range(3):
        state, metrics = step(state, patterns(8))
        assert float(metrics["skipped"]) == 0.0
        scales.append(float(metrics["loss_scale"]))
    assert scales == [256.0, 256.0, 512.0]  # doubled after 2 finite steps
    assert state.loss_scale is not None
    assert float(state.loss_scale.scale) == 512.0
    assert _float_dtypes(state.params) == _float_dtypes(state.opt_state) == {"float32"}


def test_a_forced_float16_overflow_skips_the_step_and_lowers_the_scale() -> None:
    # 2**40 times the loss's gradient overflows float16 (largest 65504) on the way back.
    policy = PrecisionPolicy("float16", initial_loss_scale=2.0**40)
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2), precision=policy)
    state = train_step.init(_model(), key=jax.random.key(1))
    after, metrics = jax.jit(train_step)(state, patterns(8))
    assert float(metrics["skipped"]) == 1.0
    assert np.isfinite(float(metrics["loss"]))  # the loss was finite; a gradient was not
    assert int(after.skipped) == 1
    assert after.loss_scale is not None
    assert float(after.loss_scale.scale) == 2.0**39
    for part in ("params", "opt_state"):
        for got, want in zip(
            _leaves(getattr(after, part)), _leaves(getattr(state, part)), strict=True
        ):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bfloat16_lowers_the_loss_like_float32(framework: Framework) -> None:
    # The stated tolerance: over 300 steps on the same data, the mean training loss of the
    # last 100 under bfloat16 is within 10% of float32's, and both are below a third of
    # the mean of the first 10 (two float32 seeds differ by about 2%).
    x = np.asarray(patterns(32), np.float32)
    stacked = np.stack([x] * 300)
    config = VAETrainingConfig(kl_annealing="none")  # KL weight 1: the negative ELBO
    means = {}
    for precision in ("float32", "bfloat16"):
        model, optimizer = make_model_and_optimizer(framework)
        vae = VAETrainer(model, optimizer, config, precision=precision, key=jax.random.key(3))
        losses, _ = vae.train_steps(stacked, loss_type="bce_logits")
        curve = np.asarray(losses)
        means[precision] = (float(curve[:10].mean()), float(curve[-100:].mean()))
    for first, last in means.values():
        assert last < first / 3
    assert means["bfloat16"][1] == pytest.approx(means["float32"][1], rel=0.10)


@pytest.mark.usefixtures("without_hook_checks")
def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match=r"precision='float16' .* needs nonfinite='skip'"):
        TrainStep(OBJECTIVE, optax.adam(1e-2), precision="float16", nonfinite="raise")
    with pytest.raises(ValueError, match="precision must be 'float32', 'bfloat16', 'float16'"):
        TrainStep(OBJECTIVE, optax.adam(1e-2), precision="int8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="initial_loss_scale must be a finite number >= 1"):
        PrecisionPolicy("float16", initial_loss_scale=0.5)
