#!/usr/bin/env python3
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Run every test suite of the addon and print one closing line ``N passed, N failed``.

Standard library only: it runs before any dependency is installed in the Odoo interpreter.

1. Pure tests (``tests/pure``) with pytest; counts come from pytest's JUnit XML report.
2. Odoo tests, when an Odoo 18 server is found (``ODOO_BIN``, else ``odoo`` on PATH):
   the addon's Python dependencies are made importable by the server's interpreter
   (``ODOO_PYTHON``, else the launcher's shebang), PostgreSQL is installed/started when
   needed, a throw-away database is created, the addon is installed with its tests, then
   upgraded (``-u``) and uninstalled; the database is always dropped at the end.

The last line printed is ``N passed, N failed`` (both suites; errors count as failed) and the
exit status is non-zero on any failure. Skipped tests are never counted as passed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import getpass
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE = "office365_calendar_sync"
BUILD = ROOT / "build"
# Final reports; while running, each run writes to files named after its process id so that two
# runs in one checkout never share a file, an addons folder or a database.
ODOO_LOG = BUILD / "odoo-test.log"
JUNIT_XML = BUILD / "pytest-junit.xml"
RUN_ID = os.getpid()
REQUIRED_MAJOR = 18

# Time limits (seconds) so a hung server never eats the whole CI budget (90 minutes).
PURE_TIMEOUT = int(os.environ.get("O365_TEST_PURE_TIMEOUT", 10 * 60))
INSTALL_TIMEOUT = int(os.environ.get("O365_TEST_INSTALL_TIMEOUT", 45 * 60))
UPGRADE_TIMEOUT = int(os.environ.get("O365_TEST_UPGRADE_TIMEOUT", 10 * 60))
UNINSTALL_TIMEOUT = int(os.environ.get("O365_TEST_UNINSTALL_TIMEOUT", 10 * 60))

HOW_TO_PROVIDE_ODOO = (
    "To run the Odoo tests, provide an Odoo 18 server, one of:\n"
    "  ODOO_SRC=/path/to/odoo-18.0-src.tar.xz (or .tar.gz, or a source folder): set up in build/\n"
    "    e.g. git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git ~/src/odoo\n"
    "    then ODOO_SRC=~/src/odoo make test\n"
    "  ODOO_BIN=/path/to/odoo-bin (or an odoo launcher script), with ODOO_PYTHON=/path/to/python\n"
    "    when the server's interpreter is not the one named in that script's shebang line\n"
    "  an `odoo` command on PATH"
)
# Under CI a suite or test that did not run is a failure: a green line must mean everything ran.
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

LOG_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z?]+) (?P<db>\S+) "
    r"(?P<logger>[^\s:]+): (?P<msg>.*)$"
)
SUMMARY_RE = re.compile(
    r"(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<run>\d+) tests "
    r"when loading database"
)
SKIP_RE = re.compile(r"^skipped \S+ : ")
# The line behind which a function run by :func:`odoo_shell` hands back its JSON result.
SHELL_RESULT = "O365-SHELL-RESULT "
# This folder as Odoo imports it: the functions run by :func:`odoo_shell` live in its modules.
PACKAGE = f"odoo.addons.{MODULE}.tools"
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


class Interrupted(Exception):
    """Raised from the SIGTERM handler so that clean-up (drop database) still runs."""


def _on_sigterm(signum, frame):
    raise Interrupted(f"received signal {signum}")


# --------------------------------------------------------------------------- output helpers


def say(text: str = "") -> None:
    print(text, flush=True)


def section(title: str) -> None:
    say()
    say("=" * 78)
    say(f"== {title}")
    say("=" * 78)


def show_cmd(cmd: list[str]) -> None:
    say("$ " + " ".join(_quote(c) for c in cmd))


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else repr(arg)


@dataclass
class Tally:
    """Counts of one suite or check group."""

    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failed += 1
        self.problems.append(message)
        say(f"!! FAILURE ({self.name}): {message}")


def run(cmd, *, check=False, capture=False, env=None, cwd=None, quiet=False, input_text=None):
    """Run a command, echoing it first. Returns the CompletedProcess."""
    if not quiet:
        show_cmd([str(c) for c in cmd])
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd or ROOT,
        env=env,
        text=True,
        input=input_text,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        check=False,
    )
    if check and proc.returncode != 0:
        out = (proc.stdout or "").strip()
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{out}")
    return proc


# --------------------------------------------------------------------------- pure tests


def venv_python() -> str:
    candidate = ROOT / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def parse_junit(path: Path, skip_reasons: list[str] | None = None):
    """Return (passed, failed, skipped, failed test names) from a JUnit XML report; the skipped
    tests and their reasons are appended to ``skip_reasons`` when given."""
    tree = ET.parse(path)
    passed = failed = skipped = 0
    names = []
    for case in tree.getroot().iter("testcase"):
        tags = {child.tag for child in case}
        label = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
        if tags & {"failure", "error"}:
            failed += 1
            names.append(label)
        elif "skipped" in tags:
            skipped += 1
            if skip_reasons is not None:
                reason = case.find("skipped").get("message", "")
                skip_reasons.append(f"{label} : {reason}"[:300])
        else:
            passed += 1
    return passed, failed, skipped, names


