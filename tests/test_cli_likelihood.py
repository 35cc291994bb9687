"""`elbox train --likelihood`: the default for data in [0, 1], the likelihood named in what a
run prints and writes, a log-likelihood only under a normalised distribution of the data,
bits per dimension for discrete data, and likelihoods refused for data outside their
support."""

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from elbox.cli import main
from elbox.cli._analysis import Analysis, LikelihoodRecord
from elbox.cli._evaluation import table
from elbox.cli._likelihood import DEFAULT_UNIT_LIKELIHOOD
from elbox.cli._options import LikelihoodChoice, TrainOptions
from elbox.cli._study import plan_study
from elbox.cli._study._report import likelihoods_line
from elbox.cli._train import resolve_options
from elbox.likelihoods._by_name import LIKELIHOOD_NAMES, likelihood_from_name

TINY = ["--hidden", "16", "--latent", "3", "--epochs", "1", "--batch-size", "128"]


def test_the_command_line_lists_every_likelihood() -> None:
    assert LikelihoodChoice.__args__ == LIKELIHOOD_NAMES  # type: ignore[attr-defined]  # a Literal


def test_data_in_the_unit_interval_gets_the_continuous_bernoulli() -> None:
    resolved = resolve_options(TrainOptions(), data=None)
    assert (resolved.likelihood, resolved.loss_type) == (DEFAULT_UNIT_LIKELIHOOD, None)
    assert DEFAULT_UNIT_LIKELIHOOD == "continuous_bernoulli"
    # Binary images get the Bernoulli, the distribution of binary data.
    for dataset in ("shapes", "shapes_grid", "binarized_mnist", "dsprites"):
        binary = resolve_options(TrainOptions(dataset=dataset), data=None)
        assert binary.likelihood == "bce_logits", dataset
    sigmoid = TrainOptions(dataset="shapes", decoder_output="sigmoid")
    assert resolve_options(sigmoid, data=None).likelihood == "bce"
    # A spec loss given by name stays one, as runs recorded before likelihoods have it.
    chosen = resolve_options(TrainOptions(loss_type="bce_logits"), data=None)
    assert (chosen.likelihood, chosen.loss_type) == (None, "bce_logits")


def test_binary_and_binarised_data_are_discrete() -> None:
    discrete: dict[LikelihoodChoice, bool] = {
        "bernoulli": True,
        "bce_logits": True,
        "discretised_logistic": True,
        "continuous_bernoulli": False,
        "gaussian": False,
        "mse": False,
    }
    for name, expected in discrete.items():
        record = LikelihoodRecord.of(name, likelihood_from_name(name), normalised=True)
        assert record.discrete == expected, name


