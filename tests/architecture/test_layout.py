"""The architecture, checked: imports go one way, kernels <- network <- data <- experiments /
analysis / profiling <- scripts (train.py, evaluate.py, scripts/, and every package's __main__.py:
an entry point sits on top, so `python -m kernels` may use profiling's cases); every command the
README lists answers --help; the test folders cannot shadow the project's packages."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: package -> layer; a module may import its own package and lower layers only
LAYERS = {"kernels": 0, "network": 1, "data": 2, "experiments": 3, "analysis": 3, "profiling": 3}
SCRIPTS = ["train.py", "evaluate.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scripts").glob("*.py"))]
ENTRY_POINTS = [["train.py"], ["evaluate.py"], ["scripts/make_notebook.py"], ["-m", "data"], ["-m", "experiments"],
                ["-m", "experiments.tables"], ["-m", "analysis"], ["-m", "analysis.demo"], ["-m", "kernels"],
                ["-m", "profiling.bench_kernels"], ["-m", "profiling.bench_epoch"], ["-m", "profiling.line_report"],
                ["-m", "network.warmup"]]


def imported_packages(path):
    """(line, top-level name) of every import in the file, at any depth (lazy imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def project_files():
    for pkg in LAYERS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield ("scripts" if path.name == "__main__.py" else pkg), path
    for script in SCRIPTS:
        yield "scripts", ROOT / script


def test_imports_only_go_down_the_layers():
    upward = []
    for pkg, path in project_files():
        layer = LAYERS.get(pkg, max(LAYERS.values()) + 1)
        for line, name in imported_packages(path):
            if name in LAYERS and name != pkg and LAYERS[name] >= layer:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({pkg}) imports {name}")
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_the_layering_check_sees_lazy_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import numpy\n\ndef f():\n    from data.load import load_mnist\n    import experiments.grid\n")
    assert [n for _, n in imported_packages(f)] == ["numpy", "data", "experiments"]


def test_test_folders_cannot_shadow_the_packages():
    """Test folders carry no __init__.py (a tests/data/__init__.py would make `import data` find
    the tests), so every test module is imported by its basename: basenames must be unique."""
    tests = ROOT / "tests"
    shadowing = [str(p.relative_to(ROOT)) for p in tests.glob("*/__init__.py")]
    assert not shadowing, f"remove {shadowing}: test folders are not packages"
    names = [p.name for p in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


@pytest.mark.parametrize("command", ENTRY_POINTS, ids=[" ".join(c) for c in ENTRY_POINTS])
def test_every_entry_point_answers_help(command):
    r = subprocess.run([sys.executable, *command, "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "MNIST_CACHE_DIR": "/nonexistent/should-not-be-read"})
    assert r.returncode == 0 and "usage:" in r.stdout, r.stderr
