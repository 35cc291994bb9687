"""Time one training step of convolutional VAEs on 64x64 images, against PyTorch.

    python benchmarks/conv_step.py [--steps 3] [--rounds 7] [--torch-threads 2] [--layers]

It runs without PyTorch (`nox -s bench -- conv_step` leaves PyTorch's rows out). For the
side-by-side table, run it in one process with PyTorch and pythae: from a separate
environment that has them, with elbox installed there too (never a dependency of elbox):

    python3 -m venv /work/benchvenv
    /work/benchvenv/bin/pip install torch==2.13.0   # the CPU wheel
    /work/benchvenv/bin/pip install pythae --no-deps  # plus what it imports
    /work/benchvenv/bin/pip install --no-deps .      # elbox, its dependencies installed
    /work/benchvenv/bin/python benchmarks/conv_step.py --layers

`--layers` adds a table of each layer of networks A and B alone (forward and backward):
PyTorch's, Flax's and elbox's.

Two networks, on 64x64x1 images, batches of 64, latent 10, the Bernoulli loss on logits
(`loss_type="bce_logits"`, KL weight 1) and adam:

- A, `BurgessVAE`: four 4x4 stride-2 convolutions (32, 32, 64, 64 channels), dense 256,
  and a decoder that mirrors it with transposed convolutions down to 1 channel (Burgess et
  al. 2018; disentanglement_lib);
- B, `ConvVAE((64, 64, 1), channels=(32, 32, 64, 64), hidden=256, latent=10)`: the same,
  with a 32-channel last transposed convolution at full resolution and a 3x3 output
  convolution.

Each network is trained by:

- PyTorch, hand-written (`torch.set_num_threads(--torch-threads)`), the baseline, and
  pythae's `VAE` with the same encoder and decoder (A only): both only where they are
  installed (a separate benchmark environment: never a dependency of elbox), else the rows
  are left out and the ratios are to the first JAX row;
- hand-written JAX: an Equinox model vmapped over the batch (channels first, as Equinox's
  layers take one image), the loss written out, optax, one `jax.jit` step donating its
  buffers; once with Equinox's `Conv2d`/`ConvTranspose2d` ("before") and once with
  elbox's (`elbox.models.equinox`);
- elbox `VAETrainer(..., donate=True)` on `elbox.models.equinox` and `elbox.models.nnx`.

Every round runs `--steps` steps of every variant in turn (interleaved, so that changes in
the machine's load hit all alike); the table gives medians over `--rounds` rounds, and the
ratio to the PyTorch step of the same network. PyTorch's OpenMP threads are made to sleep
rather than spin while they wait (`OMP_WAIT_POLICY=PASSIVE`, unless set): on a machine
shared with other work, spinning threads make PyTorch several times slower, which is no
measure of its convolutions. The JAX rows run on JAX's default backend: on a GPU, they
time the GPU step (and PyTorch runs on CUDA where it can).
"""

import argparse
import functools
import importlib
import itertools
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from elbox import VAETrainer, VAETrainingConfig
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

IMAGE = (64, 64, 1)
BATCH, LATENT, HIDDEN = 64, 10, 256
CHANNELS = (32, 32, 64, 64)
LEARNING_RATE = 1e-4
CONFIG = VAETrainingConfig(kl_annealing="none")

Runner = Callable[[int], None]
"""Runs n training steps and waits for the last one."""


def _images(seed: int = 0) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A batch of binary images (NHWC), like dSprites'."""
    rng = np.random.default_rng(seed)
    return (rng.random((BATCH, *IMAGE)) < 0.3).astype(np.float32)


# -- hand-written JAX: an Equinox model vmapped over the batch ---------------------------


