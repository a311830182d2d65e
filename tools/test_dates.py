#!/usr/bin/env python3
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Run the Odoo suite under several fixed "today" values (``make test-dates``).

The sync window, due dates and leaves are all relative to the current day, so a test that
picks "today minus 10 days" passes or fails with the calendar. Each run here sets the clock of
the Odoo server (and of everything it starts: the emulator thread, Chromium) *and* of a
PostgreSQL cluster of its own to one chosen moment with Debian's ``faketime`` (libfaketime), so
that ``now()`` in SQL and ``datetime.now()`` in Python agree. The moments are chosen on purpose:

- a Sunday (no working day: leaves and "next working day" logic);
- 23:30 UTC on the Saturday before Europe's spring DST change (already Sunday 00:30 in
  Brussels, the day the clocks jump);
- 23:30 UTC on 31 December (already New Year's Day in Brussels: a year and month end);
- 29 February 2028 (a leap day).

The clock runs on from that moment (one offset from the real clock for every process). The
monotonic clock gets the same offset: leaving it alone makes libfaketime's ``clock_nanosleep``
fail with EINVAL (``time.sleep`` raises ``OSError: [Errno 22]``). The browser tours are left
out: Chromium does not run under libfaketime, and no tour depends on the date. Needs Debian's
``faketime`` and ``postgresql`` (installed when missing, as root) and the Odoo server
``make test`` uses (``ODOO_BIN``, PATH or ``ODOO_SRC``). Not part of ``make test``: it takes one
full Odoo suite per date.

Usage: ``tools/test_dates.py [--date "2026-12-06 10:00:00" ...] [-- extra run_tests args]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_tests

ROOT = run_tests.ROOT
say = run_tests.say
# (moment in UTC, what it tests)
DATES = [
    ("2026-12-06 10:00:00", "a Sunday"),
    ("2027-03-27 23:30:00", "the Saturday before Europe's DST change (Sunday in Brussels)"),
    ("2026-12-31 23:30:00", "31 December (1 January in Brussels)"),
    ("2028-02-29 12:00:00", "29 February 2028"),
]
# Every test but the browser tours (see above).
TEST_TAGS = "/office365_calendar_sync,-/office365_calendar_sync:TestPreferencesTour"
LIBFAKETIME_DIRS = ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime")


def libfaketime() -> str | None:
    for folder in LIBFAKETIME_DIRS:
        candidate = Path(folder) / "libfaketimeMT.so.1"
        if candidate.exists():
            return str(candidate)
    found = subprocess.run(
        ["bash", "-c", "ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return found or None


def ensure_faketime() -> str | None:
    lib = libfaketime()
    if lib is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "faketime"], env=env, check=False)
        lib = libfaketime()
    return lib


def pg_bin() -> Path | None:
    versions = run_tests.pg_versions()
    return Path("/usr/lib/postgresql") / versions[-1] / "bin" if versions else None


def faked_env(lib: str, offset: int) -> dict:
    """libfaketime for every process started with this environment: the same offset from the
    real clock for all of them, so PostgreSQL and Odoo, started seconds apart, still agree."""
    return dict(
        os.environ,
        LD_PRELOAD=lib,
        FAKETIME=f"{offset:+d}",
    )


def offset_to(moment: str) -> int:
    """Seconds from now (real clock) to ``moment`` (UTC)."""
    target = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return int(target.timestamp() - time.time())


def as_postgres(cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, env=env, text=True, capture_output=True, check=False)


@contextlib.contextmanager
def faked_cluster(lib: str, offset: int, index: int):
    """A throw-away PostgreSQL cluster whose clock runs ``offset`` seconds off; yields libpq
    environment variables."""
    binaries = pg_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    base = Path("/tmp") / f"o365-dates-pg-{os.getpid()}-{index}"
    data, sockets = base / "data", base / "run"
    shutil.rmtree(base, ignore_errors=True)
    sockets.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = str(run_tests.free_port())
    proc = as_postgres([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
    if proc.returncode:
        raise RuntimeError(f"initdb failed: {proc.stdout}{proc.stderr}")
    options = f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off"
    proc = as_postgres(
        [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
         "-w", "start"],
        env=faked_env(lib, offset),
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"pg_ctl start failed: {proc.stdout}{proc.stderr}")
    user = run_tests._os_user()
    env = dict(os.environ, PGHOST=str(sockets), PGPORT=port, PGUSER="postgres")
    subprocess.run(
        ["psql", "-d", "postgres", "-c", f'CREATE ROLE "{user}" SUPERUSER LOGIN'],
        env=env, capture_output=True, check=False,
    )  # fmt: skip
    try:
        yield {"PGHOST": str(sockets), "PGPORT": port, "PGUSER": user}
    finally:
        as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--date", action="append", help='a UTC moment "YYYY-MM-DD HH:MM:SS" (repeatable)'
    )
    args, extra = parser.parse_known_args(argv)
    extra = [arg for arg in extra if arg != "--"]
    dates = [(d, "chosen on the command line") for d in args.date] if args.date else DATES

    lib = ensure_faketime()
    if lib is None:
        say("!! libfaketime not found: apt-get install faketime")
        return 2
    tally = run_tests.Tally("server")
    server = run_tests.find_odoo(tally)
    if server is None:
        say("!! no Odoo 18 server: " + "; ".join(tally.problems))
        say(run_tests.HOW_TO_PROVIDE_ODOO)
        return 2
    os.environ["ODOO_BIN"] = server.launcher
    if server.python:
        os.environ["ODOO_PYTHON"] = server.python

    results = []
    for index, (moment, why) in enumerate(dates):
        run_tests.section(f"Odoo suite with today = {moment} UTC ({why})")
        started = time.monotonic()
        offset = offset_to(moment)
        with faked_cluster(lib, offset, index) as pg_env:
            env = faked_env(lib, offset)
            env.update(pg_env)
            proc = subprocess.run(
                [
                    sys.executable, str(ROOT / "tools" / "run_tests.py"), "--odoo-only",
                    f"--test-tags={TEST_TAGS}", *extra,
                ],
                env=env, cwd=ROOT, text=True, capture_output=True, check=False,
            )  # fmt: skip
        out = proc.stdout + proc.stderr
        (run_tests.BUILD / f"test-dates-{moment[:10]}.log").write_text(out, encoding="utf-8")
        lines = [line for line in out.splitlines() if line.strip()]
        closing = lines[-1] if lines else "(no output)"
        problems = [line for line in lines if line.startswith("  - ")]
        say("\n".join(problems[:30]))
        log = f"build/test-dates-{moment[:10]}.log"
        say(f"-- {closing} ({time.monotonic() - started:.0f}s; log {log})")
        results.append((moment, why, proc.returncode, closing))

    run_tests.section("Dates")
    for moment, why, rc, closing in results:
        say(f"{'PASS' if rc == 0 else 'FAIL'}  {moment} UTC  {why:62}  {closing}")
    return 0 if all(rc == 0 for _m, _w, rc, _c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