def run_pure_tests(extra_args: list[str]) -> Tally:
    tally = Tally("pure tests")
    section("Pure tests: pytest tests/pure (no Odoo needed)")
    BUILD.mkdir(exist_ok=True)
    junit = BUILD / f"pytest-junit-{RUN_ID}.xml"
    if junit.exists():
        junit.unlink()
    cmd = [
        venv_python(),
        "-m",
        "pytest",
        "tests/pure",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
        "-rfEs",
        *extra_args,
    ]
    started = time.monotonic()
    show_cmd(cmd)
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    try:
        rc = proc.wait(timeout=PURE_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        tally.fail(f"pytest did not finish within {PURE_TIMEOUT}s and was stopped")
        return tally
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    say(f"-- pytest exited with {rc} after {time.monotonic() - started:.1f}s")
    if rc == 5:
        tally.notes.append("pytest collected no test")
        say("-- pytest collected no test (exit code 5): nothing counted")
        return tally
    if not junit.exists():
        tally.fail(f"pytest exited with {rc} and wrote no JUnit report")
        return tally
    skip_reasons: list[str] = []
    try:
        passed, failed, skipped, names = parse_junit(junit, skip_reasons)
    except ET.ParseError as exc:
        tally.fail(f"unreadable JUnit report {junit}: {exc}")
        return tally
    finally:
        if junit.exists():
            os.replace(junit, JUNIT_XML)
    tally.passed = passed
    tally.failed += failed
    if IN_CI:
        for reason in skip_reasons:
            tally.fail(f"skipped under CI=true: {reason}")
    else:
        tally.skipped = skipped
    tally.problems.extend(f"pytest: {name}" for name in names)
    if rc not in (0, 1, 5) or (rc != 0 and failed == 0):
        tally.fail(f"pytest exited with {rc} (interrupted, internal or usage error)")
    return tally


# --------------------------------------------------------------------------- Odoo detection


@dataclass
class OdooServer:
    launcher: str
    command: list[str]
    python: str | None
    version: str
    addons_dirs: list[str] = field(default_factory=list)


def _server_addons_dirs(launcher: str) -> list[str]:
    """Core addons folders to put on --addons-path besides ours.

    A source checkout's ``odoo-bin`` only adds ``odoo/addons`` by itself, not ``addons``
    (mail, calendar, ...). ``ODOO_ADDONS_PATH`` adds more (comma-separated).
    """
    dirs = []
    base = Path(os.path.realpath(launcher)).parent
    if (base / "odoo" / "__init__.py").is_file():
        dirs += [str(d) for d in (base / "odoo" / "addons", base / "addons") if d.is_dir()]
    dirs += [d for d in os.environ.get("ODOO_ADDONS_PATH", "").split(",") if d.strip()]
    return dirs


def _shebang_interpreter(path: str) -> str | None:
    """The interpreter a script's ``#!`` line resolves to, if it is a Python interpreter."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(512).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    parts = first[2:].split()
    if not parts:
        return None
    if os.path.basename(parts[0]) == "env":
        rest = [p for p in parts[1:] if not p.startswith("-") and "=" not in p]
        if not rest:
            return None
        interpreter = shutil.which(rest[0])
    else:
        interpreter = parts[0]
    if not interpreter or not os.path.basename(interpreter).startswith("python"):
        return None
    return interpreter if os.access(interpreter, os.X_OK) else None


def find_odoo(tally: Tally, *, from_source: bool = True) -> OdooServer | None:
    """Locate an Odoo 18 server: ``ODOO_BIN``, else ``odoo``/``odoo-bin`` on PATH, else one set
    up from ``ODOO_SRC``. None means: no server (skip); problems are recorded in ``tally``."""
    explicit = os.environ.get("ODOO_BIN")
    if explicit:
        launcher = shutil.which(explicit) or explicit
        if not os.path.isfile(launcher):
            tally.fail(f"ODOO_BIN={explicit} does not exist")
            return None
        return _probe_server(tally, launcher, os.environ.get("ODOO_PYTHON"), "ODOO_BIN", True)
    launcher = shutil.which("odoo") or shutil.which("odoo-bin")
    if launcher:
        server = _probe_server(tally, launcher, os.environ.get("ODOO_PYTHON"), "PATH", False)
        if server is not None or tally.failed:
            return server
    source = os.environ.get("ODOO_SRC") or previous_odoo_source()
    if from_source and source:
        return server_from_source(tally, source)
    return None


def previous_odoo_source() -> str | None:
    """The archive ``build/odoo-src`` was unpacked from, while it is still there: once
    ``ODOO_SRC`` set Odoo up, the other make targets find it without being told again."""
    stamp = ODOO_SRC_DIR / ".source-stamp"
    try:
        source = stamp.read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None
    if not os.path.isfile(source):
        return None
    say(f"-- ODOO_SRC not set: using {source}, which build/ was set up from")
    return source


def _probe_server(
    tally: Tally, launcher: str, python: str | None, origin: str, strict: bool
) -> OdooServer | None:
    """The server behind ``launcher`` if it answers ``--version`` with 18.x. ``strict``: a
    launcher the user named explicitly; its problems are failures, not a quiet fall-through."""
    launcher = os.path.abspath(launcher)
    python = python or _shebang_interpreter(launcher)
    if os.environ.get("ODOO_PYTHON") or origin == "ODOO_SRC":
        command = [python, launcher]
    elif os.access(launcher, os.X_OK):
        command = [launcher]
    elif python:
        command = [python, launcher]
    else:
        tally.fail(f"{launcher} is not executable and no interpreter found (set ODOO_PYTHON)")
        return None
    say(f"-- Odoo launcher ({origin}): {launcher}")
    say(f"-- Odoo interpreter: {python or 'unknown (set ODOO_PYTHON)'}")
    proc = run([*command, "--version"], capture=True)
    output = ANSI_RE.sub("", proc.stdout or "")
    say(output.strip())
    match = re.search(r"[Ss]erver\s+(\d+)\.(\d+)", output) or re.search(r"\b(\d+)\.(\d+)\b", output)
    if proc.returncode != 0 or not match:
        message = (
            f"`{' '.join(command)} --version` failed (exit {proc.returncode}); "
            "is ODOO_PYTHON the server's interpreter?"
        )
        if strict:
            tally.fail(message)
        else:
            say(f"-- {message}")
        return None
    version = f"{match.group(1)}.{match.group(2)}"
    if int(match.group(1)) != REQUIRED_MAJOR:
        message = f"{launcher} is Odoo {version}, this addon needs Odoo {REQUIRED_MAJOR}"
        if strict:
            tally.fail(message)
        else:
            say(f"-- {message}")
        return None
    return OdooServer(
        launcher=launcher,
        command=command,
        python=python,
        version=version,
        addons_dirs=_server_addons_dirs(launcher),
    )


# --------------------------------------------------------------------------- Odoo from source

ODOO_SRC_DIR = BUILD / "odoo-src"
ODOO_VENV = BUILD / "odoo-venv"
ARCHIVE_SUFFIXES = (".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar")
# Some of Odoo 18's pinned packages (for Python 3.11) only build with an older setuptools.
PIP_SETUPTOOLS_CONSTRAINT = "setuptools<70"
# Left out of Odoo's requirements: it compiles against OpenLDAP headers and only auth_ldap uses it.
SKIPPED_ODOO_REQUIREMENTS = ("python-ldap",)
# The browser tours drive Chromium through its DevTools websocket.
TOUR_REQUIREMENTS = ("websocket-client",)


@contextlib.contextmanager
def _build_lock(name: str):
    """Serialize one set-up step between concurrent runs in the same checkout."""
    import fcntl  # noqa: PLC0415 (POSIX only, like the rest of the set-up)

    BUILD.mkdir(exist_ok=True)
    with open(BUILD / f".{name}.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp_ok(stamp: Path, expected: str) -> bool:
    try:
        return stamp.read_text(encoding="utf-8") == expected
    except OSError:
        return False


def _odoo_tree(root: Path) -> Path | None:
    """The folder holding ``odoo-bin`` and ``odoo/``: ``root`` or its single child."""
    candidates = [root, *(sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])]
    for candidate in candidates:
        if (candidate / "odoo-bin").is_file() and (candidate / "odoo" / "__init__.py").is_file():
            return candidate
    return None


def unpack_odoo_source(tally: Tally, source: str) -> Path | None:
    """The Odoo source tree of ``ODOO_SRC``: the folder itself, or the archive unpacked once
    into ``build/odoo-src`` (unpacked again only when the archive changes)."""
    path = Path(source).expanduser().resolve()
    if path.is_dir():
        tree = _odoo_tree(path)
        if tree is None:
            tally.fail(f"ODOO_SRC={source}: no odoo-bin and odoo/ package in that folder")
        return tree
    if not path.is_file() or not path.name.endswith(ARCHIVE_SUFFIXES):
        tally.fail(
            f"ODOO_SRC={source} is neither an Odoo source folder nor a .tar.xz/.tar.gz archive"
        )
        return None
    info = path.stat()
    stamp_text = f"{path}\n{info.st_size}\n{info.st_mtime_ns}\n"
    stamp = ODOO_SRC_DIR / ".source-stamp"
    with _build_lock("odoo-src"):
        if _stamp_ok(stamp, stamp_text) and (tree := _odoo_tree(ODOO_SRC_DIR / "tree")):
            say(f"-- ODOO_SRC: reusing {tree} (archive unchanged)")
            return tree
        section(f"Odoo from ODOO_SRC: unpacking {path.name}")
        shutil.rmtree(ODOO_SRC_DIR, ignore_errors=True)
        staging = ODOO_SRC_DIR / "tree.partial"
        staging.mkdir(parents=True)
        started = time.monotonic()
        if run(["tar", "-xf", str(path), "-C", str(staging)]).returncode != 0:
            shutil.rmtree(ODOO_SRC_DIR, ignore_errors=True)
            tally.fail(f"could not unpack ODOO_SRC={source}")
            return None
        staging.rename(ODOO_SRC_DIR / "tree")
        tree = _odoo_tree(ODOO_SRC_DIR / "tree")
        if tree is None:
            tally.fail(f"ODOO_SRC={source}: the archive holds no odoo-bin and odoo/ package")
            return None
        stamp.write_text(stamp_text, encoding="utf-8")
        say(f"-- unpacked into {tree} in {time.monotonic() - started:.0f}s")
        return tree


def _odoo_requirements(tree: Path) -> str:
    """Odoo's requirements.txt without the packages this project never needs."""
    kept = []
    for line in (tree / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name = re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0].lower()
        if name not in SKIPPED_ODOO_REQUIREMENTS:
            kept.append(line)
    return "\n".join(kept) + "\n"


def odoo_venv(tally: Tally, tree: Path) -> str | None:
    """A virtual environment with Odoo's pinned requirements, the addon's and the tours' (made
    once in ``build/odoo-venv``; made again when any of those lists or the interpreter change)."""
    requirements = _odoo_requirements(tree)
    ours = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    base = getattr(sys, "_base_executable", None) or sys.executable
    stamp_text = "\n".join(
        [sys.version, base, requirements, ours, *TOUR_REQUIREMENTS, PIP_SETUPTOOLS_CONSTRAINT]
    )
    python = ODOO_VENV / "bin" / "python"
    stamp = ODOO_VENV / ".requirements-stamp"
    with _build_lock("odoo-venv"):
        if python.exists() and _stamp_ok(stamp, stamp_text):
            say(f"-- ODOO_SRC: reusing the virtual environment {ODOO_VENV}")
            return str(python)
        section(f"Odoo from ODOO_SRC: virtual environment {ODOO_VENV}")
        shutil.rmtree(ODOO_VENV, ignore_errors=True)
        started = time.monotonic()
        if run([base, "-m", "venv", str(ODOO_VENV)]).returncode != 0:
            tally.fail(f"{base} -m venv {ODOO_VENV} failed (install python3-venv)")
            return None
        req_file = ODOO_VENV / "odoo-requirements.txt"
        req_file.write_text(requirements, encoding="utf-8")
        constraint = ODOO_VENV / "pip-constraint.txt"
        constraint.write_text(PIP_SETUPTOOLS_CONSTRAINT + "\n", encoding="utf-8")
        env = dict(os.environ, PIP_CONSTRAINT=str(constraint), PIP_DISABLE_PIP_VERSION_CHECK="1")
        cmd = [
            str(python), "-m", "pip", "install", "--quiet",
            "-r", str(req_file), "-r", str(ROOT / "requirements.txt"), *TOUR_REQUIREMENTS,
        ]  # fmt: skip
        proc = run(cmd, env=env, capture=True)
        if proc.returncode != 0:
            say((proc.stdout or "").strip()[-4000:])
            tally.fail("pip could not install Odoo's requirements into " + str(ODOO_VENV))
            return None
        stamp.write_text(stamp_text, encoding="utf-8")
        say(f"-- installed in {time.monotonic() - started:.0f}s")
        return str(python)


def server_from_source(tally: Tally, source: str) -> OdooServer | None:
    """The Odoo 18 server of ``ODOO_SRC``, unpacked and given its interpreter when needed."""
    section(f"Odoo from ODOO_SRC={source}")
    tree = unpack_odoo_source(tally, source)
    if tree is None:
        return None
    python = odoo_venv(tally, tree)
    if python is None:
        return None
    return _probe_server(tally, str(tree / "odoo-bin"), python, "ODOO_SRC", True)


# --------------------------------------------------------------------------- Python deps


def _manifest() -> dict:
    return ast.literal_eval((ROOT / "__manifest__.py").read_text(encoding="utf-8"))


def _requirement_names(path: Path) -> list[str]:
    names = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0]
        if name:
            names.append(name)
    return names


