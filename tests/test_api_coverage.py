"""Every public name of elbox has a docstring and a place in the API reference.

The public names are read from the source, as a reader of `__init__.py` sees them:

- in a public package (`elbox` and every sub-package whose path has no `_` part), each name
  re-exported as itself, `from ._trainer import VAETrainer as VAETrainer`;
- in a public module that is not a package (`elbox.models.nnx`, `elbox.models.equinox`),
  each class, function and variable defined at the top level whose name has no leading `_`,
  plus its re-exports as above.

A name is followed through its imports to the statement that defines it. It has a docstring
when that class or function has one, or when a variable's assignment is followed by a string
(an attribute docstring, which mkdocstrings renders too). Public methods and properties of
public classes need one as well, unless they override a documented method of a base class.

A name is in the API reference when a `::: path` directive of a page under `docs/api/`
names it, under any of its public paths (`elbox.Trainer` and `elbox.training.Trainer` are
the same definition), or names its module without `members: false` (a list of members
covers those members only).
"""

import ast
import dataclasses
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src"
API_PAGES = ROOT / "docs" / "api"
PACKAGE = "elbox"

# A directive's option block: the indented lines under `::: path`.
DIRECTIVE = re.compile(r"^:::[ \t]+(?P<path>[\w.]+)[ \t]*$")
MEMBERS_FALSE = re.compile(r"^\s+members:\s*(false|no|off)\s*$", re.IGNORECASE)
MEMBERS_LIST = re.compile(r"^\s+members:\s*\[(?P<names>[^\]]*)\]\s*$")
MEMBERS_BLOCK = re.compile(r"^\s+members:\s*$")
LIST_ITEM = re.compile(r"^\s+-\s+(?P<name>\w+)\s*$")


@dataclasses.dataclass(frozen=True)
class Definition:
    """Where a name is defined: the module's dotted path and the name there."""

    module: str
    name: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


@dataclasses.dataclass(frozen=True)
class ModuleSource:
    """A module of elbox, parsed."""

    name: str
    path: Path
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


@functools.cache
def module_source(name: str) -> ModuleSource | None:
    """The parsed source of elbox module `name`, or None when there is no such module."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = SOURCE.joinpath(*parts)
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return ModuleSource(name, path, ast.parse(path.read_text(), str(path)))
    return None


def public_modules() -> list[str]:
    """elbox and every module or package below it with no `_`-prefixed part in its path."""
    found = []
    for path in sorted((SOURCE / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        found.append(".".join(parts))
    return found


def absolute_module(module: ModuleSource, node: ast.ImportFrom) -> str:
    """The absolute module path of `from <node.module> import ...` inside `module`."""
    if node.level == 0:
        return node.module or ""
    package = module.name.split(".")
    if not module.is_package:
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def reexports(module: ModuleSource) -> dict[str, Definition]:
    """The names imported as themselves (`from x import A as A`): name -> where it comes from."""
    names = {}
    for node in module.tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.asname is not None and alias.asname == alias.name:
                    names[alias.name] = Definition(absolute_module(module, node), alias.name)
    return names


def _statements(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, list[ast.stmt], int]]:
    """The statements of a module body with the body that holds each and its index there;
    the branches of a top-level `if` (such as `if TYPE_CHECKING:`) count as top level."""
    for index, node in enumerate(body):
        if isinstance(node, ast.If):
            yield from _statements(node.body)
            yield from _statements(node.orelse)
        else:
            yield node, body, index


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets if isinstance(target, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def top_level_definitions(module: ModuleSource) -> dict[str, ast.stmt]:
    """The classes, functions and variables a module defines at its top level."""
    found: dict[str, ast.stmt] = {}
    for node, _, _ in _statements(module.tree.body):
        for name in _defined_names(node):
            found[name] = node
    return found


def public_names(module_name: str) -> dict[str, Definition]:
    """The public names of a public module: its re-exports, and for a plain module its
    own top-level definitions without a leading `_`."""
    module = module_source(module_name)
    assert module is not None, module_name
    names = reexports(module)
    if not module.is_package:
        for name in top_level_definitions(module):
            if not name.startswith("_"):
                names.setdefault(name, Definition(module_name, name))
    return names


class ResolveError(Exception):
    """A name whose definition cannot be found in elbox's source."""


