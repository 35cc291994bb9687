"""The package's architecture holds: layers import only downward, no import cycles (imports
inside functions counted), Flax imported only by the NNX adapter, and never by an Equinox
user's code."""

import ast
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "elbox"

# The sub-packages from the top layer down; a module may import its own package and those
# of lower layers only. The package's root modules (`elbox/_*.py`) are the bottom layer and
# `elbox/__init__.py`, the public face, the top.
LAYERS: list[set[str]] = [
    {"cli"},
    {"training"},
    {"trainers"},
    {"core", "metrics"},
    {"objectives"},
    {"likelihoods"},
    {"frameworks"},
    {"models", "data", "distributed"},
]
# The only modules that import Flax (at run time; `_custom_types` names its types for
# static checkers only, under `if TYPE_CHECKING`).
FLAX_IMPORTERS = {"elbox.frameworks._nnx", "elbox.models.nnx", "elbox.cli._build"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def _imports(name: str) -> Iterator[tuple[str, bool]]:
    """`(module, under_type_checking)` for every elbox module that `name` imports,
    anywhere in its source (inside functions too)."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in ast.walk(block)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from package import module` imports the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target.startswith(("elbox", "flax")):
                yield target, id(node) in checking


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return -1  # elbox/__init__.py
    if parts[1].startswith("_"):
        return len(LAYERS)  # a root module
    return next(rank for rank, layer in enumerate(LAYERS) if parts[1] in layer)


def test_every_subpackage_has_a_layer() -> None:
    packages = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    subpackages = {package for package in packages if not package.startswith("_")}
    assert subpackages == set().union(*LAYERS)


def test_layers_import_only_downward() -> None:
    upward = [
        f"{name} -> {target}"
        for name in MODULES
        for target, _ in _imports(name)
        if target in MODULES
        and target.split(".")[:2] != name.split(".")[:2]
        and _layer(target) <= _layer(name)
        and not _layer(target) == _layer(name) == len(LAYERS)  # root modules share a layer
    ]
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of `graph` that a depth-first search closes."""
    colour: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        colour[node] = "grey"
        for target in sorted(graph[node]):
            if colour.get(target) == "grey":  # back on the current path: a cycle
                cycles.append([*path[path.index(target) :], target])
            elif target not in colour:
                visit(target, [*path, target])
        colour[node] = "black"

    for name in sorted(graph):
        if name not in colour:
            visit(name, [name])
    return cycles


def test_no_import_cycles() -> None:
    graph = {
        name: {target for target, _ in _imports(name) if target in MODULES and target != name}
        for name in MODULES
    }
    assert _cycles(graph) == []


def test_the_checks_see_imports_inside_functions_and_cycles() -> None:
    # The seam imports the NNX adapter inside `framework_of`: the kind of import that hid
    # the cycles before; the checks count it.
    assert ("elbox.frameworks._nnx", False) in set(_imports("elbox.frameworks._seam"))
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_only_the_nnx_adapter_imports_flax() -> None:
    importers = {
        name
        for name in MODULES
        for target, type_checking in _imports(name)
        if target.split(".")[0] == "flax" and not type_checking
    }
    assert importers == FLAX_IMPORTERS


@pytest.mark.process
def test_an_equinox_user_never_imports_flax(tmp_path: Path) -> None:
    # A fresh interpreter is the point: the test process has imported Flax long ago.
    script = textwrap.dedent(
        """
        import sys

        import jax
        import optax

        import elbox, elbox.data, elbox.metrics, elbox.training
        assert "flax" not in sys.modules, "import elbox imported flax"

        from elbox import VAETrainer
        from elbox.data import batches
        from elbox.metrics import log_likelihood
        from elbox.models.equinox import MLPVAE
        from elbox.training import CheckpointConfig, ModelCheckpoint, Trainer, load_checkpoint

        data = jax.random.uniform(jax.random.key(0), (32, 6))
        vae = VAETrainer(MLPVAE(6, hidden=8, latent=2, key=jax.random.key(1)), optax.adam(1e-2))
        folder = sys.argv[1]
        checkpoint = ModelCheckpoint(CheckpointConfig(dirpath=folder))
        Trainer(vae, callbacks=[checkpoint], loss_type="bce_logits").fit(
            batches(data, 16), epochs=2, val_data=[data]
        )
        model = MLPVAE(6, hidden=8, latent=2, key=jax.random.key(2))
        loaded = load_checkpoint(folder, model, optax.adam(1e-2))
        bound = log_likelihood(
            loaded.model, data, loss_type="bce_logits", num_samples=4, key=jax.random.key(3)
        )
        assert bound.shape == (32,)
        print(loaded.step, sorted(m for m in sys.modules if m.split(".")[0] == "flax"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "checkpoints")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "[]"]