DEPS_CHECK = """
import importlib, importlib.metadata, sys
missing = []
for name in filter(None, sys.argv[1].split(",")):
    try:
        importlib.import_module(name)
    except Exception as exc:
        missing.append("import %s (%s)" % (name, exc.__class__.__name__))
for dist in filter(None, sys.argv[2].split(",")):
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        missing.append("distribution %s" % dist)
print("missing: " + ", ".join(missing) if missing else "all present")
sys.exit(1 if missing else 0)
"""


def ensure_python_deps(server: OdooServer, tally: Tally) -> bool:
    section("Odoo interpreter: the addon's Python dependencies")
    if not server.python:
        say("-- interpreter unknown: cannot check dependencies (set ODOO_PYTHON); going on")
        tally.notes.append("Python dependencies of the Odoo interpreter not checked")
        return True
    modules = list(_manifest().get("external_dependencies", {}).get("python", []))
    modules += ["cryptography", "websocket"]  # websocket: Odoo's browser tours need it
    dists = [*_requirement_names(ROOT / "requirements.txt"), *TOUR_REQUIREMENTS]
    check = [server.python, "-c", DEPS_CHECK, ",".join(modules), ",".join(dists)]
    say(f"-- {server.python}: import {', '.join(modules)}")
    proc = run(check, capture=True, quiet=True)
    say((proc.stdout or "").strip())
    if proc.returncode == 0:
        return True
    pip = [
        server.python, "-m", "pip", "install", "-r", str(ROOT / "requirements.txt"),
        *TOUR_REQUIREMENTS,
    ]  # fmt: skip
    proc = run(pip, capture=True)
    say((proc.stdout or "").strip()[-3000:])
    if proc.returncode != 0 and "externally-managed-environment" in (proc.stdout or ""):
        say("-- pip refused (externally managed environment): retry with --break-system-packages")
        proc = run([*pip, "--break-system-packages"], capture=True)
        say((proc.stdout or "").strip()[-3000:])
    proc = run(check, capture=True, quiet=True)
    say((proc.stdout or "").strip())
    if proc.returncode != 0:
        tally.fail(
            f"the Odoo interpreter {server.python} still lacks the addon's dependencies "
            "(install requirements.txt into it)"
        )
        return False
    return True