class _VmappedVAE(eqx.Module):
    """Network A or B written as an Equinox user writes it: layers on one channels-first
    image, vmapped over the batch."""

    encoder_convs: tuple[Any, ...]
    encoder: eqx.nn.Linear
    heads: eqx.nn.Linear
    decoder_hidden: eqx.nn.Linear
    decoder_expand: eqx.nn.Linear
    decoder_convs: tuple[Any, ...]
    decoder_out: Any

    def __init__(self, network: str, conv: Any, conv_transpose: Any, *, key: Any) -> None:
        keys = iter(jax.random.split(key, 16))
        widths = (IMAGE[2], *CHANNELS)
        self.encoder_convs = tuple(
            conv(i, o, 4, stride=2, padding=1, key=next(keys))
            for i, o in itertools.pairwise(widths)
        )
        self.encoder = eqx.nn.Linear(4 * 4 * 64, HIDDEN, key=next(keys))
        self.heads = eqx.nn.Linear(HIDDEN, 2 * LATENT, key=next(keys))
        self.decoder_hidden = eqx.nn.Linear(LATENT, HIDDEN, key=next(keys))
        self.decoder_expand = eqx.nn.Linear(HIDDEN, 4 * 4 * 64, key=next(keys))
        out = (64, 32, 32, IMAGE[2] if network == "A" else 32)
        self.decoder_convs = tuple(
            conv_transpose(i, o, 4, stride=2, padding=1, key=next(keys))
            for i, o in zip((64, *out[:-1]), out, strict=True)
        )
        self.decoder_out = (
            None if network == "A" else eqx.nn.Conv2d(32, IMAGE[2], 3, padding=1, key=next(keys))
        )

    def loss(self, x: jax.Array, key: jax.Array) -> jax.Array:
        """The negative ELBO of one channels-first image, Bernoulli on logits."""
        h = x
        for layer in self.encoder_convs:
            h = jax.nn.relu(layer(h))
        h = jax.nn.relu(self.encoder(h.reshape(-1)))
        mean, logvar = jnp.split(self.heads(h), 2)
        z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
        h = jax.nn.relu(self.decoder_expand(jax.nn.relu(self.decoder_hidden(z))))
        h = h.reshape(64, 4, 4)
        for index, layer in enumerate(self.decoder_convs):
            h = layer(h)
            if self.decoder_out is not None or index < len(self.decoder_convs) - 1:
                h = jax.nn.relu(h)
        logits = h if self.decoder_out is None else self.decoder_out(h)
        # Bernoulli cross-entropy on logits, stable for large |logits|.
        recon = jnp.sum(jnp.maximum(logits, 0) - logits * x + jnp.log1p(jnp.exp(-jnp.abs(logits))))
        kl = -0.5 * jnp.sum(1 + logvar - mean**2 - jnp.exp(logvar))
        return recon + kl


def hand_written(network: str, *, elbox_layers: bool) -> Runner:
    """A donated `jax.jit` step of `_VmappedVAE`, with Equinox's or elbox's layers."""
    layers = (
        (eqx_models.Conv2d, eqx_models.ConvTranspose2d)
        if elbox_layers
        else (eqx.nn.Conv2d, eqx.nn.ConvTranspose2d)
    )
    model = _VmappedVAE(network, *layers, key=jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    tx = optax.adam(LEARNING_RATE)

    def loss_fn(params: Any, x: jax.Array, key: jax.Array) -> jax.Array:
        vae = eqx.combine(params, static)
        keys = jax.random.split(key, x.shape[0])
        return jnp.mean(jax.vmap(vae.loss)(x, keys))

    def step(params: Any, opt_state: Any, x: jax.Array, key: jax.Array) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, key)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    compiled = jax.jit(step, donate_argnums=(0, 1))
    x = jnp.asarray(_images().transpose(0, 3, 1, 2))
    state = [params, tx.init(params), jax.random.key(1)]

    def run(n: int) -> None:
        p, o, key = state
        loss = None
        for _ in range(n):
            key, subkey = jax.random.split(key)
            p, o, loss = compiled(p, o, x, subkey)
        jax.block_until_ready(loss)
        state[:] = [p, o, key]

    return run


# -- elbox --------------------------------------------------------------------------------


def _elbox_model(network: str, framework: str) -> Any:
    if framework == "nnx":
        if network == "A":
            return nnx_models.BurgessVAE(IMAGE, latent=LATENT, rngs=nnx.Rngs(0))
        return nnx_models.ConvVAE(
            IMAGE, channels=CHANNELS, hidden=HIDDEN, latent=LATENT, rngs=nnx.Rngs(0)
        )
    if network == "A":
        return eqx_models.BurgessVAE(IMAGE, latent=LATENT, key=jax.random.key(0))
    return eqx_models.ConvVAE(
        IMAGE, channels=CHANNELS, hidden=HIDDEN, latent=LATENT, key=jax.random.key(0)
    )


