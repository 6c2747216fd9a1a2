"""`workers` imports `api`, never the reverse: the API only names tasks, the worker runs them."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "api"
# Settings modules other than the test one refuse to load here; wsgi/asgi would set up Django again.
SKIPPED = ("api.settings.", "api.wsgi", "api.asgi")


def _imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_module_under_api_imports_workers():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imported_modules(path) if name == "workers" or name.startswith("workers.")
        )
        for path in sorted(API.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_loading_every_api_module_leaves_workers_unimported():
    """Transitively too: importing all of `api` (views, services, admin, commands) never loads `workers`."""
    script = (
        f"import django, importlib, pkgutil, sys; django.setup(); import api; SKIPPED = {SKIPPED!r}; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(api.__path__, 'api.') "
        "if not m.name.startswith(SKIPPED)]; "
        "print(sorted(m for m in sys.modules if m == 'workers' or m.startswith('workers.')))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "api.settings.test"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
