"""Only public names in the API reference: cross-references pointed at public paths,
and a check for private names that still show.

mkdocstrings resolves a name in a signature or a docstring to where it is defined, often
a private module (`elbox._custom_types.StepLike`); its links and their hover text would
show that path. `hooks.py` rewrites each cross-reference to the public module that
exports the same object (`elbox.StepLike`), the path users import and the API pages
document, and then warns about what is left: hover text with a private path, a reference
to a module-level elbox name that no page documents, a private name in highlighted code.
Kept apart from `hooks.py` (which needs MkDocs) so that the tests can import it.
"""

import html
import importlib
import re

PACKAGE = "elbox"
# The public modules, searched in this order for the public path of a name that its
# defining module's path does not give.
PUBLIC_MODULES = (
    "elbox",
    "elbox.training",
    "elbox.data",
    "elbox.metrics",
    "elbox.models",
    "elbox.distributed",
    "elbox.cli",
)

_AUTOREF_IDENTIFIER = re.compile(r'(<autoref\b[^>]*?\bidentifier=")([^"]+)(")')
# A path through a private module or to a private name of elbox.
_PRIVATE_PATH = re.compile(rf"\b{PACKAGE}(?:\.\w+)*?\._(?!_)\w+(?:\.\w+)*")
_TITLE = re.compile(r'\btitle="([^"]*)"')
# A cross-reference to an elbox name that no page documents (rendered as plain text).
_UNRESOLVED = re.compile(rf'<span title="({PACKAGE}\.[\w.]+)">')
# A private name as a token of highlighted code (a signature, say).
_PRIVATE_TOKEN = re.compile(r'<span class="n">(_(?!_)\w+)</span>')


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _is_module(path: str) -> bool:
    try:
        importlib.import_module(path)
    except ImportError:
        return False
    return True


def public_identifier(identifier: str) -> str:
    """The public path of the object at `identifier`: private modules left out
    (`elbox._custom_types.StepLike` -> `elbox.StepLike`), when the public module exports
    the same object. Otherwise `identifier` itself."""
    # A parameter of a callable, as griffe names it:
    # `elbox.trainers._vae_trainer.VAETrainer(model)`.
    path, bracket, parameter = identifier.partition("(")
    if bracket:
        return public_identifier(path) + bracket + parameter
    parts = identifier.split(".")
    if parts[0] != PACKAGE or not any(_is_private(part) for part in parts):
        return identifier
    cut = len(parts)
    while cut > 0 and not _is_module(".".join(parts[:cut])):
        cut -= 1
    if cut == 0:
        return identifier
    modules, attributes = parts[:cut], parts[cut:]
    if any(_is_private(attribute) for attribute in attributes):
        return identifier
    public_modules = [part for part in modules if not _is_private(part)]
    found: object = importlib.import_module(".".join(modules))
    candidate: object = importlib.import_module(".".join(public_modules))
    try:
        for attribute in attributes:
            found = getattr(found, attribute)
    except AttributeError:
        return identifier
    try:
        for attribute in attributes:
            candidate = getattr(candidate, attribute)
    except AttributeError:
        candidate = None
    if candidate is found:
        return ".".join(public_modules + attributes)
    # Defined in a private module of the package but exported by a public subpackage
    # (`elbox.trainers._loop_steps.LoopSteps` is `elbox.training.LoopSteps`).
    for module in PUBLIC_MODULES:
        exported = getattr(importlib.import_module(module), attributes[0], None)
        if exported is None:
            continue
        try:
            for attribute in attributes[1:]:
                exported = getattr(exported, attribute)
        except AttributeError:
            continue
        if exported is found:
            return ".".join([module, *attributes])
    return identifier


def with_public_identifiers(page_html: str) -> str:
    """`page_html` with the identifier of each `<autoref>` made public where it can be
    (also a parameter used in an attribute's value,
    `elbox.data._shapes_grid.ShapesGrid(size)`)."""
    return _AUTOREF_IDENTIFIER.sub(
        lambda match: match[1] + public_identifier(match[2]) + match[3],
        page_html,
    )


def private_names(content: str) -> list[str]:
    """What a page's HTML shows of elbox's private names, described for a warning: hover
    text with a private path, a reference to a module-level elbox name that no page
    documents (members of documented classes may go undocumented), a private name."""
    found = []
    for title in _TITLE.findall(content):
        found += [
            f"hover text {path}"
            for path in _PRIVATE_PATH.findall(html.unescape(title))
        ]
    for path in _UNRESOLVED.findall(content):
        if _PRIVATE_PATH.fullmatch(path) or _is_module(path.rpartition(".")[0]):
            found.append(f"a reference to {path}, which no page documents")
    found += [
        f"the private name {name}" for name in _PRIVATE_TOKEN.findall(content)
    ]
    return sorted(set(found))
