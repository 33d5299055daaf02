"""The AC package is a client and nothing else: it imports without Django
settings, and depends on nothing in crm_sync outside itself but the
Django-free modules every CRM shares (SHARED)."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import crm_sync

ROOT = Path(crm_sync.__file__).parent.parent
PACKAGE = ROOT / "crm_sync" / "activecampaign"
# Outside the package, only these: plain Python, no Django, no other crm_sync module.
# (crm_sync.schema: the report rows of the account's schema check.)
SHARED = {"crm_sync", "crm_sync.errors", "crm_sync.crm", "crm_sync.schema"}


def test_the_client_imports_in_a_fresh_process_without_django_settings():
    code = "\n".join([
        "import sys",
        "import crm_sync.activecampaign.client, crm_sync.activecampaign.payloads",
        "print('django' in sys.modules)",
        "print(sorted(name for name in sys.modules if name.startswith('crm_sync')))",
        "import django.conf",
        "print(django.conf.settings.configured)",
    ])
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    django_imported, modules, configured = result.stdout.splitlines()
    assert django_imported == "False"
    modules = ast.literal_eval(modules)
    assert "crm_sync.models" not in modules and "crm_sync.conf" not in modules
    assert {name for name in modules if not name.startswith("crm_sync.activecampaign")} <= SHARED
    assert configured == "False"


def imports(path, package):
    """The absolute names of the modules `path` (a module of `package`) imports."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, [base, node.module]))
            yield module if node.module or not node.level else f"{module}.{node.names[0].name}"


def test_no_module_of_the_package_imports_django_or_the_rest_of_crm_sync():
    for path in PACKAGE.glob("*.py"):
        for name in imports(path, "crm_sync.activecampaign"):
            if name.startswith("crm_sync.activecampaign") or name == "crm_sync.__version__":
                continue
            assert not name.startswith(("django", "redis", "celery")), f"{path.name} imports {name}"
            if name.startswith("crm_sync"):
                assert name in SHARED, f"{path.name} imports {name}, outside the AC package"


def test_the_shared_modules_are_django_free_themselves():
    for name in SHARED - {"crm_sync"}:
        path = ROOT / (name.replace(".", "/") + ".py")
        for imported in imports(path, "crm_sync"):
            assert not imported.startswith(("django", "crm_sync")), f"{name} imports {imported}"
