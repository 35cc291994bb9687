"""Choosing the objective by name: `objective_from_name`, `VAETrainer(objective=...)`, `Trainer`."""

import re
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from elbox import (
    BetaTCObjective,
    CapacityObjective,
    ConstantSchedule,
    ELBOObjective,
    VAETrainingConfig,
    objective_from_name,
)
from elbox.data import batches
from elbox.training import Trainer

from .helpers import Framework, make_trainer, patterns


def test_names_build_their_objectives_with_the_given_options() -> None:
    schedule = ConstantSchedule(4.0)
    elbo = objective_from_name("elbo", schedule=schedule, free_bits=0.5, loss_type="bce")
    assert isinstance(elbo, ELBOObjective)
    assert (elbo.schedule, elbo.free_bits, elbo.loss_type) == (schedule, 0.5, "bce")
    capacity = objective_from_name("capacity", c_max=5.0, gamma=100.0, report_neg_elbo=True)
    assert isinstance(capacity, CapacityObjective)
    assert (capacity.c_max, capacity.capacity_steps, capacity.gamma) == (5.0, 100_000, 100.0)
    assert capacity.report_neg_elbo
    beta_tc = objective_from_name("beta-tc", schedule=schedule, dataset_size=737)
    assert isinstance(beta_tc, BetaTCObjective)
    assert (beta_tc.schedule, beta_tc.dataset_size) == (schedule, 737)


def test_defaults_are_disentanglement_libs() -> None:
    capacity = objective_from_name("capacity")
    assert isinstance(capacity, CapacityObjective)
    assert (capacity.c_max, capacity.capacity_steps, capacity.gamma) == (25.0, 100_000, 1000.0)
    beta_tc = objective_from_name("beta-tc")  # weight 1: the plain ELBO
    assert isinstance(beta_tc, BetaTCObjective)
    assert float(jnp.asarray(beta_tc.schedule(0))) == 1.0
    assert beta_tc.dataset_size is None


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("elbo", {"c_max": 5.0}, "'c_max' is an option of the 'capacity' objective, not of 'elbo'"),
        (
            "capacity",
            {"dataset_size": 10},
            "'dataset_size' is an option of the 'beta-tc' objective, not of 'capacity' (whose "
            "options are: 'c_max', 'capacity_steps', 'gamma')",
        ),
        ("beta-tc", {"gamma": 3.0}, "'gamma' is an option of the 'capacity' objective"),
        ("capacity", {"c_max": -1.0}, "CapacityObjective.c_max must be a finite number >= 0"),
        ("capacity", {"gamma": -2.0}, "CapacityObjective.gamma must be a finite number >= 0"),
        ("capacity", {"capacity_steps": 0}, "CapacityObjective.capacity_steps must be >= 1"),
        ("beta-tc", {"dataset_size": 0}, "BetaTCObjective.dataset_size must be >= 1; got 0"),
    ],
)
def test_bad_options_are_refused_by_name(name: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        objective_from_name(name, **options)


@pytest.mark.parametrize("name", ["capacity", "beta-tc"])
def test_free_bits_belong_to_the_elbo(name: Any) -> None:
    message = f"free_bits is 0.5, but free bits apply to the 'elbo' objective only; the {name!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        objective_from_name(name, free_bits=0.5)


@pytest.mark.usefixtures("without_hook_checks")
def test_an_unknown_name_lists_the_choices() -> None:
    message = "objective must be one of 'elbo', 'capacity', 'beta-tc', 'iwae'; got 'factor-vae'"
    with pytest.raises(ValueError, match=re.escape(message)):
        objective_from_name("factor-vae")  # type: ignore[arg-type]  # the point
    with pytest.raises(ValueError, match=re.escape(message)):
        make_trainer("equinox", objective="factor-vae")


# -- through VAETrainer ----------------------------------------------------------------------


@pytest.mark.usefixtures("without_hook_checks")
def test_the_trainer_refuses_bad_options_naming_them() -> None:
    with pytest.raises(ValueError, match=re.escape("CapacityObjective.c_max must be a finite")):
        make_trainer("equinox", objective="capacity", objective_options={"c_max": -3.0})
    with pytest.raises(ValueError, match=re.escape("CapacityObjective.gamma must be a finite")):
        make_trainer("equinox", objective="capacity", objective_options={"gamma": -1.0})
    with pytest.raises(ValueError, match=re.escape("capacity_steps must be >= 1; got 0")):
        make_trainer("equinox", objective="capacity", objective_options={"capacity_steps": 0})
    message = (
        "objective_options has no option 'beta'; the options are 'c_max', 'capacity_steps', "
        "'gamma', 'dataset_size', 'num_samples', 'gradient' (the beta of the 'beta-tc' "
        "objective is the KL schedule's: "
        "VAETrainingConfig.beta)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        make_trainer("equinox", objective="beta-tc", objective_options={"beta": 6.0})
    with pytest.raises(ValueError, match=re.escape("VAETrainingConfig.beta must be a finite")):
        make_trainer("equinox", VAETrainingConfig(beta=-1.0), objective="beta-tc")
    with pytest.raises(ValueError, match=re.escape("free bits apply to the 'elbo' objective")):
        make_trainer("equinox", VAETrainingConfig(free_bits=0.5), objective="capacity")


EXTRA_METRICS = {
    "capacity": ["capacity"],
    "beta-tc": ["dimension_kl", "mutual_info", "total_correlation"],
}
OPTIONS: dict[str, Any] = {"capacity": {"c_max": 2.0, "capacity_steps": 4}, "beta-tc": {}}


# Each objective in one framework: both frameworks and both objectives, in half the time.
@pytest.mark.parametrize(("framework", "name"), [("nnx", "capacity"), ("equinox", "beta-tc")])
def test_every_trainer_path_uses_the_chosen_objective(framework: Framework, name: Any) -> None:
    config = VAETrainingConfig(kl_annealing="none", beta=4.0)
    vae = make_trainer(framework, config, objective=name, objective_options=OPTIONS[name])
    objective_class = CapacityObjective if name == "capacity" else BetaTCObjective
    assert isinstance(vae.objective("bce_logits"), objective_class)
    data = patterns(16)
    base = ["kl_loss", "kl_weight", "loss", "recon_loss"]

    _, metrics = vae.train_step(data, loss_type="bce_logits")
    assert sorted(metrics) == sorted([*base, *EXTRA_METRICS[name], "skipped"])
    losses, stacked = vae.train_steps(jnp.stack([data, data]), loss_type="bce_logits")
    assert losses.shape == (2,)
    assert sorted(stacked) == sorted(metrics)
    if name == "capacity":  # C at steps 1 and 2 of a ramp of 4 steps to 2 nats
        np.testing.assert_allclose(stacked["capacity"], [0.5, 1.0])
    else:
        np.testing.assert_allclose(stacked["kl_weight"], [4.0, 4.0])

    evaluation = vae.evaluate(data, loss_type="bce_logits")
    assert sorted(evaluation) == sorted([*base, *EXTRA_METRICS[name], "neg_elbo"])
    # The unannealed negative ELBO, the same for every objective.
    recon, kl = float(evaluation["recon_loss"]), float(evaluation["kl_loss"])
    assert float(evaluation["neg_elbo"]) == pytest.approx(recon + kl, rel=1e-6)

    steps = vae.loop_steps(loss_type="bce_logits")
    _, validation = steps.engine.evaluate(steps.evaluation_step, data)
    # The loop leaves out what describes the step rather than the data.
    hidden = {"kl_weight", "capacity"} & set(validation)
    assert hidden
    assert hidden <= steps.hidden_metrics
    assert sorted(validation) == sorted(evaluation)

    loss_fn = vae.create_loss_fn(step=3, loss_type="bce_logits")
    value_and_grad: Callable[..., Any]
    if framework == "nnx":
        value_and_grad = nnx.jit(nnx.value_and_grad(loss_fn, has_aux=True))
    else:
        value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss_fn, has_aux=True))
    (loss, loss_metrics), grads = value_and_grad(vae.model, data)
    assert sorted(loss_metrics) == sorted([*base, *EXTRA_METRICS[name]])
    assert np.isfinite(float(loss))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(grads))