def resolve(definition: Definition, seen: frozenset[Definition] = frozenset()) -> Definition:
    """Follow imports from `definition` to the module that defines the name."""
    if definition in seen:
        raise ResolveError(f"{definition}: circular imports")
    module = module_source(definition.module)
    if module is None:
        raise ResolveError(f"{definition}: not defined in elbox (it comes from outside)")
    if definition.name in top_level_definitions(module):
        return definition
    for node in module.tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == definition.name:
                    origin = Definition(absolute_module(module, node), alias.name)
                    if module_source(f"{origin.module}.{origin.name}") is not None:
                        raise ResolveError(f"{definition}: a module, not a name")
                    return resolve(origin, seen | {definition})
    raise ResolveError(f"{definition}: no such name in {module.path.relative_to(ROOT)}")


def docstring_of(definition: Definition) -> str | None:
    """The docstring of a defined class, function or variable, if it has one. A name
    defined more than once (overloads, the branches of an `if`) has the first docstring
    among its definitions."""
    module = module_source(definition.module)
    assert module is not None
    for node, body, index in _statements(module.tree.body):
        if definition.name not in _defined_names(node):
            continue
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node)
        else:
            following = body[index + 1] if index + 1 < len(body) else None
            docstring = (
                following.value.value
                if isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                else None
            )
        if docstring:
            return docstring
    return None


def class_node(definition: Definition) -> ast.ClassDef | None:
    module = module_source(definition.module)
    assert module is not None
    node = top_level_definitions(module)[definition.name]
    return node if isinstance(node, ast.ClassDef) else None


def base_definitions(definition: Definition, node: ast.ClassDef) -> list[Definition]:
    """The elbox classes among the bases of a class (bases from elsewhere are skipped)."""
    module = module_source(definition.module)
    assert module is not None
    bases = []
    for base in node.bases:
        target = base.value if isinstance(base, ast.Subscript) else base
        if isinstance(target, ast.Name):
            try:
                bases.append(resolve(Definition(module.name, target.id)))
            except ResolveError:
                continue
    return bases


def documented_in_bases(definition: Definition, member: str) -> bool:
    node = class_node(definition)
    if node is None:
        return False
    for base in base_definitions(definition, node):
        base_node = class_node(base)
        if base_node is None:
            continue
        for item in base_node.body:
            if (
                isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and item.name == member
                and ast.get_docstring(item)
            ):
                return True
        if documented_in_bases(base, member):
            return True
    return False


def undocumented_members(definition: Definition) -> list[str]:
    """Public methods and properties of a class with no docstring of their own or inherited."""
    node = class_node(definition)
    if node is None:
        return []
    missing = []
    for item in node.body:
        if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if item.name.startswith("_") and item.name != "__call__":
            continue
        if any(
            isinstance(decorator, ast.Attribute) and decorator.attr == "setter"
            for decorator in item.decorator_list
        ):
            continue
        if ast.get_docstring(item) or documented_in_bases(definition, item.name):
            continue
        missing.append(item.name)
    return missing


def all_public_names() -> Iterator[tuple[str, Definition]]:
    """`(public path, where it is defined)` for every public name."""
    for module in public_modules():
        for name, origin in sorted(public_names(module).items()):
            yield f"{module}.{name}", origin


# -- the API reference -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Directive:
    """A `::: path` line of an API page, with the members its options select."""

    path: str
    page: Path
    members: tuple[str, ...] | None  # None: all public members; () for members: false


def directives() -> list[Directive]:
    found = []
    for page in sorted(API_PAGES.rglob("*.md")):
        lines = page.read_text().splitlines()
        for index, line in enumerate(lines):
            match = DIRECTIVE.match(line)
            if match is None:
                continue
            options = []
            for following in lines[index + 1 :]:
                if following.strip() and not following.startswith((" ", "\t")):
                    break
                options.append(following)
            found.append(Directive(match["path"], page, _members(options)))
    return found