# --------------------------------------------------------------------------- PostgreSQL


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _os_user() -> str:
    return getpass.getuser()


def _psql_ok() -> bool:
    if not shutil.which("psql"):
        return False
    proc = run(["psql", "-d", "postgres", "-tAc", "select 1"], capture=True, quiet=True)
    return proc.returncode == 0 and proc.stdout.strip().endswith("1")


def _wait_ready(seconds: int = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if shutil.which("pg_isready"):
            if run(["pg_isready", "-q"], quiet=True).returncode == 0:
                return True
        elif _psql_ok():
            return True
        time.sleep(1)
    return False


def pg_versions() -> list[str]:
    """The PostgreSQL server versions Debian installed (``/usr/lib/postgresql/N``), oldest first."""
    folder = "/usr/lib/postgresql"
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted((name for name in names if name.isdigit()), key=int)


def ensure_postgres(tally: Tally) -> bool:
    section("PostgreSQL")
    if os.environ.get("PGHOST") or os.environ.get("PGUSER"):
        say(
            f"-- PGHOST={os.environ.get('PGHOST', '')} PGUSER={os.environ.get('PGUSER', '')} set: "
            "using that server as configured, no local set-up"
        )
        return True
    if not (shutil.which("psql") and shutil.which("pg_ctlcluster")):
        if _is_root() and shutil.which("apt-get"):
            say("-- PostgreSQL not installed: installing it from Debian")
            apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            run(["apt-get", "update"], env=apt_env)
            if run(["apt-get", "install", "-y", "postgresql"], env=apt_env).returncode != 0:
                tally.fail("apt-get install postgresql failed")
                return False
        elif not shutil.which("psql"):
            tally.fail("PostgreSQL is not installed and cannot be installed (not root on Debian)")
            return False
    if shutil.which("pg_lsclusters"):
        listing = run(["pg_lsclusters", "--no-header"], capture=True).stdout or ""
        say(listing.rstrip())
        clusters = [line.split() for line in listing.splitlines() if line.strip()]
        if not clusters and shutil.which("pg_createcluster"):
            versions = pg_versions()
            if versions:
                run(["pg_createcluster", versions[-1], "main", "--start"])
        if clusters and not any(len(parts) >= 4 and parts[3] == "online" for parts in clusters):
            # Start one cluster, the newest version's (pg_lsclusters lists versions ascending).
            version, name = clusters[-1][0], clusters[-1][1]
            if run(["pg_ctlcluster", version, name, "start"]).returncode != 0 and shutil.which(
                "service"
            ):
                run(["service", "postgresql", "start"])
    elif not _wait_ready(2) and shutil.which("service"):
        run(["service", "postgresql", "start"])
    if not _wait_ready(60):
        tally.fail("PostgreSQL does not accept connections (pg_isready)")
        return False
    user = _os_user()
    if not _psql_ok():
        if _is_root() and user != "postgres":
            say(f"-- creating PostgreSQL superuser role {user!r}")
            run(["su", "postgres", "-s", "/bin/sh", "-c", f"createuser -s {user}"])
        if not _psql_ok():
            tally.fail(
                f"cannot connect to PostgreSQL as {user!r}: create that role "
                f"(su postgres -c 'createuser -s {user}') or set PGHOST/PGUSER/PGPASSWORD"
            )
            return False
    say(f"-- PostgreSQL ready, connecting as {os.environ.get('PGUSER') or user!r}")
    return True


# --------------------------------------------------------------------------- Chromium

# The names Odoo 18 looks for (odoo/tests/common.py, _find_executable).
CHROME_NAMES = ("google-chrome", "chromium", "chromium-browser", "google-chrome-stable")


def ensure_chromium(tally: Tally) -> bool:
    """A headless Chromium for the browser tours: Debian's ``chromium`` when none is found."""
    section("Chromium (browser tours)")
    found = next((shutil.which(name) for name in CHROME_NAMES if shutil.which(name)), None)
    if found:
        say(f"-- browser: {found}")
        return True
    if _is_root() and shutil.which("apt-get"):
        say("-- no Chromium found: installing Debian's chromium")
        apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update"], env=apt_env)
        if run(["apt-get", "install", "-y", "chromium"], env=apt_env).returncode == 0:
            return True
    message = "no Chromium (google-chrome/chromium) found and cannot install one: tours will skip"
    if IN_CI:
        tally.fail(message)
        return False
    say(f"!! {message}")
    return True


# --------------------------------------------------------------------------- Odoo runs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LogScan:
    """What a streamed Odoo log said."""

    summary: tuple[int, int, int] | None = None
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    unexpected_errors: list[str] = field(default_factory=list)
    warnings_of_module: list[str] = field(default_factory=list)
    modules_loaded: bool = False
    shell_results: list = field(default_factory=list)

    @property
    def result(self):
        """What the function run by :func:`odoo_shell` returned (None: it did not return)."""
        return self.shell_results[-1] if self.shell_results else None

    def feed(self, line: str) -> None:
        line = ANSI_RE.sub("", line.rstrip("\n"))
        if line.startswith(SHELL_RESULT):
            self.shell_results.append(json.loads(line[len(SHELL_RESULT) :]))
            return
        match = LOG_RE.match(line)
        if not match:
            return
        level, logger = match.group("level"), match.group("logger")
        msg = match.group("msg").strip()
        summary = SUMMARY_RE.search(msg)
        if summary:
            self.summary = (
                int(summary.group("failed")),
                int(summary.group("errors")),
                int(summary.group("run")),
            )
            return
        if msg == "Modules loaded.":
            self.modules_loaded = True
        if level == "INFO" and SKIP_RE.match(msg):
            self.skipped += 1
            self.skip_reasons.append(msg[len("skipped ") :][:300])
        elif level in ("ERROR", "CRITICAL"):
            if self._reported_by_test_result(msg):
                return
            self.unexpected_errors.append(f"{level} {logger}: {msg[:300]}")
        elif level == "WARNING" and MODULE in logger:
            self.warnings_of_module.append(f"{logger}: {msg[:300]}")

    @staticmethod
    def _reported_by_test_result(msg: str) -> bool:
        # Failing tests are logged as "FAIL: ..." / "ERROR: ..." and already counted by the
        # summary line; so is the loader's echo of that fact.
        return (
            msg.startswith(("FAIL: ", "ERROR: "))
            or msg == "At least one test failed when loading the modules."
        )


def stream_odoo(cmd: list[str], log_file, timeout: int | None, input_text: str | None = None):
    """Run an Odoo command, streaming its output to the console and the log file; returns its
    exit status (None when stopped after ``timeout`` seconds) and what :class:`LogScan` saw."""
    show_cmd(cmd)
    log_file.write("$ " + " ".join(_quote(c) for c in cmd) + "\n")
    log_file.flush()
    scan = LogScan()
    env = dict(os.environ)
    env.pop("ODOO_PY_COLORS", None)
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,
    )
    timed_out = threading.Event()

    def _kill():
        timed_out.set()
        _kill_group(proc)

    timer = threading.Timer(timeout, _kill) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        if input_text is not None:
            proc.stdin.write(input_text)
            proc.stdin.close()
        for line in proc.stdout:
            if not line.startswith(SHELL_RESULT):
                sys.stdout.write(line)
                sys.stdout.flush()
            log_file.write(line)
            scan.feed(line)
        rc = proc.wait()
    finally:
        if timer:
            timer.cancel()
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
        log_file.flush()
    if timed_out.is_set():
        rc = None
    return rc, scan


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def shell_input(target: str, config=None) -> str:
    """What ``odoo shell`` reads to call ``target``, ``"module:function"`` of this folder
    (imported as ``odoo.addons.office365_calendar_sync.tools.module``), as
    ``function(env, config)`` and print its JSON result behind :data:`SHELL_RESULT`."""
    module, _sep, function = target.partition(":")
    return (
        "import importlib, json\n"
        f"_module = importlib.import_module({PACKAGE + '.' + module!r})\n"
        f"_result = _module.{function}(env, json.loads({json.dumps(config)!r}))\n"
        f"print({SHELL_RESULT!r} + json.dumps(_result), flush=True)\n"
    )