def test_beta_tc_draws_an_nnx_models_code_from_the_steps_key() -> None:
    # The code comes from the step's key, not from the model's nnx.Rngs, which stay put
    # (the ELBO's model(x) draws from them and advances their count).
    vae = make_trainer("nnx", objective="beta-tc")
    before = int(vae.model.rngs.noise.count[...])
    _, metrics = vae.train_step(patterns(16))
    assert int(vae.model.rngs.noise.count[...]) == before
    assert np.isfinite(float(metrics["total_correlation"]))
    elbo = make_trainer("nnx")
    elbo.train_step(patterns(16))
    assert int(elbo.model.rngs.noise.count[...]) == before + 1


def test_fit_logs_the_objectives_metrics_and_stores_the_choice() -> None:
    vae = make_trainer(
        "equinox",
        VAETrainingConfig(kl_annealing="none", beta=4.0),
        objective="beta-tc",
        objective_options={"dataset_size": 1000},
    )
    data = np.asarray(patterns(64))
    history = Trainer(vae, loss_type="bce_logits").fit(
        batches(data, 16), epochs=2, val_data=batches(data, 32, shuffle=False)
    )
    last = history.epochs[-1]
    for name in ("mutual_info", "total_correlation", "dimension_kl"):
        assert name in last
        assert f"val_{name}" in last
        assert len(history.steps[name]) == 8
    assert "val_neg_elbo" in last
    assert "val_kl_weight" not in last
    config = vae.loop_steps().config
    assert config is not None
    assert config["objective"] == "beta-tc"
    assert config["objective_options"] == {"dataset_size": 1000}
    # The ELBO's stored config is the VAE config alone, as before.
    assert make_trainer("equinox").loop_steps().config == VAETrainingConfig().to_dict()
