# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The test runner's parsing and counting (tools/run_tests.py), without running Odoo."""

import importlib
import os
import stat
import sys
import tarfile
import types

import pytest

from tools import run_tests as rt

DB = "o365_test_1_abc"


@pytest.fixture(autouse=True)
def _outside_ci(monkeypatch):
    """These tests run the same under CI: each one that cares sets ``IN_CI`` itself."""
    monkeypatch.setattr(rt, "IN_CI", False)


def _line(level, logger, msg, db=DB):
    return f"2026-11-21 04:39:34,624 9190 {level} {db} {logger}: {msg} \n"


def _scan(*lines):
    scan = rt.LogScan()
    for line in lines:
        scan.feed(line)
    return scan


def test_summary_line_is_parsed_with_odoo_trailing_space():
    scan = _scan(
        _line("INFO", "odoo.modules.loading", "Modules loaded."),
        _line(
            "ERROR",
            "odoo.tests.result",
            f"1 failed, 2 error(s) of 9 tests when loading database '{DB}'",
        ),
    )
    assert scan.summary == (1, 2, 9)
    assert scan.modules_loaded
    assert scan.unexpected_errors == []


def test_test_failure_reports_are_not_counted_twice_but_other_errors_are():
    test_logger = "odoo.addons.office365_calendar_sync.tests.test_x"
    scan = _scan(
        _line("ERROR", test_logger, "FAIL: TestX.test_a"),
        "Traceback (most recent call last):\n",
        _line("ERROR", test_logger, "ERROR: TestX.test_b"),
        _line(
            "ERROR", "odoo.modules.loading", "At least one test failed when loading the modules."
        ),
        _line("ERROR", "odoo.addons.office365_calendar_sync.models.x", "token refresh failed"),
        _line("CRITICAL", "odoo.modules.module", "Couldn't load module web", db="?"),
        _line("WARNING", "odoo.addons.office365_calendar_sync.models.x", "slow"),
        _line("WARNING", "odoo.addons.base.models.ir_model", "elsewhere"),
    )
    assert scan.unexpected_errors == [
        "ERROR odoo.addons.office365_calendar_sync.models.x: token refresh failed",
        "CRITICAL odoo.modules.module: Couldn't load module web",
    ]
    assert len(scan.warnings_of_module) == 1


def test_skipped_tests_and_shell_result_are_collected():
    scan = _scan(
        _line("INFO", "odoo.addons.x.tests.t", "skipped TestX.test_c : not today"),
        _line("INFO", "odoo.addons.x.tests.t", "skipped: nothing to see"),
        rt.SHELL_RESULT + '{"state": "uninstalled", "leftover_xmlids": 0}\n',
        "\x1b[1;31mnot a log line\x1b[0m\n",
    )
    assert scan.skipped == 1
    assert scan.result == {"state": "uninstalled", "leftover_xmlids": 0}
    assert rt.LogScan().result is None


def test_shell_input_calls_the_named_function_and_prints_its_result(monkeypatch):
    """The script ``odoo shell`` runs: the function of tools/, called with the shell's ``env``
    and the configuration, its JSON result printed behind the marker."""
    calls, printed = [], []
    module = types.SimpleNamespace(probe=lambda env, config: calls.append((env, config)) or [1])
    monkeypatch.setattr(importlib, "import_module", {rt.PACKAGE + ".probe": module}.get)
    config = {"n": 3, "text": 'it\'s "quoted"\n'}
    shell = {"env": "ENV", "print": lambda text, flush: printed.append(text)}
    exec(rt.shell_input("probe:probe", config), shell)
    assert calls == [("ENV", config)]
    assert printed == [rt.SHELL_RESULT + "[1]"]
    assert _scan(*printed).result == [1]


def test_account_test_run_counts_failures_errors_and_skips():
    tally = rt.Tally("odoo")
    scan = rt.LogScan(summary=(1, 1, 9), skipped=1)
    rt._account_test_run(tally, 1, scan)
    assert (tally.passed, tally.failed, tally.skipped) == (6, 2, 1)


def test_account_test_run_without_summary_line_is_a_failure():
    tally = rt.Tally("odoo")
    rt._account_test_run(tally, 255, rt.LogScan(unexpected_errors=["CRITICAL x: boom"]))
    assert tally.passed == 0
    assert tally.failed == 2  # no summary line + the CRITICAL line


