"""The layering rules of the package, checked on its import graph (read with `ast`, nothing is
imported).

1. Only the web layer imports the web framework (FastAPI, Starlette) or another web module:
   the app, `deps`, the error handlers, the middleware (and the access log, metrics and docs
   pages beside it), the OpenAPI writer, the command line and every feature's `router` and
   `app` (the edge's). Services, repositories, schemas and the rest never do, so none of
   them loads the framework.
2. Feature packages (`hashshare.<feature>`) depend on each other one way: no cycle.
3. A feature reaches another feature's data through its service, never its `repository`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WEB_FRAMEWORKS = ("fastapi", "starlette")
WEB_MODULES = (
    "__main__",
    "app",
    "cli",
    "deps",
    "error_handlers",
    "middleware",
    "openapi",
    "accesslog",
    "apidocs",
    "metrics",
)


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. hashshare.hashes.service
    path: Path

    @property
    def feature(self) -> str | None:
        """The feature package the module belongs to (None for top-level modules)."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 2 else None

    @property
    def is_web(self) -> bool:
        parts = self.name.split(".")
        return parts[-1] in ("router", "app") or (len(parts) == 2 and parts[1] in WEB_MODULES)


def modules(root: Path) -> dict[str, Module]:
    """Every module of the package at `root` (a directory with `__init__.py`), by name."""
    found: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = Module(".".join(parts), path)
    return found


def imports(module: Module, known: dict[str, Module]) -> Iterator[str]:
    """The modules `module` imports, anywhere in its body (lazy imports count)."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if candidate in known:
                    yield candidate


def violations(root: Path) -> list[str]:
    """Every breach of the rules above in the package at `root`."""
    package = root.name
    known = modules(root)
    found: list[str] = []
    feature_edges: dict[str, set[str]] = {}
    for module in known.values():
        for target in sorted(set(imports(module, known))):
            top = target.split(".")[0]
            if not module.is_web:
                if top in WEB_FRAMEWORKS:
                    found.append(f"{module.name} imports the web framework ({target})")
                elif target in known and known[target].is_web:
                    found.append(f"{module.name} imports the web module {target}")
            if top != package or target not in known:
                continue
            other = known[target].feature
            if module.feature is None or other is None or other == module.feature:
                continue
            feature_edges.setdefault(module.feature, set()).add(other)
            if target.split(".")[-1] == "repository":
                found.append(f"{module.name} imports another feature's repository ({target})")
    found.extend(f"feature cycle: {' -> '.join(cycle)}" for cycle in _cycles(feature_edges))
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of features (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [_path_through(group, edges) for group in groups]


def _path_through(group: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A closed path through the group, starting at its first member."""
    members = set(group)
    start = group[0]
    path = [start]
    seen = {start}
    node = start
    while True:
        successors = sorted(edges.get(node, set()) & members)
        if start in successors and len(path) > 1:
            return [*path, start]
        unseen = [s for s in successors if s not in seen]
        if not unseen:
            return [*path, successors[0]]
        node = unseen[0]
        seen.add(node)
        path.append(node)
