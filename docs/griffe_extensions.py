"""Griffe extensions for the API reference (listed under `extensions:` in mkdocs.yml).

- `ExampleSections`: elbox's docstrings title their examples `Example:`, as Google's style
  guide and Napoleon allow. Griffe's Google parser knows only the plural, `Examples:`, and
  would render the singular as an admonition of Markdown text, in which doctest lines
  (`>>> ...`) and their output turn into quotes and links. The section is renamed before
  Griffe parses it, so each example renders as a highlighted doctest block.
- `JaxtypingShapes`: in an annotation such as `Float[Array, "batch *features"]`, the string
  is a shape, not a forward reference. Griffe reads strings inside subscripts as forward
  references, and would show this one as the product `batch * features`. The shape strings
  are kept as written, quotes included, with surrounding spaces removed: the source writes
  one-axis shapes as `" steps"` for ruff's sake, which a reader would take for a typo.
"""

import ast
import re
from typing import Any

import griffe

# A section title on a line of its own, at the docstring's base indentation.
EXAMPLE_TITLE = re.compile(r"^Example:[ \t]*$", re.MULTILINE)

# jaxtyping's array annotations, `Dtype[ArrayType, "shape"]`.
JAXTYPING_DTYPES = frozenset(
    {
        "Shaped",
        "Bool",
        "Key",
        "Num",
        "Real",
        "Inexact",
        "Float",
        "Complex",
        "Integer",
    }
    | {"Int", "UInt", "BFloat16"}
    | {f"Float{bits}" for bits in (8, 16, 32, 64)}
    | {f"Int{bits}" for bits in (2, 4, 8, 16, 32, 64)}
    | {f"UInt{bits}" for bits in (2, 4, 8, 16, 32, 64)}
    | {f"Complex{bits}" for bits in (64, 128)}
)


class ExampleSections(griffe.Extension):
    """Read an `Example:` section of a docstring as an `Examples:` section."""

    def on_object(
        self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any
    ) -> None:
        docstring = obj.docstring
        if docstring is not None and EXAMPLE_TITLE.search(docstring.value):
            docstring.value = EXAMPLE_TITLE.sub("Examples:", docstring.value)


def _dtype_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # jaxtyping.Float
        return node.attr
    return None


class _Shape:
    """A shape string that Griffe renders as written: `repr` gives it in double quotes."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return '"' + self.text + '"'


class JaxtypingShapes(griffe.Extension):
    """Show the shape strings of jaxtyping annotations verbatim."""

    def on_node(
        self, *, node: ast.AST | griffe.ObjectNode, agent: Any, **kwargs: Any
    ) -> None:
        # Modules are visited first: rewrite their whole tree once, before Griffe builds any
        # annotation from it.
        if not isinstance(node, ast.Module):
            return
        for subscript in ast.walk(node):
            if not isinstance(subscript, ast.Subscript):
                continue
            if _dtype_name(subscript.value) not in JAXTYPING_DTYPES:
                continue
            arguments = subscript.slice
            if not isinstance(arguments, ast.Tuple) or len(arguments.elts) != 2:
                continue
            shape = arguments.elts[1]
            if isinstance(shape, ast.Constant) and isinstance(shape.value, str):
                # Griffe parses `str` constants in annotations as forward references, and
                # renders other constants with `repr`.
                verbatim: Any = _Shape(" ".join(shape.value.split()))
                shape.value = verbatim
