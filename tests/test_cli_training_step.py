"""`elbox train --batch-norm --ema-decay --accumulate --precision`, and `elbox eval` of such
a run: inference mode on the running statistics, with the average of the weights.

These tests run under JAX's standard dtype promotion, not the suite's strict one:
`eqx.nn.BatchNorm` in inference mode raises a Python float to its int32 step counter,
which strict promotion refuses once the counter comes back from a checkpoint (orbax
restores it as a plain int32, without the weak type it was made with).
"""

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from elbox import WithState, gaussian_kl
from elbox.cli import main
from elbox.cli._load_run import LoadedRun, load_run
from elbox.likelihoods._spec_losses import BCEWithLogitsLoss
from elbox.objectives._objective import step_key

FLAGS = [
    "--framework", "equinox", "--batch-norm", "--ema-decay", "0.9", "--accumulate", "2",
    "--precision", "bfloat16", "--hidden", "16", "--latent", "3", "--epochs", "2",
    "--loss-type", "bce_logits",  # the loss _neg_elbo_by_hand computes
    "--eval-samples", "20",
]  # fmt: skip


@pytest.fixture(autouse=True)
def standard_promotion() -> Iterator[None]:
    with jax.numpy_dtype_promotion("standard"):
        yield


@pytest.fixture(scope="module")
def bn_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A short BatchNorm run with an average of its weights, and what it printed."""
    run = tmp_path_factory.mktemp("bn") / "run"
    capture = tmp_path_factory.mktemp("out") / "stdout"
    with (
        capture.open("w") as out,
        contextlib.redirect_stdout(out),
        jax.numpy_dtype_promotion("standard"),
    ):
        assert main(["train", *FLAGS, "--output", str(run)]) == 0
    return run, capture.read_text()


def _neg_elbo_by_hand(loaded: LoadedRun, *, weights: str, inference: bool) -> float:
    """The test negative ELBO of the run's best checkpoint, computed here: the wrapped
    model called with its state, in inference mode or not, on the trainer's step key."""
    vae = loaded.vae
    wrapped = vae.ema_model if weights == "ema" else vae.model
    assert isinstance(wrapped, WithState)
    model = eqx.nn.inference_mode(wrapped.model, inference)
    key = step_key(vae.key, vae.step)
    test = np.asarray(loaded.splits.test)
    total = 0.0
    for start in range(0, len(test), 256):
        x = jnp.asarray(test[start : start + 256])
        (recon, mean, logvar), _ = model(x, wrapped.state, key=key)
        per_example = BCEWithLogitsLoss().per_sample(x, recon) + jnp.sum(
            gaussian_kl(mean, logvar), axis=-1
        )
        total += float(jnp.sum(per_example))
    return total / len(test)


def test_training_counts_updates_and_logs_the_average(bn_run: tuple[Path, str]) -> None:
    run, printed = bn_run
    config = json.loads((run / "config.json").read_text())
    options = config["options"]
    assert (options["batch_norm"], options["ema_decay"], options["accumulate"]) == (True, 0.9, 2)
    assert options["precision"] == "bfloat16"
    # A step is one update over 2 batches of 64: the digits' 1295 training examples make
    # 10 steps per epoch, and the KL schedule's periods are scaled to 20 steps.
    assert config["steps_per_epoch"] == 1295 // 128
    assert config["vae_config"]["cyclical_period"] == 20 // 4
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(20))
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert all("val_ema_neg_elbo" in r and "val_neg_elbo" in r for r in epochs)
    assert "(BatchNorm) VAE (equinox) on digits for 2 epochs (20 steps)" in printed
    assert "by val_ema_neg_elbo) (EMA weights)" in printed
    assert json.loads((run / "evaluation.json").read_text())["weights"] == "ema"


def test_eval_uses_inference_mode_and_either_set_of_weights(
    bn_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = bn_run
    loaded = load_run(run)
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "neg_elbo"]) == 0
    assert re.search(r"weights +EMA +the exponential moving average", capsys.readouterr().out)
    ema = json.loads((run / "evaluation.json").read_text())
    assert ema["weights"] == "ema"
    assert ema["neg_elbo"] == pytest.approx(
        _neg_elbo_by_hand(loaded, weights="ema", inference=True), rel=1e-5
    )
    # Batch statistics (training mode) would give another number.
    training_mode = _neg_elbo_by_hand(loaded, weights="ema", inference=False)
    assert abs(training_mode - ema["neg_elbo"]) > 1e-3
    assert main(["eval", str(run), "--metrics", "neg_elbo", "--weights", "trained"]) == 0
    trained = json.loads((run / "evaluation.json").read_text())
    assert trained["weights"] == "trained"
    assert trained["neg_elbo"] == pytest.approx(
        _neg_elbo_by_hand(loaded, weights="trained", inference=True), rel=1e-5
    )
    assert trained["neg_elbo"] != ema["neg_elbo"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--batch-norm"], "--batch-norm: the BatchNorm reference model is an Equinox model"),
        (["--framework", "equinox", "--batch-norm", "--model", "conv"], "use --model mlp"),
        (["--ema-decay", "1.5"], "--ema-decay must be in [0, 1); got 1.5"),
        (["--accumulate", "0"], "--accumulate must be >= 1; got 0"),
    ],
)
def test_bad_step_options_exit_2(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_eval_of_the_average_of_a_run_without_one(
    tmp_path: Path, bn_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = bn_run
    config = json.loads((run / "config.json").read_text())
    plain = tmp_path / "plain"
    plain.mkdir()
    config["options"]["ema_decay"] = None
    (plain / "config.json").write_text(json.dumps(config))
    assert main(["eval", str(plain), "--weights", "ema"]) == 2
    assert "was trained without --ema-decay" in capsys.readouterr().err