def test_account_test_run_with_no_test_is_a_failure():
    tally = rt.Tally("odoo")
    rt._account_test_run(tally, 0, rt.LogScan(summary=(0, 0, 0)))
    assert (tally.passed, tally.failed) == (0, 1)


@pytest.mark.parametrize(
    ("rc", "results", "passed"),
    [
        (0, [{"state": "uninstalled", "leftover_xmlids": 0}], 1),
        (0, [{"state": "installed", "leftover_xmlids": 0}], 0),
        (0, [{"state": "uninstalled", "leftover_xmlids": 3}], 0),
        (1, [{"state": "uninstalled", "leftover_xmlids": 0}], 0),
        (0, [], 0),
    ],
)
def test_uninstall_check(rc, results, passed):
    tally = rt.Tally("odoo")
    rt._account_uninstall(tally, rc, rt.LogScan(shell_results=results))
    assert (tally.passed, tally.failed) == (passed, 1 - passed)


def test_parse_junit_counts_each_outcome(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
  <testcase classname="t" name="ok"/>
  <testcase classname="t" name="ok2"><system-out>x</system-out></testcase>
  <testcase classname="t" name="bad"><failure message="assert 0"/></testcase>
  <testcase classname="t" name="broken"><error message="collection failure"/></testcase>
  <testcase classname="t" name="later"><skipped message="x"/></testcase>
</testsuite></testsuites>""",
        encoding="utf-8",
    )
    assert rt.parse_junit(report) == (2, 2, 1, ["t::bad", "t::broken"])


def _script(path, first_line):
    path.write_text(first_line + "\nprint('hi')\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_shebang_interpreter(tmp_path):
    python = os.path.realpath(sys.executable)
    assert rt._shebang_interpreter(_script(tmp_path / "a", f"#!{python}")) == python
    env_script = _script(tmp_path / "b", "#!/usr/bin/env -S python3")
    found = rt._shebang_interpreter(env_script)
    assert found and os.path.basename(found).startswith("python")
    assert rt._shebang_interpreter(_script(tmp_path / "c", "#!/bin/bash")) is None
    assert rt._shebang_interpreter(_script(tmp_path / "d", "import odoo")) is None


def test_requirement_names(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(
        "# comment\n-r other.txt\nmsal>=1.24\npython-dateutil >= 2.8  # why\n"
        "requests[socks]>=2.25\ntzlocal; python_version >= '3.8'\n\n",
        encoding="utf-8",
    )
    assert rt._requirement_names(req) == ["msal", "python-dateutil", "requests", "tzlocal"]


def test_server_addons_dirs_of_a_source_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("ODOO_ADDONS_PATH", raising=False)
    (tmp_path / "odoo" / "addons").mkdir(parents=True)
    (tmp_path / "odoo" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "addons").mkdir()
    launcher = _script(tmp_path / "odoo-bin", "#!/usr/bin/env python3")
    assert rt._server_addons_dirs(launcher) == [
        str(tmp_path / "odoo" / "addons"),
        str(tmp_path / "addons"),
    ]
    monkeypatch.setenv("ODOO_ADDONS_PATH", "/x,/y")
    assert rt._server_addons_dirs(_script(tmp_path / "elsewhere", "#!/bin/sh"))[-2:] == [
        "/x",
        "/y",
    ]


# --------------------------------------------------------------------------- skips and CI


def test_skips_count_outside_ci_and_fail_under_ci(monkeypatch):
    scan = _scan(
        _line("INFO", "odoo.addons.x.tests.t", "skipped TestTour.test_a : no websocket-client"),
    )
    scan.summary = (0, 0, 3)
    monkeypatch.setattr(rt, "IN_CI", False)
    tally = rt.Tally("odoo")
    rt._account_test_run(tally, 0, scan)
    assert (tally.passed, tally.failed, tally.skipped) == (2, 0, 1)
    monkeypatch.setattr(rt, "IN_CI", True)
    tally = rt.Tally("odoo")
    rt._account_test_run(tally, 0, scan)
    assert (tally.passed, tally.failed, tally.skipped) == (2, 1, 0)
    assert "TestTour.test_a : no websocket-client" in tally.problems[0]


def test_missing_odoo_suite_is_a_loud_skip_and_a_failure_under_ci(monkeypatch):
    monkeypatch.setattr(rt, "IN_CI", False)
    pure, odoo = rt.Tally("pure", passed=280), rt.Tally("odoo")
    rt._account_missing_suite(odoo, "ODOO TESTS SKIPPED: no Odoo 18 server found")
    assert odoo.failed == 0 and odoo.skipped == rt.count_odoo_tests() > 100
    line = rt.closing_line([pure, odoo], "ODOO TESTS SKIPPED: no Odoo 18 server found")
    assert line.splitlines() == [
        "ODOO TESTS SKIPPED: no Odoo 18 server found",
        f"280 passed, 0 failed, {odoo.skipped} skipped",
    ]
    monkeypatch.setattr(rt, "IN_CI", True)
    odoo = rt.Tally("odoo")
    rt._account_missing_suite(odoo, "ODOO TESTS SKIPPED: no Odoo 18 server found")
    assert (odoo.failed, odoo.skipped) == (1, 0)
    assert rt.closing_line([pure, odoo], None) == "280 passed, 1 failed"


def test_parse_junit_reports_skip_reasons(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite><testcase classname="t" name="later">'
        '<skipped message="needs X"/></testcase></testsuite></testsuites>',
        encoding="utf-8",
    )
    reasons = []
    assert rt.parse_junit(report, reasons) == (0, 0, 1, [])
    assert reasons == ["t::later : needs X"]


# --------------------------------------------------------------------------- ODOO_SRC


def _odoo_archive(tmp_path, name="odoo-18.0-src.tar.gz", marker="one"):
    tree = tmp_path / "src" / "odoo-18.0"
    (tree / "odoo").mkdir(parents=True, exist_ok=True)
    (tree / "odoo" / "__init__.py").write_text(f"# {marker}\n", encoding="utf-8")
    (tree / "odoo-bin").write_text("#!/usr/bin/env python3\n", encoding="utf-8")
    (tree / "requirements.txt").write_text(
        "lxml==4.9.3\npython-ldap==3.4.0 ; sys_platform != 'win32'\npytz\n", encoding="utf-8"
    )
    archive = tmp_path / name
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="odoo-18.0")
    return archive


def test_odoo_source_archive_is_unpacked_once_and_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "BUILD", tmp_path / "build")
    monkeypatch.setattr(rt, "ODOO_SRC_DIR", tmp_path / "build" / "odoo-src")
    archive = _odoo_archive(tmp_path)
    tally = rt.Tally("odoo")
    tree = rt.unpack_odoo_source(tally, str(archive))
    assert tree.name == "odoo-18.0" and (tree / "odoo-bin").is_file()
    (tree / "left-by-a-run").write_text("x", encoding="utf-8")
    assert rt.unpack_odoo_source(tally, str(archive)) == tree
    assert (tree / "left-by-a-run").exists(), "an unchanged archive is not unpacked again"
    _odoo_archive(tmp_path, marker="two")
    os.utime(archive, ns=(1, 10**18))
    tree = rt.unpack_odoo_source(tally, str(archive))
    assert not (tree / "left-by-a-run").exists()
    assert (tree / "odoo" / "__init__.py").read_text(encoding="utf-8") == "# two\n"
    assert "python-ldap" not in rt._odoo_requirements(tree)
    assert "lxml==4.9.3" in rt._odoo_requirements(tree)
    assert tally.failed == 0


def test_the_archive_build_was_set_up_from_is_found_again(tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "BUILD", tmp_path / "build")
    monkeypatch.setattr(rt, "ODOO_SRC_DIR", tmp_path / "build" / "odoo-src")
    assert rt.previous_odoo_source() is None, "nothing set up yet"
    archive = _odoo_archive(tmp_path)
    rt.unpack_odoo_source(rt.Tally("odoo"), str(archive))
    assert rt.previous_odoo_source() == str(archive.resolve())
    archive.unlink()
    assert rt.previous_odoo_source() is None, "the archive is gone: nothing to reuse"


def test_odoo_source_folder_is_used_in_place_and_nonsense_is_refused(tmp_path):
    archive = _odoo_archive(tmp_path)
    tally = rt.Tally("odoo")
    assert rt.unpack_odoo_source(tally, str(tmp_path / "src")) == tmp_path / "src" / "odoo-18.0"
    assert rt.unpack_odoo_source(tally, str(archive.with_suffix(".zip"))) is None
    assert rt.unpack_odoo_source(tally, str(tmp_path)) is None
    assert tally.failed == 2
