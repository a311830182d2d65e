#!/usr/bin/env python3
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Near-real-time sync latency: median over N changes each way, against the Graph emulator.

1. finds the Odoo 18 server and PostgreSQL as ``make test`` does (``tools/run_tests``) and
   creates a throw-away database with ``office365_calendar_sync``;
2. runs :func:`run_in_odoo` in ``odoo shell`` on it, which starts, in that one process, what a
   production server runs: Odoo's HTTP server (the webhook), Odoo's own cron worker threads
   (woken by ``NOTIFY cron_trigger``) and a Graph emulator with ``auto_notify`` (it POSTs a
   change notification to the subscription's URL on every event change);
3. connects a user through the real PKCE flow, starts "Sync ERP activities", waits for the
   subscription ("live"), pushes one activity, then measures:

   - Outlook -> Odoo: the event's date is moved in the emulator mailbox; time until the
     activity's deadline in the database has moved (notification -> webhook -> sync request ->
     cron trigger -> cron worker -> delta read -> activity written);
   - Odoo -> Outlook: the activity's deadline is changed and committed; time until the event's
     start in the emulator has moved (trigger -> cron worker -> $batch PATCH);

4. prints the median, 90th percentile and maximum of each direction, and the 5 s target.

Usage: ``tools/bench_latency.py [--changes 50] [--latency 0.02] [--db NAME] [--keep-db]``.
Exit status: 0 when both medians are under the target, 1 when not, 2 when the set-up fails.
"""

import argparse
import os
import sys
import time
from pathlib import Path

TARGET_SECONDS = 5.0


# --------------------------------------------------------------------------- inside Odoo


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _wait(predicate, timeout, step=0.01):
    """Poll ``predicate`` until it returns a truthy value; returns it (None on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def run_in_odoo(env, config):
    """Entry point inside ``odoo shell``; returns the exit code."""
    import datetime  # noqa: PLC0415

    import odoo  # noqa: PLC0415
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415
    from odoo.addons.office365_calendar_sync.emulator import GraphEmulator  # noqa: PLC0415
    from odoo.addons.office365_calendar_sync.tools import emulator_setup  # noqa: PLC0415
    from odoo.service.server import ThreadedServer  # noqa: PLC0415

    changes = config["changes"]
    registry = env.registry
    port = odoo.tools.config["http_port"]
    base_url = f"http://127.0.0.1:{port}"
    redirect_uri = base_url + "/office365_calendar_sync/oauth/callback"

    emulator = GraphEmulator(latency=config["latency"], auto_notify=True).start()
    server = ThreadedServer(odoo.http.root)
    server.http_spawn()
    odoo.tools.config["max_cron_threads"] = config["cron_threads"]
    server.cron_spawn()

    try:
        email = "latency@example.com"
        emulator.add_mailbox(email, display_name="Latency")
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            emulator_setup.configure(
                env, emulator, redirect_uris=[redirect_uri], public_base_url=base_url
            )
            env["ir.config_parameter"].set_param("web.base.url", base_url)
            user = env["res.users"].create(
                {
                    "name": "Latency",
                    "login": "latency",
                    "email": email,
                    "tz": "Europe/Brussels",
                    "groups_id": [(6, 0, [env.ref("base.group_user").id])],
                }
            )
            emulator_setup.connect_mailbox(emulator, user, email, redirect_uri)
            user._o365_start("activities")
            user_id = user.id
        print(
            f"Emulator latency {config['latency'] * 1000:.0f} ms per request, "
            f"{config['cron_threads']} cron worker thread(s), {changes} changes each way"
        )

        def subscribed():
            with registry.cursor() as cr:
                cr.execute(
                    "SELECT s.graph_id FROM office365_subscription s"
                    " JOIN office365_account a ON a.id = s.account_id"
                    " WHERE a.user_id = %s AND s.state = 'active'",
                    [user_id],
                )
                row = cr.fetchone()
                return row and row[0]

        if not _wait(subscribed, 60, 0.05):
            print("!! no subscription after 60 s (is the webhook reachable?)")
            return 2

        today = datetime.date.today()
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            partner = env["res.partner"].create({"name": "Latency customer"})
            activity = env["mail.activity"].create(
                {
                    "res_model_id": env["ir.model"]._get_id("res.partner"),
                    "res_id": partner.id,
                    "user_id": user_id,
                    "summary": "Latency probe",
                    "activity_type_id": env.ref("mail.mail_activity_data_todo").id,
                    "date_deadline": today + datetime.timedelta(days=2),
                }
            )
            activity_id = activity.id

        def event_id():
            with registry.cursor() as cr:
                cr.execute(
                    "SELECT event_id FROM office365_link WHERE res_model = 'mail.activity'"
                    " AND res_id = %s AND state = 'synced' AND event_id IS NOT NULL",
                    [activity_id],
                )
                row = cr.fetchone()
                return row and row[0]

        graph_event_id = _wait(event_id, 60, 0.02)
        if not graph_event_id:
            print("!! the activity did not reach Outlook within 60 s")
            return 2
        mailbox = emulator.mailbox(email)

        def deadline():
            with registry.cursor() as cr:
                cr.execute("SELECT date_deadline FROM mail_activity WHERE id = %s", [activity_id])
                return cr.fetchone()[0]

        def event_date():
            start = mailbox.events[graph_event_id]["start"]["dateTime"]
            return datetime.date.fromisoformat(start[:10])

        def settle():
            # Let the echo of the previous change (its own notification) finish.
            emulator.wait_notifications(5)
            time.sleep(0.3)

        inbound, outbound = [], []
        day = today + datetime.timedelta(days=3)
        for _index in range(changes):
            settle()
            event = mailbox.events[graph_event_id]
            zone = event["start"].get("timeZone") or "UTC"
            started = time.monotonic()
            mailbox.update_event(
                graph_event_id,
                {
                    "start": {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": zone},
                    "end": {
                        "dateTime": f"{(day + datetime.timedelta(days=1)).isoformat()}T00:00:00",
                        "timeZone": zone,
                    },
                },
            )
            if _wait(lambda target=day: deadline() == target, 30):
                inbound.append(time.monotonic() - started)
            else:
                print(f"!! Outlook -> Odoo: change to {day} not seen within 30 s")
            day += datetime.timedelta(days=1)
        for _index in range(changes):
            settle()
            started = time.monotonic()
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["mail.activity"].browse(activity_id).date_deadline = day
            if _wait(lambda target=day: event_date() == target, 30):
                outbound.append(time.monotonic() - started)
            else:
                print(f"!! Odoo -> Outlook: change to {day} not seen within 30 s")
            day += datetime.timedelta(days=1)
        settle()
    finally:
        emulator.stop()
        if getattr(server, "httpd", None):
            server.httpd.shutdown()
    rc = 0
    print(f"{'direction':<18}{'changes':>8}{'median s':>10}{'p90 s':>8}{'max s':>8}  target")
    for name, values in (("Outlook -> Odoo", inbound), ("Odoo -> Outlook", outbound)):
        if len(values) < changes:
            rc = 1
        if not values:
            print(f"{name:<18}{0:>8}{'-':>10}{'-':>8}{'-':>8}  FAIL (nothing arrived)")
            continue
        median = _median(values)
        ok = median < TARGET_SECONDS and len(values) == changes
        rc = rc if ok else 1
        print(
            f"{name:<18}{len(values):>8}{median:>10.3f}{_percentile(values, 0.9):>8.3f}"
            f"{max(values):>8.3f}  median < {TARGET_SECONDS:.0f} s: {'PASS' if ok else 'FAIL'}"
        )
    return rc


# --------------------------------------------------------------------------- outside Odoo


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument(
        "--latency",
        type=float,
        default=float(os.environ.get("O365_BENCH_LATENCY", "0.020")),
        help="seconds added to every emulator request (default 0.020)",
    )
    parser.add_argument("--cron-threads", type=int, default=2)
    parser.add_argument("--db", default=f"o365_latency_{os.getpid()}")
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


class Prepared:
    """This benchmark's scratch database, installed in the background: ``tools/bench.py``
    starts it beside its own install (two processes on two cores instead of one after the
    other) and runs the benchmark with :meth:`run` at its end."""

    def __init__(self, server, argv=None):
        import contextlib  # noqa: PLC0415
        import threading  # noqa: PLC0415

        import run_tests  # noqa: PLC0415 (stdlib-only helper of this folder)

        self.args = parse_args(argv)
        self._stack = contextlib.ExitStack()
        self.odoo = self._stack.enter_context(
            run_tests.scratch(server, "bench-latency", self.args.db, keep_db=self.args.keep_db)
        )
        self._installed = None
        self._thread = threading.Thread(target=self._install, name="bench-latency-install")
        self._thread.start()

    def _install(self):
        self._installed = self.odoo.install()

    def wait(self):
        """Wait for the install to end; whether it succeeded."""
        self._thread.join()
        return bool(self._installed)

    def close(self):
        """Drop the scratch (after the install has ended)."""
        self._thread.join()
        self._stack.close()

    def run(self):
        """Wait for the install, run the benchmark, drop the scratch; the exit status."""
        import run_tests  # noqa: PLC0415

        try:
            if not self.wait():
                return 2
            config = {
                "changes": self.args.changes,
                "latency": self.args.latency,
                "cron_threads": self.args.cron_threads,
            }
            return self.odoo.run_tool(
                "bench_latency:run_in_odoo", config, http_port=run_tests.free_port()
            )
        finally:
            self.close()


def main(argv=None):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run_tests  # noqa: PLC0415 (stdlib-only helper of this folder)

    server = run_tests.prepare_server("bench_latency")
    if server is None:
        return 2
    return Prepared(server, argv).run()


if __name__ == "__main__":
    sys.exit(main())