def odoo_shell(
    server: OdooServer, options: list[str], target: str, config=None, *, log_file, timeout=None
):
    """Run ``target`` (see :func:`shell_input`) in ``odoo shell`` with ``options``: the one way
    the tools run code inside Odoo. The function gets the shell's superuser environment and
    commits what it keeps (the shell rolls back at exit); what it prints is echoed as it comes.
    Returns the exit status (None after ``timeout`` seconds) and the :class:`LogScan`, whose
    ``result`` is the function's return value (None when it did not return)."""
    return stream_odoo(
        [*server.command, "shell", *options],
        log_file,
        timeout,
        input_text=shell_input(target, config),
    )


def uninstall_in_odoo(env, _config):
    """In ``odoo shell``: uninstall the addon; its state after and the ir.model.data rows left."""
    module = env["ir.module.module"].search([("name", "=", MODULE)])
    if module.state != "installed":
        raise RuntimeError(f"module {MODULE} before uninstall: {module.state or 'unknown'}")
    module.button_immediate_uninstall()
    env.invalidate_all()
    return {
        "state": env["ir.module.module"].search([("name", "=", MODULE)]).state,
        "leftover_xmlids": env["ir.model.data"].search_count([("module", "=", MODULE)]),
    }


def drop_database(server: OdooServer, db: str, data_dir: Path) -> None:
    say(f"-- dropping database {db}")
    if shutil.which("dropdb"):
        proc = run(["dropdb", "--if-exists", "--force", db], capture=True)
        if proc.returncode != 0:
            proc = run(["dropdb", "--if-exists", db], capture=True)
    else:
        proc = run([*server.command, "db", "--data-dir", str(data_dir), "drop", db], capture=True)
    if proc.returncode != 0:
        say(f"!! could not drop database {db}: {(proc.stdout or '').strip()[-500:]}")
    shutil.rmtree(data_dir, ignore_errors=True)


def server_origin_notice() -> str:
    """One line saying where the Odoo server will come from, or what is missing and how to
    provide it (the first line the demo prints)."""
    if os.environ.get("ODOO_BIN"):
        return f"Odoo 18 server: ODOO_BIN={os.environ['ODOO_BIN']}"
    found = shutil.which("odoo") or shutil.which("odoo-bin")
    if found:
        return f"Odoo 18 server: {found} (on PATH)"
    if os.environ.get("ODOO_SRC"):
        return (
            "No Odoo 18 server on PATH and no ODOO_BIN: setting one up in build/ from "
            f"ODOO_SRC={os.environ['ODOO_SRC']}"
        )
    return (
        "No Odoo 18 server: none on PATH, and neither ODOO_BIN nor ODOO_SRC is set. Set "
        "ODOO_SRC to an Odoo 18.0 source folder or .tar.xz/.tar.gz archive (see README), or "
        "ODOO_BIN to an odoo-bin."
    )


TOKEN_KEY_FILE = BUILD / "token-key"


def ensure_token_key() -> str:
    """The server key that encrypts stored tokens (``O365_TOKEN_KEY``) for the Odoo processes
    the tools start: the environment's, else one kept in ``build/token-key`` (created once,
    readable by its owner only), so a database kept with ``--keep-db`` stays readable."""
    key = os.environ.get("O365_TOKEN_KEY")
    if not key:
        if TOKEN_KEY_FILE.exists():
            key = TOKEN_KEY_FILE.read_text(encoding="utf-8").strip()
        else:
            key = secrets.token_urlsafe(32)
            BUILD.mkdir(parents=True, exist_ok=True)
            fd = os.open(TOKEN_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(key + "\n")
        os.environ["O365_TOKEN_KEY"] = key
    return key


def prepare_server(name: str) -> OdooServer | None:
    """The Odoo 18 server, with the addon's dependencies and PostgreSQL ready (for the other
    tools: bench, soak, demo); None after saying why. The Odoo processes they start get the
    token key of :func:`ensure_token_key`."""
    ensure_token_key()
    tally = Tally(name)
    server = find_odoo(tally)
    if server is None:
        say(HOW_TO_PROVIDE_ODOO)
        return None
    if not ensure_python_deps(server, tally) or not ensure_postgres(tally):
        say("\n".join(tally.problems))
        return None
    return server


@dataclass
class Scratch:
    """A throw-away Odoo of one run in ``folder``: this checkout linked under the module's name
    in ``addons/`` (the folder may be called anything), a data folder ``odoo-data/``, the
    database ``db`` and the Odoo log ``log_path``. Made and removed by :func:`scratch`."""

    server: OdooServer
    db: str
    folder: Path
    log_path: Path

    @property
    def addons_dir(self) -> Path:
        return self.folder / "addons"

    @property
    def data_dir(self) -> Path:
        return self.folder / "odoo-data"

    def options(self, db: str | None = None) -> list[str]:
        """The database, addons path and data folder, for any Odoo command."""
        db = db or self.db
        return [
            "-d",
            db,
            f"--db-filter=^{db}$",
            "--addons-path=" + ",".join([str(self.addons_dir), *self.server.addons_dirs]),
            f"--data-dir={self.data_dir}",
        ]

    def tool_options(self, db: str | None = None, http_port: int | None = None) -> list[str]:
        """:meth:`options` for a tool's run: no cron thread, warnings to the log file, and no
        HTTP server unless ``http_port`` is given."""
        http = [f"--http-port={http_port}"] if http_port else ["--no-http"]
        return [
            *self.options(db),
            *http,
            "--max-cron-threads=0",
            f"--logfile={self.log_path}",
            "--log-level=warn",
        ]

    def install(self, modules: str = MODULE) -> bool:
        """A fresh database ``db`` with ``modules`` (comma-separated) and no demo data; what
        the server prints besides its log goes to the log too."""
        run(["dropdb", "--if-exists", self.db])
        cmd = [*self.server.command, *self.tool_options(), "-i", modules]
        cmd += ["--without-demo=all", "--stop-after-init"]
        show_cmd(cmd)
        with open(self.log_path, "a", encoding="utf-8") as log:
            if subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=log, check=False).returncode == 0:
                return True
        say(f"!! installing {modules} failed; see {self.log_path}")
        return False

    def shell(self, target: str, config=None, *, db=None, http_port=None, timeout=None):
        """:func:`odoo_shell` on database ``db`` (default: this one)."""
        with open(self.log_path, "a", encoding="utf-8") as log_file:
            return odoo_shell(
                self.server,
                self.tool_options(db, http_port),
                target,
                config,
                log_file=log_file,
                timeout=timeout,
            )

    def run_tool(self, target: str, config=None, *, db=None, http_port=None, timeout=None) -> int:
        """:meth:`shell` for a function that returns an exit status: that status, else, saying
        so, 1 when stopped after ``timeout`` seconds and 2 when it failed."""
        rc, scan = self.shell(target, config, db=db, http_port=http_port, timeout=timeout)
        if scan.result is not None:
            return scan.result
        if rc is None:
            say(f"!! {target} did not finish within {timeout} s")
            return 1
        say(f"!! {target} did not finish; see {self.log_path}")
        return 2

    def copy_database(self, db: str) -> None:
        """``db``: a copy of this database and its file store."""
        run(["dropdb", "--if-exists", db])
        run(["createdb", "-T", self.db, db], check=True)
        source = self.data_dir / "filestore" / self.db
        if source.is_dir():
            shutil.copytree(source, self.data_dir / "filestore" / db, dirs_exist_ok=True)

    def drop_copy(self, db: str) -> None:
        drop_database(self.server, db, self.data_dir / "filestore" / db)

    def remove(self, keep_db: bool) -> None:
        """Drop the database and the data folder (unless kept), and the addons link."""
        if keep_db:
            say(f"-- --keep-db: database {self.db} and {self.data_dir} kept")
        else:
            drop_database(self.server, self.db, self.data_dir)
        # The link points at the checkout itself: never leave that loop behind.
        link = self.addons_dir / MODULE
        if link.is_symlink():
            link.unlink()
        for folder in (self.addons_dir, self.folder):
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def scratch(server: OdooServer, name: str, db: str, *, keep_db=False, folder=None, log_path=None):
    """The :class:`Scratch` of one run of ``name`` (tests, a tool): by default in
    ``build/<name>-<pid>/`` with its log in ``build/<name>-odoo.log``; removed at the end."""
    odoo = Scratch(
        server,
        db,
        Path(folder or BUILD / f"{name}-{RUN_ID}"),
        Path(log_path or BUILD / f"{name}-odoo.log"),
    )
    odoo.addons_dir.mkdir(parents=True, exist_ok=True)
    link = odoo.addons_dir / MODULE
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(ROOT, target_is_directory=True)
    odoo.log_path.write_text("", encoding="utf-8")
    say(f"-- addons path {odoo.addons_dir} ({MODULE} -> {ROOT}); database {db}")
    try:
        yield odoo
    finally:
        odoo.remove(keep_db)