def _members(options: list[str]) -> tuple[str, ...] | None:
    for index, line in enumerate(options):
        if MEMBERS_FALSE.match(line):
            return ()
        listed = MEMBERS_LIST.match(line)
        if listed:
            return tuple(name.strip().strip("'\"") for name in listed["names"].split(","))
        if MEMBERS_BLOCK.match(line):
            names = []
            for item in options[index + 1 :]:
                entry = LIST_ITEM.match(item)
                if entry is None:
                    break
                names.append(entry["name"])
            return tuple(names)
    return None


def covered_definitions(directive: Directive) -> set[Definition]:
    """The definitions a directive documents: its object, or a module's selected members."""
    if module_source(directive.path) is not None:
        if directive.path not in public_modules():
            return set()
        names = public_names(directive.path)
        chosen = names if directive.members is None else directive.members
        return {resolve(names[name]) for name in chosen if name in names}
    module, _, name = directive.path.rpartition(".")
    if module_source(module) is None:
        return set()  # a member of a class, say: it documents no public name by itself
    try:
        return {resolve(Definition(module, name))}
    except ResolveError:
        return set()


# -- the tests ------------------------------------------------------------------------


def test_public_modules_are_found() -> None:
    modules = public_modules()
    expected = {
        "elbox",
        "elbox.training",
        "elbox.data",
        "elbox.models.nnx",
        "elbox.models.equinox",
        "elbox.cli",
        "elbox.distributed",
    }
    assert expected <= set(modules)
    names = dict(all_public_names())
    assert {"elbox.VAETrainer", "elbox.training.Trainer", "elbox.models.nnx.MLPVAE"} <= set(names)
    assert "elbox.models.nnx.jax" not in names  # an import, not a definition


def test_aliases_defined_under_type_checking_are_found() -> None:
    # `StepLike` is defined in both branches of `if TYPE_CHECKING:`; the run-time branch
    # carries its docstring.
    origin = dict(all_public_names())["elbox.StepLike"]
    definition = resolve(origin)
    assert definition == Definition("elbox._custom_types", "StepLike")
    assert "training step" in (docstring_of(definition) or "")


def test_every_public_name_has_a_docstring() -> None:
    problems = []
    for path, origin in all_public_names():
        try:
            definition = resolve(origin)
        except ResolveError as error:
            problems.append(f"{path}: {error}")
            continue
        docstring = docstring_of(definition)
        if not docstring or not docstring.strip():
            problems.append(f"{path} (defined at {definition}) has no docstring")
        problems.extend(
            f"{path}.{member} (in {definition.module}) has no docstring"
            for member in undocumented_members(definition)
        )
    assert not problems, "undocumented public names:\n" + "\n".join(sorted(set(problems)))


def test_every_public_name_is_in_the_api_reference() -> None:
    found = directives()
    assert found, f"no ::: directives under {API_PAGES.relative_to(ROOT)}"
    covered: set[Definition] = set()
    for directive in found:
        covered |= covered_definitions(directive)
    missing = [
        f"{path} (defined at {resolve(origin)})"
        for path, origin in all_public_names()
        if resolve(origin) not in covered
    ]
    assert not missing, (
        "public names missing from the API reference (add a `::: elbox...` directive to a "
        f"page under {API_PAGES.relative_to(ROOT)}):\n" + "\n".join(missing)
    )


def test_every_directive_names_something() -> None:
    # A directive for a name that no longer exists would fail the docs build; say so here
    # too, where the suite runs without mkdocs.
    broken = []
    for directive in directives():
        path = directive.path
        if module_source(path) is not None:
            continue
        # For a member (`elbox.VAETrainer.train_step`), check the class it belongs to.
        module, _, name = path.rpartition(".")
        while module and module_source(module) is None:
            module, _, name = module.rpartition(".")
        try:
            resolve(Definition(module, name))
        except ResolveError as error:
            broken.append(f"{directive.page.relative_to(ROOT)}: ::: {path}: {error}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ("::: elbox.x\n", None),
        ("::: elbox.x\n    options:\n      members: false\n", ()),
        ("::: elbox.x\n    options:\n      members: [a, b]\n", ("a", "b")),
        ("::: elbox.x\n    options:\n      members:\n        - a\n        - b\n", ("a", "b")),
    ],
)
def test_directive_options_are_read(text: str, members: tuple[str, ...] | None) -> None:
    assert _members(text.splitlines()[1:]) == members