def elbox_trainer(network: str, framework: str) -> Runner:
    """`VAETrainer(..., donate=True)` on elbox's reference model of the network."""
    model = _elbox_model(network, framework)
    tx = optax.adam(LEARNING_RATE)
    trainer: VAETrainer[Any]
    if framework == "nnx":
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
        trainer = VAETrainer(model, optimizer, CONFIG, donate=True)
    else:
        trainer = VAETrainer(model, tx, CONFIG, donate=True, key=jax.random.key(1))
    x = jnp.asarray(_images())

    def run(n: int) -> None:
        loss = None
        for _ in range(n):
            loss, _ = trainer.train_step(x, loss_type="bce_logits")
        jax.block_until_ready(loss)

    return run


# -- PyTorch and pythae, where installed ---------------------------------------------------


def _torch() -> Any:
    """The torch module, or None where it is not installed."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def _torch_device(torch: Any) -> str:
    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def _torch_networks(torch: Any, network: str) -> tuple[Any, Any]:
    """Network A or B's encoder (to `2 * LATENT`) and decoder (to logits), NCHW."""
    nn = torch.nn
    encoder = nn.Sequential(
        nn.Conv2d(IMAGE[2], 32, 4, 2, 1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 4, 2, 1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 4, 2, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(1024, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, 2 * LATENT),
    )
    if network == "A":
        tail = [nn.ConvTranspose2d(32, IMAGE[2], 4, 2, 1)]
    else:
        tail = [nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, IMAGE[2], 3, 1, 1)]
    decoder = nn.Sequential(
        nn.Linear(LATENT, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, 1024),
        nn.ReLU(),
        nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 64, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 32, 4, 2, 1),
        nn.ReLU(),
        *tail,
    )
    return encoder, decoder