def run_odoo_tests(server: OdooServer, tally: Tally, test_tags: str, keep_db: bool) -> None:
    """Install the addon with its tests, upgrade it, uninstall it: one throw-away database."""
    log_path = BUILD / f"odoo-test-{RUN_ID}.log"
    db = f"o365_test_{RUN_ID}_{secrets.token_hex(3)}"
    say(f"-- full log in {ODOO_LOG}")
    try:
        with scratch(server, "test", db, keep_db=keep_db, log_path=log_path) as odoo:
            with open(log_path, "w", encoding="utf-8") as log_file:
                _install_upgrade_uninstall(odoo, tally, test_tags, log_file)
            section("Odoo: clean-up")
    finally:
        if log_path.exists():
            os.replace(log_path, ODOO_LOG)


def _install_upgrade_uninstall(odoo: Scratch, tally: Tally, test_tags: str, log_file) -> None:
    server = odoo.server
    options = [*odoo.options(), "--max-cron-threads=0", "--workers=0", "--http-interface=127.0.0.1"]

    def step(label, timeout, *args):
        started = time.monotonic()
        command = [*server.command, *options, f"--http-port={free_port()}", *args]
        rc, scan = stream_odoo(command, log_file, timeout)
        say(f"-- {label}: exit {rc} after {time.monotonic() - started:.0f}s")
        return rc, scan

    section(f"Odoo {server.version}: install {MODULE} and run its tests ({test_tags})")
    rc, scan = step(
        "install + tests", INSTALL_TIMEOUT,
        "-i", MODULE, "--test-enable", f"--test-tags={test_tags}", "--without-demo=all",
        "--log-level=test", "--stop-after-init",
    )  # fmt: skip
    _account_test_run(tally, rc, scan)
    if scan.summary is None and not scan.modules_loaded:
        tally.fail("upgrade (-u): not run, the install failed")
        tally.fail("uninstall: not run, the install failed")
        return

    section(f"Odoo: upgrade {MODULE} (-u) on the same database")
    rc, scan = step("upgrade", UPGRADE_TIMEOUT, "-u", MODULE, "--stop-after-init")
    _account_check(tally, "upgrade (-u)", rc, scan, need_loaded=True)

    section(f"Odoo: uninstall {MODULE}")
    started = time.monotonic()
    rc, scan = odoo_shell(
        server, options, "run_tests:uninstall_in_odoo", log_file=log_file, timeout=UNINSTALL_TIMEOUT
    )
    say(f"-- uninstall: exit {rc} after {time.monotonic() - started:.0f}s")
    _account_uninstall(tally, rc, scan)


