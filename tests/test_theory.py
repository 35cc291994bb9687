"""The "Checked against theory" page: a linear VAE on Gaussian data against its closed-form
optimum (`benchmarks/theory.py`; the full version runs in `nox -s bench -- theory` and
writes `docs/theory/linear_gaussian.json`, which the page reads)."""

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "theory.py"
RESULT = ROOT / "docs" / "theory" / "linear_gaussian.json"


@pytest.fixture(scope="module")
def theory() -> ModuleType:
    spec = importlib.util.spec_from_file_location("elbox_theory_check", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_closed_form_by_hand(theory: ModuleType) -> None:
    # Four points (±sqrt 2, ±1/2): mean 0, covariance diag(2, 1/4). With sigma^2 = 1/2,
    # one direction is above the threshold: c = (2, 1/2), and
    # log p = -1/2 [log(2 pi 2) + 2/2 + log(2 pi 1/2) + (1/4)/(1/2)],
    # KL = 1/2 log(2 / (1/2)) = log 2.
    x = np.array([[a * math.sqrt(2), b * 0.5] for a in (-1, 1) for b in (-1, 1)])
    optimum = theory.closed_form(x, latent=2)
    expected = -0.5 * (math.log(4 * math.pi) + 1 + math.log(math.pi) + 0.5)
    assert optimum["log_likelihood"] == pytest.approx(expected, abs=1e-12)
    assert optimum["kl"] == pytest.approx(math.log(2), abs=1e-12)
    assert optimum["active_units"] == 1
    assert optimum["neg_elbo"] == pytest.approx(-expected, abs=1e-12)
    # A latent of one dimension keeps the largest direction only.
    assert theory.closed_form(x, latent=1)["kl"] == pytest.approx(math.log(2), abs=1e-12)


def test_the_exact_terms_of_a_model_at_the_optimum(theory: ModuleType) -> None:
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    # The pPCA solution itself, written into a linear VAE: its exact ELBO is the
    # closed-form optimum, and the encoder is the exact posterior.
    x = np.array([[a * math.sqrt(2), b * 0.5] for a in (-1, 1) for b in (-1, 1)])
    model = theory.LinearVAE(2, 1, key=jax.random.key(0))
    # W: the first direction, scaled by sqrt(l_1 - sigma^2) = sqrt(3/2). The posterior of
    # z given x: mean W^T x / M, variance sigma^2 / M, with M = W^T W + sigma^2 = 2.
    w = np.array([[math.sqrt(1.5)], [0.0]])
    m = 2.0
    model = eqx.tree_at(lambda m_: m_.decoder.weight, model, jnp.asarray(w, jnp.float32))
    model = eqx.tree_at(lambda m_: m_.decoder.bias, model, jnp.zeros(2))
    model = eqx.tree_at(lambda m_: m_.encoder.weight, model, jnp.asarray(w.T / m, jnp.float32))
    model = eqx.tree_at(lambda m_: m_.encoder.bias, model, jnp.zeros(1))
    model = eqx.tree_at(
        lambda m_: m_.log_variance, model, jnp.full(1, math.log(0.5 / m), jnp.float32)
    )
    terms = theory.exact_terms(model, x)
    optimum = theory.closed_form(x, latent=1)
    assert terms["neg_elbo"] == pytest.approx(optimum["neg_elbo"], abs=1e-5)
    assert terms["kl"] == pytest.approx(optimum["kl"], abs=1e-5)
    assert np.mean(terms["log_px"]) == pytest.approx(optimum["log_likelihood"], abs=1e-5)


def test_the_trainer_reaches_the_optimum_and_the_collapse(theory: ModuleType) -> None:
    result = theory.run(theory.QUICK)
    above, below = result["cases"]["above"], result["cases"]["below"]
    # The ELBO of the trained model is within 0.05 nats of the optimum, never above it.
    assert 0 <= above["gap"]["neg_elbo"] < 0.05
    assert abs(above["gap"]["kl"]) < 0.05
    # Four directions above sigma^2 = 1/2: four active units of six; none below it.
    assert above["reached"]["active_units"] == above["closed_form"]["active_units"] == 4
    assert below["reached"]["active_units"] == below["closed_form"]["active_units"] == 0
    assert 0 <= below["gap"]["neg_elbo"] < 0.01
    assert below["reached"]["kl"] < 0.01
    for case in (above, below):
        # The importance-weighted bound of a model whose encoder is (nearly) the exact
        # posterior is its exact log-likelihood, up to Monte Carlo error.
        assert case["bound"]["iwae"] == pytest.approx(case["bound"]["exact"], abs=0.01)


def test_the_page_s_numbers_hold(theory: ModuleType) -> None:
    """The committed numbers: the closed form recomputes from the data, and elbox came
    within the page's reading of it."""
    result = json.loads(RESULT.read_text())
    setup = theory.Setup(
        **{
            name: value
            for name, value in result["setup"].items()
            if name not in ("features", "noise_variance")
        }
    )
    assert setup == theory.FULL
    for case in result["cases"].values():
        x = theory.gaussian_data(tuple(case["eigenvalues"]), setup.examples, setup.seed)
        optimum = theory.closed_form(x, setup.latent)
        for quantity in ("neg_elbo", "kl", "active_units", "mutual_information"):
            assert case["closed_form"][quantity] == pytest.approx(optimum[quantity], abs=1e-9)
        assert 0 <= case["gap"]["neg_elbo"] < 0.01
        assert abs(case["gap"]["kl"]) < 0.01
        assert case["reached"]["active_units"] == optimum["active_units"]
        # The mutual-information estimate: within 3 Monte Carlo errors, sqrt(L / (2 N)).
        error = math.sqrt(setup.latent / (2 * case["bound"]["examples"]))
        assert abs(case["gap"]["mutual_information"]) < 3 * error
        assert case["bound"]["iwae"] == pytest.approx(case["bound"]["exact"], abs=0.005)