def torch_step(torch: Any, network: str) -> Runner:
    """A hand-written PyTorch training step: the same loss, adam."""
    torch.manual_seed(0)
    device = _torch_device(torch)
    encoder, decoder = (net.to(device) for net in _torch_networks(torch, network))
    parameters = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)
    x = torch.from_numpy(_images().transpose(0, 3, 1, 2).copy()).to(device)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def run(n: int) -> None:
        for _ in range(n):
            optimizer.zero_grad(set_to_none=True)
            mean, logvar = encoder(x).chunk(2, dim=1)
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
            recon = bce(decoder(z), x, reduction="none").sum(dim=(1, 2, 3))
            kl = -0.5 * (1 + logvar - mean**2 - logvar.exp()).sum(dim=1)
            (recon + kl).mean().backward()
            optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def pythae_step(torch: Any, network: str) -> Runner | None:
    """pythae's `VAE` with network's encoder and decoder (sigmoid output, its "bce" loss),
    trained by a plain loop over its loss; None where pythae is not installed."""
    try:
        pythae_vae = importlib.import_module("pythae.models")
        pythae_nn = importlib.import_module("pythae.models.nn")
        outputs = importlib.import_module("pythae.models.base.base_utils")
    except ImportError:
        return None
    torch.manual_seed(0)
    device = _torch_device(torch)
    encoder_net, decoder_net = _torch_networks(torch, network)

    def encode(self: Any, x: Any) -> Any:
        mean, logvar = self.net(x).chunk(2, dim=1)
        return outputs.ModelOutput(embedding=mean, log_covariance=logvar)

    def decode(self: Any, z: Any) -> Any:
        return outputs.ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    def init(self: Any, net: Any) -> None:
        torch.nn.Module.__init__(self)
        self.net = net

    encoder_class = type("Encoder", (pythae_nn.BaseEncoder,), {"__init__": init, "forward": encode})
    decoder_class = type("Decoder", (pythae_nn.BaseDecoder,), {"__init__": init, "forward": decode})
    config = pythae_vae.VAEConfig(
        input_dim=(IMAGE[2], IMAGE[0], IMAGE[1]),
        latent_dim=LATENT,
        reconstruction_loss="bce",
    )
    model = pythae_vae.VAE(
        config, encoder=encoder_class(encoder_net), decoder=decoder_class(decoder_net)
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    data = {"data": torch.from_numpy(_images().transpose(0, 3, 1, 2).copy()).to(device)}

    def run(n: int) -> None:
        model.train()
        for _ in range(n):
            optimizer.zero_grad(set_to_none=True)
            model(data).loss.backward()
            optimizer.step()

    return run


# -- single layers -------------------------------------------------------------------------

# name: (kind, input size, input channels, output channels, whether its input gradient is
# needed: not for the first layer)
LAYERS: dict[str, tuple[str, int, int, int, bool]] = {
    "encoder conv 1 (64x64x1 -> 32)": ("conv", 64, 1, 32, False),
    "encoder conv 2 (32x32x32 -> 32)": ("conv", 32, 32, 32, True),
    "encoder conv 3 (16x16x32 -> 64)": ("conv", 16, 32, 64, True),
    "encoder conv 4 (8x8x64 -> 64)": ("conv", 8, 64, 64, True),
    "transposed 1 (4x4x64 -> 64)": ("transposed", 4, 64, 64, True),
    "transposed 2 (8x8x64 -> 32)": ("transposed", 8, 64, 32, True),
    "transposed 3 (16x16x32 -> 32)": ("transposed", 16, 32, 32, True),
    "A: transposed 4 (32x32x32 -> 1)": ("transposed", 32, 32, 1, True),
    "B: transposed 4 (32x32x32 -> 32)": ("transposed", 32, 32, 32, True),
    "B: output conv 3x3 (64x64x32 -> 1)": ("output", 64, 32, 1, True),
}


def _output_size(kind: str, size: int) -> int:
    return {"conv": size // 2, "transposed": 2 * size, "output": size}[kind]


def _nnx_layer(kind: str, cin: int, cout: int, *, elbox_layers: bool) -> Any:
    """Flax's or elbox's NNX layer as the reference models configure it."""
    conv, transposed = (
        (nnx_models.Conv, nnx_models.ConvTranspose)
        if elbox_layers
        else (nnx.Conv, nnx.ConvTranspose)
    )
    rngs = nnx.Rngs(0)
    if kind == "conv":
        return conv(cin, cout, (4, 4), (2, 2), padding=1, rngs=rngs)
    if kind == "transposed":
        return transposed(cin, cout, (4, 4), (2, 2), padding=2, transpose_kernel=True, rngs=rngs)
    return conv(cin, cout, (3, 3), padding=1, rngs=rngs)


def jax_layer(name: str, *, elbox_layers: bool) -> Runner:
    """One layer and ReLU, forward and backward (to its parameters, and to its input where
    a network needs that), on a batch of channels-last images, under `jax.jit`."""
    kind, size, cin, cout, input_grad = LAYERS[name]
    graphdef, params = nnx.split(_nnx_layer(kind, cin, cout, elbox_layers=elbox_layers))
    out = _output_size(kind, size)
    x = jax.random.normal(jax.random.key(1), (BATCH, size, size, cin))
    cotangent = jax.random.normal(jax.random.key(2), (BATCH, out, out, cout))

    def forward(params: Any, x: jax.Array) -> jax.Array:
        return jax.nn.relu(nnx.merge(graphdef, params)(x))

    def backward(params: Any, x: jax.Array, cotangent: jax.Array) -> Any:
        if input_grad:
            return jax.vjp(forward, params, x)[1](cotangent)
        return jax.vjp(lambda p: forward(p, x), params)[1](cotangent)

    compiled = jax.jit(backward)

    def run(n: int) -> None:
        grads = None
        for _ in range(n):
            grads = compiled(params, x, cotangent)
        jax.block_until_ready(grads)

    return run


def torch_layer(torch: Any, name: str) -> Runner:
    """The same layer and ReLU in PyTorch, forward and backward, NCHW."""
    kind, size, cin, cout, input_grad = LAYERS[name]
    nn = torch.nn
    layer = {
        "conv": lambda: nn.Conv2d(cin, cout, 4, 2, 1),
        "transposed": lambda: nn.ConvTranspose2d(cin, cout, 4, 2, 1),
        "output": lambda: nn.Conv2d(cin, cout, 3, 1, 1),
    }[kind]().to(_torch_device(torch))
    out = _output_size(kind, size)
    x = torch.randn(BATCH, cin, size, size, requires_grad=input_grad)
    cotangent = torch.randn(BATCH, cout, out, out)

    def run(n: int) -> None:
        for _ in range(n):
            layer.zero_grad(set_to_none=True)
            torch.relu(layer(x)).backward(cotangent)

    return run


def measure_layers(torch: Any, steps: int, rounds: int) -> None:
    """Per layer: ms forward and backward in PyTorch, Flax's layers and elbox's."""
    columns = {"Flax's layer": False, "elbox's layer": True}
    print("\nSingle layers and ReLU, forward and backward, batch 64 (ms; ratio to PyTorch)\n")
    head = ["PyTorch"] if torch is not None else []
    print("| layer | " + " | ".join([*head, *columns]) + " |")
    print("|---|" + "---:|" * (len(head) + len(columns)))
    for name in LAYERS:
        rows: dict[str, Callable[[], Runner | None]] = {}
        if torch is not None:
            rows["PyTorch"] = functools.partial(torch_layer, torch, name)
        for column, elbox_layers in columns.items():
            rows[column] = functools.partial(jax_layer, name, elbox_layers=elbox_layers)
        results = measure(rows, steps, rounds)
        baseline = results["PyTorch"][0] if torch is not None else None
        cells = [
            f"{ms:.1f}" + ("" if baseline is None else f" ({ms / baseline:.2f})")
            for ms, _ in results.values()
        ]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


# -- measuring ----------------------------------------------------------------------------


def variants(network: str, torch: Any) -> dict[str, Callable[[], Runner | None]]:
    """The rows of one network's table, in order; a row whose maker gives None is left out."""
    rows: dict[str, Callable[[], Runner | None]] = {}
    if torch is not None:
        rows["PyTorch, hand-written"] = lambda: torch_step(torch, network)
        if network == "A":
            rows["pythae VAE, same encoder and decoder"] = lambda: pythae_step(torch, network)
    rows["hand-written JAX, equinox.nn layers vmapped, jax.jit, donated"] = lambda: hand_written(
        network, elbox_layers=False
    )
    rows["hand-written JAX, elbox's Equinox layers vmapped, jax.jit, donated"] = lambda: (
        hand_written(network, elbox_layers=True)
    )
    model = "BurgessVAE" if network == "A" else "ConvVAE"
    rows[f"elbox VAETrainer, models.equinox.{model}, donated"] = lambda: elbox_trainer(
        network, "equinox"
    )
    rows[f"elbox VAETrainer, models.nnx.{model}, donated"] = lambda: elbox_trainer(network, "nnx")
    return rows


def measure(
    rows: dict[str, Callable[[], Runner | None]], steps: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Median milliseconds per step, and the first call's seconds, of every row."""
    runners: dict[str, Runner] = {}
    first: dict[str, float] = {}
    for name, make in rows.items():
        runner = make()
        if runner is None:
            continue
        start = time.perf_counter()
        runner(1)  # compiles
        first[name] = time.perf_counter() - start
        runner(1)
        runners[name] = runner
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner(steps)
            samples[name].append((time.perf_counter() - start) / steps * 1e3)
    return {name: (statistics.median(samples[name]), first[name]) for name in runners}


def print_table(network: str, results: dict[str, tuple[float, float]]) -> None:
    """A Markdown table: ms per step and the ratio to the first row (PyTorch's, where
    installed)."""
    baseline_name = next(iter(results))
    baseline = results[baseline_name][0]
    print(f"\nNetwork {network} (ratios to: {baseline_name})\n")
    print("| step | ms | ratio | first call (s) |")
    print("|---|---:|---:|---:|")
    for name, (ms, first) in results.items():
        print(f"| {name} | {ms:.1f} | {ms / baseline:.2f} | {first:.1f} |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="steps per variant and round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--torch-threads", type=int, default=2, help="PyTorch's threads")
    parser.add_argument(
        "--networks", default="A,B", help="which networks, comma-separated (A, B; none: '')"
    )
    parser.add_argument(
        "--layers", action="store_true", help="also time each layer alone, against PyTorch's"
    )
    args = parser.parse_args(argv)
    torch = _torch()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
    if torch is None:
        print("PyTorch is not installed: its rows are left out")
    else:
        torch.set_num_threads(args.torch_threads)
        print(
            f"torch {torch.__version__}, {args.torch_threads} threads on "
            f"{_torch_device(torch)}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f}; {args.steps} steps x {args.rounds} rounds, medians")
    for network in filter(None, args.networks.split(",")):
        print_table(network, measure(variants(network, torch), args.steps, args.rounds))
    if args.layers:
        measure_layers(torch, 2 * args.steps, args.rounds)
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
