#!/usr/bin/env python3
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""``make bench-scale``: how the cost per item grows with the size of a user's calendar.

Not part of CI (the largest sizes take long). Like ``make bench`` (``tools/bench.py``, whose
emulator and scenario helpers it reuses), it creates a throw-away database with
``office365_calendar_sync`` and ``microsoft_calendar`` and runs in ``odoo shell`` on it, the
Graph emulator in its own process at a flat latency (``--latency``, default 0.020 s per request):

- ours: the initial push of N activities of one user (N = ``--push``, default 100, 1,000, 5,000,
  20,000) and the logging of N new Outlook meetings on contacts (N = ``--pull``, default 1,000,
  5,000, 20,000), each a fresh user, every run counted until the backlog is empty;
- theirs: ``microsoft_calendar``'s push and pull of N events for the sizes up to
  ``--theirs-max`` (default 1,000: it sends one request per event).

It prints the cost per item (wall time, SQL queries, Graph requests) of each size and the
target: at the largest size each is within 1.25x of that at 1,000. It writes the figures to
``build/bench/scale.json`` and draws them (matplotlib) as ``build/bench/scale-push.png`` and
``build/bench/scale-pull.png``; ``--docs DIR`` copies the charts there (the README shows the
copies in ``docs/bench/``). Exit status: 0 when the targets pass, 1 when one fails, 2 when the
set-up fails.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_tests

ROOT = run_tests.ROOT
MODULE = run_tests.MODULE
say = run_tests.say
section = run_tests.section
OUT = ROOT / "build" / "bench"

RATIO = 1.25  # cost per item at the largest size against that at the reference size
REFERENCE = 1000


# --------------------------------------------------------------------------- inside Odoo


def run_in_odoo(env, config):
    """Entry point inside ``odoo shell``: the figures of every size, as a JSON-able dict."""
    import logging  # noqa: PLC0415

    from odoo.addons.office365_calendar_sync.tools import bench  # noqa: PLC0415

    logging.getLogger("odoo.addons.microsoft_calendar").setLevel(logging.WARNING)
    runner = bench.Bench(
        env,
        {
            "latency": config["latency"],
            "real_request": 0.0,
            "real_write": 0.0,
            "items": 0,
            "real_items": 0,
        },
    )
    latency = config["latency"]
    figures = {"latency": latency, "ours_push": [], "ours_pull": [], "theirs": []}
    say(f"-- load average at start: {bench.load_average():.1f} ({os.cpu_count()} CPUs)")
    try:
        runner.setup()
        for size in config["push"]:
            user = runner.new_users([f"push{size}"])
            account = runner.connect(user)
            user._o365_start("activities")
            runner.commit()
            runner.sync(account)  # first delta read and category: not part of the measure
            started = time.perf_counter()
            runner.activities(user, size)
            runner.commit()
            say(f"   {size:,} activities created in {time.perf_counter() - started:.0f} s")
            row, drain = runner.measure(
                f"ours: initial push of {size:,} activities",
                size,
                latency,
                lambda account=account: runner.drain(account, max_runs=100),
            )
            figures["ours_push"].append(
                _figure(row, created=drain.created("activities"), backlog=runner.backlog(user))
            )
        for size in config["pull"]:
            user = runner.new_users([f"pull{size}"])
            account = runner.connect(user)
            user._o365_start("events")
            runner.commit()
            runner.sync(account)
            runner.outlook_meetings(runner.emu.mailbox(user.email), size, f"Scale {size}")
            row, drain = runner.measure(
                f"ours: {size:,} new Outlook meetings logged on contacts",
                size,
                latency,
                lambda account=account: runner.drain(account, max_runs=100),
            )
            figures["ours_pull"].append(
                _figure(row, created=drain.created("events"), backlog=runner.backlog(user))
            )
        runner.patch_microsoft()
        for size in sorted(set(config["push"]) | set(config["pull"])):
            if size > config["theirs_max"]:
                continue
            push, pushed, pull, pulled = runner.theirs_round(f"native{size}", size, latency, 0.0)
            figures["theirs"].append(
                {"push": _figure(push, created=pushed), "pull": _figure(pull, created=pulled)}
            )
    finally:
        say(f"-- load average at end: {bench.load_average():.1f}")
        runner.emu.stop()
    return figures


def _figure(row, **extra):
    return {
        "items": row.items,
        "requests": row.requests,
        "queries": row.queries,
        "wall": row.wall,
        "runs": row.runs,
        "load": list(row.load),
        **extra,
    }


# --------------------------------------------------------------------------- report


def per_item(figure):
    items = max(1, figure["items"])
    return {
        "wall ms": figure["wall"] * 1000 / items,
        "SQL": figure["queries"] / items,
        "requests": figure["requests"] / items,
    }


def report(figures):
    """The table of costs per item and the targets; returns the exit status."""
    lines = []
    for kind, label in (("ours_push", "ours: push"), ("ours_pull", "ours: Outlook meetings")):
        for figure in figures[kind]:
            lines.append((label, figure))
    for pair in figures["theirs"]:
        lines.append(("microsoft_calendar: push", pair["push"]))
        lines.append(("microsoft_calendar: pull", pair["pull"]))
    say("")
    say(
        f"Cost per item at a flat {figures['latency'] * 1000:.0f} ms per request (every run "
        "until the backlog is empty; load: 1-minute load average at start and end)"
    )
    say("")
    say(
        f"| {'scenario':<26} | {'items':>7} | {'runs':>4} | {'created':>7} | {'wall s':>8} | "
        f"{'ms/item':>8} | {'SQL/item':>8} | {'req/item':>8} | {'load':>9} |"
    )
    say(
        f"|{'-' * 28}|{'-' * 8}:|{'-' * 5}:|{'-' * 8}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|"
        f"{'-' * 9}:|{'-' * 10}:|"
    )
    for label, figure in lines:
        cost = per_item(figure)
        say(
            f"| {label:<26} | {figure['items']:>7,} | {figure['runs']:>4} | "
            f"{figure.get('created', 0):>7,} | {figure['wall']:>8.2f} | {cost['wall ms']:>8.2f} | "
            f"{cost['SQL']:>8.2f} | {cost['requests']:>8.3f} | "
            f"{figure['load'][0]:>4.1f}>{figure['load'][1]:<4.1f} |"
        )
    say("")
    failed = 0
    for kind, label in (("ours_push", "push"), ("ours_pull", "Outlook meetings logged")):
        by_size = {figure["items"]: figure for figure in figures[kind]}
        for figure in figures[kind]:
            ok = figure.get("created") == figure["items"] and not figure.get("backlog")
            failed += not ok
            say(
                f"{'PASS' if ok else 'FAIL'}  {label} of {figure['items']:,}: all created "
                f"({figure.get('created', 0):,}) and no backlog left "
                f"({figure.get('backlog', 0)}) after {figure['runs']} run(s)"
            )
        largest = max(by_size, default=0)
        if REFERENCE not in by_size or largest <= REFERENCE:
            say(f"INFO  {label}: no size above {REFERENCE:,} to compare")
            continue
        base, top = per_item(by_size[REFERENCE]), per_item(by_size[largest])
        for measure, value in top.items():
            ratio = value / base[measure] if base[measure] else 0.0
            ok = ratio <= RATIO
            failed += not ok
            say(
                f"{'PASS' if ok else 'FAIL'}  {label}: {measure} per item at {largest:,} within "
                f"{RATIO}x of that at {REFERENCE:,} ({value:.3f} / {base[measure]:.3f} = "
                f"{ratio:.2f}x)"
            )
    return 1 if failed else 0


def charts(figures, folder):
    """One PNG per direction: cost per item (wall, SQL, requests) against the size, ours and
    microsoft_calendar's, log scales."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, side, title in (
        ("ours_push", "push", "Initial push of N activities (one user)"),
        ("ours_pull", "pull", "N new Outlook meetings logged on contacts (one user)"),
    ):
        series = {
            "office365_calendar_sync": figures[kind],
            "microsoft_calendar": [pair[side] for pair in figures["theirs"]],
        }
        fig, axes = pyplot.subplots(1, 3, figsize=(13, 4))
        for axis, measure in zip(axes, ("wall ms", "SQL", "requests"), strict=True):
            for name, points in series.items():
                if not points:
                    continue
                points = sorted(points, key=lambda figure: figure["items"])
                axis.plot(
                    [figure["items"] for figure in points],
                    [per_item(figure)[measure] for figure in points],
                    marker="o",
                    label=name,
                )
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xlabel("N (items)")
            axis.set_title(f"{measure} per item")
            axis.grid(True, which="both", alpha=0.3)
        axes[0].legend()
        loads = [value for points in series.values() for f in points for value in f["load"]]
        fig.suptitle(
            f"{title}, {figures['latency'] * 1000:.0f} ms per Graph request (machine load "
            f"average {min(loads, default=0):.1f} to {max(loads, default=0):.1f}, "
            f"{os.cpu_count()} CPUs)"
        )
        fig.tight_layout()
        path = folder / f"scale-{side}.png"
        fig.savefig(path, dpi=90)
        pyplot.close(fig)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- driver


def sizes(text):
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--push", type=sizes, default=[100, 1000, 5000, 20000])
    parser.add_argument("--pull", type=sizes, default=[1000, 5000, 20000])
    parser.add_argument("--theirs-max", type=int, default=1000)
    parser.add_argument("--db", default=f"o365_scale_{os.getpid()}")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--docs", type=Path, help="copy the charts to this folder")
    parser.add_argument(
        "--charts-only",
        action="store_true",
        help=f"draw the charts from {OUT / 'scale.json'} without running",
    )
    args = parser.parse_args(argv)
    if args.charts_only:
        figures = json.loads((OUT / "scale.json").read_text())
        rc = report(figures)
    else:
        section("Odoo 18 server and PostgreSQL")
        server = run_tests.prepare_server("bench-scale")
        if server is None:
            return 2
        with run_tests.scratch(server, "bench-scale", args.db, keep_db=args.keep_db) as odoo:
            section(f"Database {args.db}: install {MODULE} and microsoft_calendar")
            if not odoo.install(f"{MODULE},microsoft_calendar"):
                return 2
            section(f"Scale: push {args.push}, pull {args.pull}, latency {args.latency} s")
            config = {
                "latency": args.latency,
                "push": args.push,
                "pull": args.pull,
                "theirs_max": args.theirs_max,
            }
            started = time.monotonic()
            _rc, scan = odoo.shell("bench_scale:run_in_odoo", config)
            say(f"-- scale ran {time.monotonic() - started:.0f} s (Odoo log: {odoo.log_path})")
            figures = scan.result
        if not figures:
            say("!! the scale run did not finish")
            return 2
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "scale.json").write_text(json.dumps(figures, indent=1))
        rc = report(figures)
    for path in charts(figures, OUT):
        say(f"-- chart {path.relative_to(ROOT)}")
        if args.docs:
            args.docs.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, args.docs / path.name)
            say(f"   copied to {args.docs / path.name}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
