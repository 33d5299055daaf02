"""The shape a newcomer relies on: no import cycles hidden inside functions,
every module importable first, and AC named only where the CRM is configured."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import crm_sync

PACKAGE = Path(crm_sync.__file__).parent
ROOT = PACKAGE.parent
MODULES = sorted(
    path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
)
# Django wants the app's imports in AppConfig.ready(); nothing else may import inside a function.
ALLOWED_IMPORTS_IN_FUNCTIONS = {("apps.py", "ready")}
# Where the CRM is chosen and configured, and the sandbox's own command.
CONFIGURATION = {"conf.py", "checks.py", "connection.py", "ac_sandbox.py"}


def module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_no_import_inside_a_function():
    found = []
    for path in MODULES:
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) \
                        and (path.name, function.name) not in ALLOWED_IMPORTS_IN_FUNCTIONS:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} in {function.name}()")
    assert found == []


# One interpreter that has imported nothing of crm_sync forks a child per
# module; each child imports its module first (fork keeps this quick).
FIRST_IMPORTS = """
import importlib, os, sys
import django

failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            try:
                importlib.import_module(name)
            except ImportError:
                raise
            except Exception:  # needs the app registry (models): not a cycle; again after django.setup()
                for loaded in [loaded for loaded in sys.modules if loaded.startswith("crm_sync")]:
                    del sys.modules[loaded]
                django.setup()
                importlib.import_module(name)
        except BaseException as error:
            print(f"{name}: {type(error).__name__}: {error}", flush=True)
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append(name)
sys.exit(1 if failed else 0)
"""


def test_each_module_imports_first_in_a_fresh_interpreter():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "badgemaker.settings"}
    names = [module_name(path) for path in MODULES]
    result = subprocess.run([sys.executable, "-c", FIRST_IMPORTS, *names], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert len(names) > 50  # every module was tried


def test_activecampaign_is_named_only_where_the_crm_is_configured():
    """Outside the AC package and the sandbox, the word appears only in
    configuration and in pointers to docs/activecampaign.md."""
    found = []
    for path in PACKAGE.rglob("*"):
        relative = path.relative_to(PACKAGE)
        if not path.is_file() or relative.parts[0] in ("activecampaign", "sandbox", "migrations") \
                or path.suffix not in (".py", ".html", ".json") or path.name in CONFIGURATION:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search("activecampaign", line.replace("docs/activecampaign.md", ""), re.IGNORECASE):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []
