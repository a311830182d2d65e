# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Static checks of the addon layout: manifest, data files, dependencies, pure packages."""

import ast
import csv
import importlib
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = "office365_calendar_sync"
PURE_PACKAGES = ("services", "emulator")


def _manifest():
    return ast.literal_eval((ROOT / "__manifest__.py").read_text(encoding="utf-8"))


def _requirement_names():
    names = set()
    for raw in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0].lower())
    return names


def test_manifest_is_a_literal_with_required_keys():
    manifest = _manifest()
    for key in ("name", "version", "license", "author", "website", "depends", "data"):
        assert key in manifest, f"manifest lacks {key!r}"
    assert manifest["license"] == "LGPL-3"
    assert manifest.get("installable", True) is True
    assert {"mail", "calendar", "contacts", "hr_holidays"} <= set(manifest["depends"])
    assert manifest.get("development_status", "Alpha") in (
        "Alpha",
        "Beta",
        "Production/Stable",
        "Mature",
    )


def test_manifest_version_is_odoo_18_five_part():
    assert re.fullmatch(r"18\.0\.\d+\.\d+\.\d+", _manifest()["version"])


def test_every_listed_data_file_exists_and_is_listed_once():
    manifest = _manifest()
    listed = manifest.get("data", []) + manifest.get("demo", [])
    assert len(listed) == len(set(listed)), "a data file is listed twice"
    missing = [name for name in listed if not (ROOT / name).is_file()]
    assert not missing, f"manifest lists missing files: {missing}"


def test_every_data_and_view_file_on_disk_is_listed():
    manifest = _manifest()
    listed = set(manifest.get("data", []) + manifest.get("demo", []))
    on_disk = {
        str(path.relative_to(ROOT))
        for folder in ("data", "security", "views", "demo")
        for path in (ROOT / folder).glob("*")
        if path.suffix in (".xml", ".csv")
    }
    assert not on_disk - listed, f"files never loaded by the manifest: {sorted(on_disk - listed)}"


def test_access_csv_is_well_formed():
    path = ROOT / "security" / "ir.model.access.csv"
    if not path.exists():
        pytest.skip("no security/ir.model.access.csv yet")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "ir.model.access.csv has no row"
    expected = {
        "id",
        "name",
        "model_id:id",
        "group_id:id",
        "perm_read",
        "perm_write",
        "perm_create",
        "perm_unlink",
    }
    assert expected <= set(rows[0]), f"columns: {sorted(rows[0])}"
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "duplicate ids in ir.model.access.csv"
    for row in rows:
        for perm in ("perm_read", "perm_write", "perm_create", "perm_unlink"):
            assert row[perm] in ("0", "1"), f"{row['id']}: {perm}={row[perm]!r}"


@pytest.mark.parametrize(
    "module_name", _manifest().get("external_dependencies", {}).get("python", [])
)
def test_external_python_dependency_is_importable(module_name):
    importlib.import_module(module_name)


def test_external_dependencies_are_in_requirements():
    # Import name -> distribution name where they differ.
    distributions = {"dateutil": "python-dateutil"}
    required = _requirement_names()
    for module_name in _manifest().get("external_dependencies", {}).get("python", []):
        assert distributions.get(module_name, module_name).lower() in required, module_name


def _python_files(package):
    return sorted((ROOT / package).rglob("*.py"))


def _imported_roots(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value.split(".")[0]


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_never_import_odoo(package):
    offenders = []
    for path in _python_files(package):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, root in _imported_roots(tree):
            if root in ("odoo", "openerp"):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {root}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_use_relative_imports_for_themselves(package):
    offenders = []
    own_roots = {*PURE_PACKAGES, MODULE}
    for path in _python_files(package):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, root in _imported_roots(tree):
            if root in own_roots:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {root} absolutely")
    assert not offenders, "\n".join(offenders)


def test_import_checker_sees_odoo_imports():
    # The checks above must be able to fail: feed them code that imports odoo every way.
    source = (
        "import odoo\n"
        "from odoo import fields\n"
        "import importlib\n"
        "importlib.import_module('odoo.addons.base')\n"
        "from .local import thing\n"
    )
    roots = [root for _, root in _imported_roots(ast.parse(source))]
    assert roots.count("odoo") == 3
    assert "local" not in roots


def test_every_python_file_of_the_addon_compiles():
    skip = {".venv", "build", ".git", "node_modules"}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [name for name in dirs if name not in skip and not name.startswith(".")]
        for name in files:
            if name.endswith(".py"):
                path = Path(folder, name)
                compile(path.read_text(encoding="utf-8"), str(path), "exec")