def _account_test_run(tally: Tally, rc, scan: LogScan) -> None:
    if rc is None:
        tally.fail(f"install + tests timed out after {INSTALL_TIMEOUT}s")
    if scan.summary is None:
        tally.fail(
            "no 'N failed, N error(s) of N tests when loading database' line in the log "
            "(the server stopped before the end: see errors above)"
        )
    else:
        failures, errors, run_count = scan.summary
        failed = failures + errors
        skipped = min(scan.skipped, max(run_count - failed, 0))
        tally.passed += max(run_count - failed - skipped, 0)
        tally.failed += failed
        if IN_CI:
            # Under CI a test that did not run (a tour without its browser, say) is a failure.
            for reason in scan.skip_reasons[:skipped] or ["(no reason logged)"] * skipped:
                tally.fail(f"skipped under CI=true: {reason}")
        else:
            tally.skipped += skipped
        if failed:
            tally.problems.append(f"{failures} failed, {errors} error(s) of {run_count} Odoo tests")
        if run_count == 0:
            tally.fail("no Odoo test ran (are the test modules imported in tests/__init__.py?)")
        say(
            f"-- Odoo tests: {run_count} run, {failures} failed, {errors} error(s), "
            f"{skipped} skipped"
        )
    if scan.unexpected_errors:
        tally.fail(
            "ERROR/CRITICAL lines in the Odoo log that no test reported "
            f"({len(scan.unexpected_errors)}):\n    " + "\n    ".join(scan.unexpected_errors[:20])
        )
    elif rc not in (0, None) and scan.summary and not sum(scan.summary[:2]):
        tally.fail(f"Odoo exited with {rc} although every test passed")
    if scan.warnings_of_module:
        tally.notes.append(
            f"{len(scan.warnings_of_module)} WARNING line(s) from {MODULE} in {ODOO_LOG}"
        )


def _account_check(tally: Tally, label: str, rc, scan: LogScan, need_loaded: bool) -> None:
    loaded = not need_loaded or scan.modules_loaded
    _account(tally, label, rc, scan, [] if loaded else ["'Modules loaded.' never logged"])


def _account_uninstall(tally: Tally, rc, scan: LogScan) -> None:
    result = scan.result
    problems = []
    if result is None:
        problems.append("the uninstall gave no result")
    else:
        if result["state"] != "uninstalled":
            problems.append(f"module state after uninstall is {result['state']!r}")
        if result["leftover_xmlids"]:
            problems.append(
                f"{result['leftover_xmlids']} ir.model.data rows of {MODULE} left after uninstall"
            )
    _account(tally, "uninstall", rc, scan, problems)


def _account(tally: Tally, label: str, rc, scan: LogScan, problems: list[str]) -> None:
    """One check passed, or failed with the problems of its run and ``problems``."""
    found = ["timed out"] if rc is None else [f"exit code {rc}"] if rc else []
    if scan.unexpected_errors:
        found.append("ERROR/CRITICAL lines:\n    " + "\n    ".join(scan.unexpected_errors[:20]))
    found += problems
    if found:
        tally.fail(f"{label}: " + "; ".join(found))
    else:
        tally.passed += 1
        say(f"-- {label}: passed")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pure-only", action="store_true", help="run only the pure tests")
    parser.add_argument("--odoo-only", action="store_true", help="run only the Odoo tests")
    parser.add_argument(
        "--test-tags",
        default=os.environ.get("ODOO_TEST_TAGS") or f"/{MODULE}",
        help=f"Odoo --test-tags spec (default /{MODULE}; env ODOO_TEST_TAGS)",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the Odoo test database")
    args, pytest_args = parser.parse_known_args(argv)
    pytest_args = [arg for arg in pytest_args if arg != "--"]

    signal.signal(signal.SIGTERM, _on_sigterm)
    os.chdir(ROOT)
    BUILD.mkdir(exist_ok=True)
    started = time.monotonic()
    tallies: list[Tally] = []
    skip_message = None
    try:
        if not args.odoo_only:
            tallies.append(run_pure_tests(pytest_args))
        if args.pure_only:
            skip_message = "ODOO TESTS SKIPPED: --pure-only was asked for"
        else:
            odoo = Tally("Odoo tests")
            tallies.append(odoo)
            section("Odoo 18 server detection")
            server = find_odoo(odoo)
            if server is None:
                if not odoo.failed:
                    skip_message = "ODOO TESTS SKIPPED: no Odoo 18 server found"
                    _account_missing_suite(odoo, skip_message)
            elif ensure_python_deps(server, odoo) and ensure_postgres(odoo):
                ensure_chromium(odoo)
                run_odoo_tests(server, odoo, args.test_tags, args.keep_db)
    except (KeyboardInterrupt, Interrupted) as exc:
        tallies.append(Tally("interrupted"))
        tallies[-1].fail(f"test run interrupted: {exc or 'keyboard interrupt'}")

    section(f"Summary ({time.monotonic() - started:.0f}s)")
    for tally in tallies:
        say(f"{tally.name}: {tally.passed} passed, {tally.failed} failed, {tally.skipped} skipped")
        for problem in tally.problems:
            say(f"  - {problem}")
        for note in tally.notes:
            say(f"  * {note}")
    if skip_message:
        say()
        say("*" * 78)
        say(HOW_TO_PROVIDE_ODOO)
        say("*" * 78)
    say(closing_line(tallies, skip_message))
    return 1 if sum(t.failed for t in tallies) else 0


def count_odoo_tests() -> int:
    """The Odoo suite's size without running it: its ``test_*`` methods plus the upgrade and
    uninstall checks (what a skipped suite did not run)."""
    count = 2
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                count += sum(
                    isinstance(item, ast.FunctionDef) and item.name.startswith("test")
                    for item in node.body
                )
    return count


def _account_missing_suite(odoo: Tally, reason: str) -> None:
    if IN_CI:
        odoo.fail(
            f"{reason}, and CI=true does not allow a skipped suite (set ODOO_SRC or ODOO_BIN)"
        )
    else:
        odoo.skipped += count_odoo_tests()


def closing_line(tallies: list[Tally], skip_message: str | None) -> str:
    """The last line: ``N passed, N failed`` (``, N skipped`` when anything did not run), with
    the reason of a skipped Odoo suite right above it."""
    passed = sum(t.passed for t in tallies)
    failed = sum(t.failed for t in tallies)
    skipped = sum(t.skipped for t in tallies)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    if skip_message:
        line = f"{skip_message}\n{line}"
    return line


if __name__ == "__main__":
    sys.exit(main())
