"""The layering of docs/architecture.md, read from the code: shells (flows, portal, recflow) never
import each other; services import no shell and no web/CLI/orchestration framework; cores import
no shell, no services and no framework; no two modules of ours import each other in a circle.

Every import counts, also those inside functions (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELLS = {"flows", "portal", "recflow"}
CORES = {"catalog", "recorder", "triggers", "connectors", "templates"}
FRAMEWORKS = {"prefect", "fastapi", "typer", "starlette", "uvicorn"}
SKIP = {"tests", "benchmarks", "scripts"}


def module_imports(root: Path) -> dict[str, set[str]]:
    """Module name -> every module it imports (absolute names; ``from a import b`` adds both
    ``a`` and ``a.b``, since ``b`` may be a submodule)."""
    packages = {
        p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    } - SKIP
    out: dict[str, set[str]] = {}
    for pkg in sorted(packages):
        for f in (root / pkg).rglob("*.py"):
            rel = f.relative_to(root)
            if "migrations" in rel.parts:
                continue
            name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
            deps: set[str] = set()
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                if isinstance(node, ast.Import):
                    deps |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    deps.add(node.module)
                    deps |= {f"{node.module}.{a.name}" for a in node.names}
            out[name] = deps
    return out


def _top(module: str) -> str:
    return module.split(".")[0]


def layering_violations(imports: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in imports.items():
        layer = _top(mod)
        for dep in sorted({_top(d) for d in deps}):
            if layer in SHELLS and dep in SHELLS and dep != layer:
                bad.append(f"shell {mod} imports shell {dep}")
            elif layer == "services" and (dep in SHELLS or dep in FRAMEWORKS):
                bad.append(f"services module {mod} imports {dep}")
            elif layer in CORES and (dep in SHELLS or dep in FRAMEWORKS or dep == "services"):
                bad.append(f"core {mod} imports {dep}")
    return bad


def import_circles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    graph = {m: sorted(d for d in deps if d in imports and d != m) for m, deps in imports.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if i < len(graph[node]):
                work.append((node, i + 1))
                nxt = graph[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    circles.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return circles


def test_the_tree_keeps_its_layers() -> None:
    imports = module_imports(ROOT)
    assert any(_top(m) == "services" for m in imports), "services/ is missing"
    assert layering_violations(imports) == []


def test_the_tree_has_no_import_circles() -> None:
    assert import_circles(module_imports(ROOT)) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for parent in path.relative_to(tmp_path).parents:
            if str(parent) != ".":
                (tmp_path / parent / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"portal/a.py": "def f():\n    from recflow import cli\n"},
            "shell portal.a imports shell recflow",
        ),
        ({"flows/a.py": "import portal.app\n"}, "shell flows.a imports shell portal"),
        (
            {"services/a.py": "from prefect import flow\n"},
            "services module services.a imports prefect",
        ),
        ({"services/a.py": "import flows.worker\n"}, "services module services.a imports flows"),
        ({"catalog/a.py": "from services import x\n"}, "core catalog.a imports services"),
        ({"recorder/a.py": "import fastapi\n"}, "core recorder.a imports fastapi"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    imports = module_imports(_tree(tmp_path, files))
    assert expected in layering_violations(imports)


def test_allowed_imports_pass(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {
            "portal/a.py": "from services import b\nimport fastapi\nfrom catalog import c\n",
            "services/b.py": "from catalog import c\nfrom connectors import d\n",
            "catalog/c.py": "import sqlalchemy\n",
            "connectors/d.py": "from catalog.c import x\n",
        },
    )
    assert layering_violations(module_imports(tree)) == []


def test_a_circle_is_caught(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {
            "services/a.py": "from services.b import x\n",
            "services/b.py": "def f():\n    from services.c import y\n",
            "services/c.py": "import services.a\n",
            "services/d.py": "import services.a\n",
        },
    )
    assert import_circles(module_imports(tree)) == [["services.a", "services.b", "services.c"]]