def test_a_learned_variance_run_is_evaluated_with_its_learned_variance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    options = ["--framework", "equinox", "--likelihood", "gaussian", "--output", str(run)]
    assert main(["train", *TINY, *options]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["likelihood"] == {
        "name": "gaussian",
        "distribution": "Gaussian with mean decode(z) and a learned global variance",
        "normalised": True,
        "discrete": False,
        "support": "real numbers",
    }
    assert summary["test"]["bits_per_dim"] is None  # a density: nats only
    printed = capsys.readouterr().out
    assert "likelihood: gaussian (Gaussian with mean decode(z) and a learned global" in printed
    config = json.loads((run / "config.json").read_text())
    assert config["options"]["likelihood"] == "gaussian"
    assert main(["eval", str(run), "--metrics", "neg_elbo"]) == 0
    # The checkpoint restores the learned variance: the same test negative ELBO.
    expected = f"{summary['test']['neg_elbo']:.2f}"
    assert re.search(rf"test negative ELBO +{expected} ", capsys.readouterr().out)


def _analysis(normalised: bool, discrete: bool) -> Analysis:
    record = LikelihoodRecord(
        "bce_logits",
        "Bernoulli with logits decode(z)",
        normalised,
        discrete,
        "binary values (0 or 1)",
    )
    return Analysis(
        likelihood=record,
        dimensions=64,
        neg_elbo=30.0,
        recon_loss=26.0,
        kl=4.0,
        kl_per_dimension=np.array([1.0, 3.0]),
        mean_variance=np.array([0.5, 0.2]),
        active=np.array([True, True]),
        num_examples=10,
        bound=-28.0,
        mutual_information=1.0,
        num_samples=50,
        bound_examples=10,
    )


def _table(analysis: Analysis) -> str:
    names = ["neg_elbo", "log_likelihood", "active_units", "mutual_information"]
    return "\n".join(table({"metrics": names, **analysis.to_json()}))


def test_a_loss_that_is_no_likelihood_of_the_data_is_called_a_loss() -> None:
    analysis = _analysis(normalised=False, discrete=True)
    written = analysis.to_json()
    assert written["log_likelihood"] is None
    assert written["bits_per_dim"] is None
    assert written["loss_bound"] == -28.0
    printed = _table(analysis)
    assert "not a distribution of this data (it is one of binary values (0 or 1))" in printed
    assert "losses, not log-likelihoods" in printed
    assert re.search(r"test loss +30\.00 +nats per example", printed)
    assert re.search(r"importance-weighted loss +-28\.00 +nats", printed)
    assert "log-likelihood" not in printed.replace("not log-likelihoods", "")
    assert "negative ELBO" not in printed


def test_a_normalised_discrete_likelihood_gets_bits_per_dimension() -> None:
    analysis = _analysis(normalised=True, discrete=True)
    assert analysis.to_json()["log_likelihood"] == -28.0
    assert analysis.bits_per_dim == pytest.approx(28.0 / (64 * np.log(2.0)))
    printed = _table(analysis)
    assert re.search(r"log-likelihood bound +-28\.00 +nats", printed)
    assert re.search(r"bits per dimension +0\.631 +the bound", printed)
    continuous = dataclasses.replace(
        analysis, likelihood=dataclasses.replace(analysis.likelihood, discrete=False)
    )
    assert continuous.bits_per_dim is None
    assert "bits per dimension" not in _table(continuous)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--likelihood", "discretised_logistic"],
            "--likelihood discretised_logistic is a distribution of 8-bit values (k / 255 "
            "for integers k from 0 to 255), and the training data holds other values",
        ),
        (
            ["--likelihood", "gaussian", "--decoder-output", "sigmoid"],
            "--likelihood gaussian reads a scale or mixture weights from the decoder",
        ),
        (
            ["--loss-type", "mse", "--likelihood", "gaussian"],
            "--loss-type mse and --likelihood gaussian both choose the likelihood: give one",
        ),
        (
            ["--likelihood", "bce", "--decoder-output", "logits"],
            "--likelihood bce takes probabilities in [0, 1], but --decoder-output logits",
        ),
    ],
)
def test_a_likelihood_that_does_not_fit_is_refused_before_training(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main(["train", *arguments, "--output", str(tmp_path / "run")])
    except SystemExit as exit_info:  # the options' own checks exit as argparse does
        status = int(str(exit_info.code))
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_study_takes_a_likelihood_axis_and_names_the_likelihood(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_study(
        "grid",
        seeds=1,
        epochs=1,
        grid=["likelihood=continuous_bernoulli,bernoulli"],
        output=tmp_path,
    )
    assert [plan.options[s.label].likelihood for s in plan.settings] == [
        "continuous_bernoulli",
        "bernoulli",
    ]
    assert likelihoods_line(plan.spec, plan.settings) == (
        "Likelihood: as each setting sets it (`continuous_bernoulli`, `bernoulli`)."
    )
    one: Any = plan_study("collapse", seeds=1, epochs=1, grid=[], output=tmp_path)
    assert likelihoods_line(one.spec, one.settings) == (
        "Likelihood: `bernoulli`, Bernoulli with logits decode(z), of the data binarised "
        "afresh at each step (a fixed draw to evaluate), in every setting."
    )
    # A likelihood of other data is refused before any setting trains.
    arguments = ["study", "grid", "--grid", "likelihood=mse,discretised_logistic"]
    assert main([*arguments, "--seeds", "1", "--output", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "setting 'likelihood=discretised_logistic': --likelihood discretised_logistic" in err
    assert not (tmp_path / "s" / "study.csv").exists()
