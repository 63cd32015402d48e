"""The package's layers and their import rules (docs/architecture.md), read from the source.

- the core (charlm/*.py) imports no subpackage; charlm/__main__.py is the command line, above
  every layer;
- charlm.stats imports neither torch nor anything that reads or writes files;
- charlm.report imports no torch, directly or through what it imports;
- no module is over 320 lines;
- no import is made inside a function (to dodge a cycle or torch), but of the optional
  dependencies (Ray, ipywidgets, TensorBoard) and in the command line, which loads a command's
  modules when that command runs.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "charlm"
SUBPACKAGES = ("stats", "scale", "experiment", "report")
MODULES = sorted(PACKAGE.rglob("*.py"))
OPTIONAL = ("ray", "ipywidgets", "torch.utils.tensorboard")  # optional extras
FILE_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "read_csv",
              "to_csv", "load", "dump", "save", "mkdir", "unlink"}


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")


def _imports(path: Path, inside_functions: bool = False) -> list[str]:
    """The modules `path` imports (at module level, or only those imported in functions)."""
    tree = ast.parse(path.read_text())
    nodes = ast.walk(tree) if not inside_functions else (
        n for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for n in ast.walk(fn))
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in SUBPACKAGES else "core"


CORE = [p for p in MODULES if _layer(_name(p)) == "core" and p.name != "__main__.py"]


def test_the_layers_exist_and_hold_the_modules():
    for sub in SUBPACKAGES:
        assert (PACKAGE / sub / "__init__.py").exists()
    assert {p.name for p in CORE} >= {"errors.py", "config.py", "data.py", "kinds.py",
                                      "train.py", "evaluate.py", "checkpoint.py", "generate.py"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_the_core_imports_no_subpackage(path):
    higher = [m for m in _imports(path) if m.startswith("charlm.") and _layer(m) != "core"]
    assert not higher, f"{path.name} imports {higher}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "stats").glob("*.py")), ids=lambda p: p.name)
def test_stats_imports_neither_torch_nor_files(path):
    imports = _imports(path)
    assert not [m for m in imports if m.split(".")[0] == "torch"]
    allowed = ("charlm.stats", "charlm.errors", "charlm.config", "charlm.reference",
               "charlm.kinds")
    assert not [m for m in imports if m.startswith("charlm") and not m.startswith(allowed)]
    assert not [m for m in imports if m.split(".")[0] in ("pathlib", "os", "io", "json")]
    calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
             for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)}
    assert not calls & FILE_CALLS, f"{path.name} calls {calls & FILE_CALLS}"


def test_the_report_imports_no_torch():
    modules = [_name(p) for p in sorted((PACKAGE / "report").glob("*.py"))]
    code = (f"import sys; import {', '.join(modules)}; "
            "print('torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('ray')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split(maxsplit=1)
    assert out[0] == "False", "importing charlm.report loads torch"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p))
def test_no_module_is_over_320_lines(path):
    assert len(path.read_text().splitlines()) <= 320


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != "__main__.py"],
                         ids=lambda p: _name(p))
def test_no_import_inside_a_function_but_optional_dependencies(path):
    inner = [m for m in _imports(path, inside_functions=True)
             if not any(m == o or m.startswith(o + ".") for o in OPTIONAL)]
    assert not inner, f"{_name(path)} imports {inner} inside a function"


def test_the_rules_would_catch_a_breach(tmp_path):
    """The checks above read real imports: a core module importing the report fails them."""
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nfrom charlm.report import sections\n\n\ndef f():\n"
                   "    from charlm.experiment import run\n")
    assert "charlm.report" in _imports(bad)
    assert _layer("charlm.report.sections") == "report"
    assert _imports(bad, inside_functions=True) == ["charlm.experiment",
                                                    "charlm.experiment.run"]


def test_the_code_and_the_notebooks_pass_ruff():
    pytest.importorskip("ruff", reason="needs the dev extra")
    root = PACKAGE.parent
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "charlm", "tests", ".ci",
                           "benchmarks", "notebooks"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
