"""The apps depend one way: analytics -> progress -> workshop (docs/architecture.md)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What each app's code may import of the other apps. progress records its events through
# analytics.events (and names them with analytics.models): the one documented bend.
ALLOWED = {
    "workshop": set(),
    "progress": {"workshop", "analytics.events", "analytics.models"},
    "analytics": {"workshop", "progress"},
}


def _imports(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return modules


def _allowed(module: str, allowed: set[str]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in allowed)


@pytest.mark.parametrize("app", sorted(ALLOWED))
def test_application_code_imports_only_downward(app):
    wrong = []
    for path in sorted((ROOT / app).rglob("*.py")):
        if "tests" in path.relative_to(ROOT).parts:
            continue  # tests may build fixtures from any app
        for module in _imports(path):
            top = module.split(".")[0]
            if top in ALLOWED and top != app and not _allowed(module, ALLOWED[app]):
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_the_check_sees_imports():
    # Guards the test above against finding nothing because it reads nothing.
    assert "workshop.models" in _imports(ROOT / "progress" / "models.py")
