#!/usr/bin/env python3
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""``make bench``: this addon against Odoo's own ``microsoft_calendar``, on the Graph emulator.

1. finds the Odoo 18 server and PostgreSQL exactly as ``make test`` does (``tools/run_tests``);
2. creates a throw-away database with ``office365_calendar_sync`` and ``microsoft_calendar``;
3. runs :func:`run_in_odoo` in ``odoo shell`` on it: a Graph emulator (own process) with a
   flat per-request latency (``--latency``, env ``O365_BENCH_LATENCY``, default 0.020 s), then
   the scenarios below, and prints ONE table (Graph requests from the emulator's counters, SQL
   queries from ``odoo.sql_db.sql_counter``) followed by the targets with PASS/FAIL;
4. drops the database (``--keep-db`` keeps it) and then runs the latency benchmark of the
   near-real-time sync (``tools/bench_latency.py``; ``--no-latency`` skips it).

Scenarios: initial push of N activities of one user; N new Outlook meetings logged on
contacts (at the configured latency and at 0 ms); an incremental sync with no change (per
user); an incremental sync with 1% of the items changed on each side; U users x C changes each
with 1 and with 2 cron workers (threads with their own cursor running ``_cron_sync``); and
``microsoft_calendar`` pushing N calendar events and pulling N events through its own code,
pointed at the same emulator by patching its endpoint constants in this process only.

The emulator always applies Outlook's limit of 4 concurrent requests per app and mailbox (batch
items included). The push, the pull and the 2-worker cycle run twice: at the flat latency (no
cost per write) and at the realistic profile (``--real-request`` seconds per request,
default 0.050, plus ``--real-write`` seconds per write item, default 0.150, held inside one of
the mailbox's 4 slots), which is what makes ``$batch`` cost real time on Microsoft 365.

Exit status: 0 when every target passes, 1 when one fails, 2 when the set-up fails.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_tests

ROOT = run_tests.ROOT
MODULE = run_tests.MODULE
section = run_tests.section
_STARTED = time.monotonic()


def say(text=""):
    """``run_tests.say``; a progress line ("-- ...") starts with the seconds since this process
    started (where a run's time goes: the rows are timed, the set-up between them is not)."""
    if text.startswith("-- "):
        text = f"-- [{time.monotonic() - _STARTED:.0f} s] {text[3:]}"
    run_tests.say(text)


DOMAIN = "bench.example.com"
# Cron workers of the set-up cycles between the measures (first delta rounds, draining).
SETUP_THREADS = 8


# --------------------------------------------------------------------------- the emulator


def serve_emulator():
    """``bench.py --serve-emulator``: a Graph emulator served in this process, driven by the
    bench in Odoo's process through a local connection (``O365_BENCH_KEY`` authenticates it):
    Graph is remote, so the emulator's work never competes with the cron workers for Odoo's
    interpreter lock. Prints its port and addresses on the first line."""
    import resource  # noqa: PLC0415
    from multiprocessing.connection import Listener  # noqa: PLC0415

    # Started from Odoo's process, this one inherits Odoo's memory limit (limit_memory_hard,
    # 2.5 GiB of address space): room for about 300 threads of 8 MiB of stack, one per open
    # connection, and the sign-in of hundreds of users at once met "can't start new thread"
    # (connections reset in the TLS handshake). The emulator is not an Odoo worker.
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    sys.path.insert(0, str(ROOT))
    from emulator import GraphEmulator  # noqa: PLC0415 (pure package of this repository)

    emu = GraphEmulator(latency=0.0, write_latency=0.0).start()
    emu.shuffle_batch = False

    def call(name, args):
        if name == "counters":
            with emu.lock:
                counters = dict(emu.counters)
            counters["refused"] = sum(emu.throttling.refused.values())
            counters["peak"] = max(emu.throttling.peak.values(), default=0)
            return counters
        if name == "profile":
            emu.latency, emu.write_latency = args
            emu.throttling.reset()
            return None
        if name.startswith("mailbox."):
            email, *rest = args
            result = getattr(emu.mailbox(email), name[8:])(*rest)
            return result if name == "mailbox.get" else None
        result = getattr(emu, name)(*args)
        return result if name == "issue_tokens" else None

    key = bytes.fromhex(os.environ["O365_BENCH_KEY"])
    with Listener(("127.0.0.1", 0), authkey=key) as server:
        print(server.address[1], emu.base_url, emu.authority, emu.ca_path, emu.root_url, flush=True)
        with server.accept() as conn:
            while True:
                try:
                    name, args = conn.recv()
                except EOFError:
                    break
                try:
                    conn.send((True, call(name, args)))
                except Exception as exc:  # handed back to the caller, which raises it
                    conn.send((False, repr(exc)))
    emu.stop()
    return 0


class RemoteEmulator:
    """The Graph emulator in a child process, driven through a local connection."""

    def __init__(self):
        import secrets  # noqa: PLC0415
        from multiprocessing.connection import Client  # noqa: PLC0415

        key = secrets.token_hex(16)
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-emulator"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "O365_BENCH_KEY": key},
        )
        port, self.base_url, self.authority, self.ca_path, self.root_url = (
            self.proc.stdout.readline().split()
        )
        self.conn = Client(("127.0.0.1", int(port)), authkey=bytes.fromhex(key))

    def call(self, name, *args):
        self.conn.send((name, args))
        ok, value = self.conn.recv()
        if not ok:
            raise RuntimeError(f"emulator {name}: {value}")
        return value

    @property
    def counters(self):
        return self.call("counters")

    def profile(self, latency, write_latency=0.0):
        """Seconds per request, and per write (inside the mailbox's slot)."""
        self.call("profile", latency, write_latency)

    def register_app(self, *args):
        return self.call("register_app", *args)

    def add_mailbox(self, email, display_name=None):
        self.call("add_mailbox", email, display_name)

    def issue_tokens(self, email, client_id):
        return self.call("issue_tokens", email, client_id)

    def mailbox(self, email):
        return RemoteMailbox(self, email)

    def stop(self):
        self.conn.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class RemoteMailbox:
    def __init__(self, emulator, email):
        self.emu = emulator
        self.email = email

    def create_event(self, payload):
        self.emu.call("mailbox.create_event", self.email, payload)

    def get(self, event_id):
        return self.emu.call("mailbox.get", self.email, event_id)

    def update_event(self, event_id, patch):
        self.emu.call("mailbox.update_event", self.email, event_id, patch)


# --------------------------------------------------------------------------- inside Odoo


def load_average():
    """The 1-minute load average of the machine (wall times mean little when it is high)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def rss_mb():
    """Resident memory of this process in MB (``VmRSS`` of ``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Row:
    __slots__ = (
        "items",
        "latency",
        "load",
        "name",
        "peak",
        "queries",
        "refused",
        "requests",
        "runs",
        "wall",
        "write_latency",
    )

    def __init__(self, name, items, latency, requests, queries, wall, write_latency=0.0):
        self.name = name
        self.items = items
        self.latency = latency
        self.write_latency = write_latency
        self.requests = requests
        self.queries = queries
        self.wall = wall
        self.refused = 0
        self.peak = 0
        self.runs = 1
        self.load = (0.0, 0.0)

    @property
    def real(self):
        return bool(self.write_latency)

    @property
    def profile(self):
        if self.write_latency:
            return f"{self.latency * 1000:.0f}+{self.write_latency * 1000:.0f}/w"
        return f"{self.latency * 1000:.0f} ms"

    @property
    def rate(self):
        return self.items / self.wall if self.wall else 0.0


class Bench:
    """The scenarios, run in an ``odoo shell`` environment (superuser, committing)."""

    def __init__(self, env, config):
        self.env = env
        self.cfg = config
        self.latency = config["latency"]
        self.real = (config["real_request"], config["real_write"])
        self.n = config["items"]
        self.real_n = config["real_items"]
        self.rows = []
        self.emu = RemoteEmulator()
        # Odoo's microsoft_calendar calls requests without a verify argument.
        os.environ["REQUESTS_CA_BUNDLE"] = self.emu.ca_path
        self.partner_model = env["ir.model"]._get_id("res.partner")
        self.todo = env.ref("mail.mail_activity_data_todo")
        self.today = None
        self.contact_turn = 0

    # ----- helpers ---------------------------------------------------------------------
    def measure(self, name, items, latency, func, write_latency=0.0, queries=None):
        """Run ``func`` under the profile, as one row. ``queries``: a function of the result
        giving SQL queries counted elsewhere (other processes), added to this process's."""
        from odoo import sql_db  # noqa: PLC0415

        self.emu.profile(latency, write_latency)
        counters0 = dict(self.emu.counters)
        requests0 = counters0["total"]
        queries0 = sql_db.sql_counter
        load0 = load_average()
        started = time.perf_counter()
        result = func()
        # The distributed cycle's own span: from its start signal, without the servers' start-up.
        wall = getattr(result, "span", None) or time.perf_counter() - started
        counters = self.emu.counters
        row = Row(
            name,
            items,
            latency,
            counters["total"] - requests0,
            sql_db.sql_counter - queries0 + (queries(result) if queries else 0),
            wall,
            write_latency,
        )
        row.refused, row.peak = counters["refused"], counters["peak"]
        row.load = (load0, load_average())
        if isinstance(result, Drain):
            row.runs = result.runs
        elif isinstance(result, Cycle):
            row.runs = len(result.claimed)
        self.emu.profile(0.0, 0.0)
        self.rows.append(row)
        say(
            f"-- {name} [{row.profile}]: {row.items} items, {row.requests} requests, "
            f"{row.queries} queries, {row.wall:.2f} s, {row.runs} run(s); mailbox concurrency: "
            f"peak {row.peak}, {row.refused} refused; load average {row.load[0]:.1f} -> "
            f"{row.load[1]:.1f}"
        )
        paths = {
            key: value - counters0.get(key, 0)
            for key, value in counters.items()
            if key not in ("total", "refused", "peak") and value != counters0.get(key, 0)
        }
        say(f"   requests by path: {dict(sorted(paths.items()))}")
        return row, result

    def commit(self):
        self.env.cr.commit()

    def setup(self):
        from odoo import fields  # noqa: PLC0415
        from odoo.addons.office365_calendar_sync.tools import emulator_setup  # noqa: PLC0415

        env = self.env
        emulator_setup.configure(
            env, self.emu, internal_domains=DOMAIN, create_contacts="0", public_base_url=""
        )
        self.today = fields.Date.context_today(env.user)
        company = env["res.partner"].create({"name": "Bench Customer", "is_company": True})
        self.contacts = env["res.partner"].create(
            [
                {
                    "name": f"Contact {i}",
                    "email": f"contact{i}@customer.example.org",
                    "parent_id": company.id,
                }
                for i in range(200)
            ]
        )
        self.commit()

    def new_users(self, logins):
        from odoo import Command  # noqa: PLC0415

        group = self.env.ref("base.group_user")
        return (
            self.env["res.users"]
            .with_context(no_reset_password=True, mail_create_nolog=True, tracking_disable=True)
            .create(
                [
                    {
                        "login": login,
                        "name": login,
                        "email": f"{login}@{DOMAIN}",
                        "tz": "Europe/Brussels",
                        "groups_id": [Command.set([group.id])],
                    }
                    for login in logins
                ]
            )
        )

    def connect(self, user):
        """A mailbox for ``user``, connected through the real sign-in."""
        return self.connect_all(user)[0]

    def connect_all(self, users):
        """A mailbox for each of ``users``, connected through the real sign-in (8 at a time:
        set-up, not measured)."""
        from odoo.addons.office365_calendar_sync.tools import emulator_setup  # noqa: PLC0415

        for user in users:
            self.emu.add_mailbox(user.email, display_name=user.name)
        return emulator_setup.connect_mailboxes(
            self.emu, [(user, user.email) for user in users], threads=8
        )

    def activities(self, user, count, offset=0):
        return self.activities_of([(user, count, offset)])

    def activities_of(self, plan):
        """New activities: ``plan`` is a list of (user, count, offset)."""
        values = [
            {
                "res_model_id": self.partner_model,
                "activity_type_id": self.todo.id,
                "summary": f"Follow-up {offset + i}",
                "date_deadline": self.today + _days(1 + (offset + i) % 60),
                "user_id": user.id,
            }
            for user, count, offset in plan
            for i in range(count)
        ]
        size = len(self.contacts)
        for index, vals in enumerate(values):
            vals["res_id"] = self.contacts[index % size].id
        model = self.env["mail.activity"].with_context(
            mail_activity_quick_update=True, mail_notrack=True
        )
        # One contact at most once per create: mail subscribes the assignee per record.
        records = model.browse()
        for index in range(0, len(values), size):
            records |= model.create(values[index : index + size])
        return records

    def outlook_meetings(self, mailbox, count, tag):
        """``count`` meetings booked in Outlook with a customer contact each."""
        from datetime import datetime, timedelta  # noqa: PLC0415

        base = datetime.combine(self.today, datetime.min.time()) + timedelta(days=1, hours=8)
        for i in range(count):
            start = base + timedelta(days=i % 90, minutes=30 * (i % 16))
            contact = self.contacts[i % len(self.contacts)]
            mailbox.create_event(
                {
                    "subject": f"{tag} meeting {i}",
                    "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                    "end": {
                        "dateTime": (start + timedelta(minutes=30)).isoformat(),
                        "timeZone": "UTC",
                    },
                    "body": {"contentType": "html", "content": f"<p>Agenda {i}</p>"},
                    "attendees": [
                        {
                            "emailAddress": {"address": contact.email, "name": contact.name},
                            "type": "required",
                        }
                    ],
                }
            )

    def sync(self, account):
        stats = account._o365_sync()
        self.commit()
        return stats

    def backlog(self, users):
        """Links of ``users`` still to push or delete (the drain is over when none remain)."""
        from odoo.addons.office365_calendar_sync.models.office365_link import (  # noqa: PLC0415
            PUSH_STATES,
        )

        return (
            self.env["office365.link"]
            .sudo()
            .search_count([("user_id", "in", users.ids), ("state", "in", PUSH_STATES)])
        )

    def drain(self, account, max_runs=50):
        """Runs of ``account`` until its backlog is empty, as the cron does (it runs again
        while links remain): a run takes at most ``PUSH_BATCH`` links."""
        drain = Drain()
        while True:
            stats = self.sync(account)
            drain.add(stats)
            if not self.backlog(account.user_id):
                return drain
            if drain.runs >= max_runs:
                raise RuntimeError(f"{account.user_id.login}: backlog left after {max_runs} runs")

    # ----- our scenarios ---------------------------------------------------------------
    def run_ours(self):
        n, real_n = self.n, self.real_n
        users = self.new_users(
            [
                "pusher",
                "inbound_fast",
                "inbound",
                "idle",
                "pusher_real",
                "inbound_real",
                "pusher_mid",
            ]
        )
        pusher, inbound_fast, inbound, idle, pusher_real, inbound_real, pusher_mid = users
        accounts = {user.login: self.connect(user) for user in users}
        pusher._o365_start("activities")
        pusher_real._o365_start("activities")
        pusher_mid._o365_start("activities")
        inbound_fast._o365_start("events")
        inbound._o365_start("events")
        inbound_real._o365_start("events")
        idle._o365_start("activities")
        idle._o365_start("events")
        self.commit()
        for account in accounts.values():
            self.sync(account)  # first delta round, category: not part of the measures

        self.activities(pusher, n)
        self.commit()
        self.push_row, drain = self.measure(
            f"ours: initial push of {n:,} activities (1 user)",
            n,
            self.latency,
            lambda: self.drain(accounts["pusher"]),
        )
        self.pushed = drain.created("activities")
        self.sync(accounts["pusher"])  # reads back its own writes (echo guard)

        self.activities(pusher_mid, real_n)
        self.commit()
        self.mid_push_row, _drain = self.measure(
            f"ours: initial push of {real_n:,} activities (1 user)",
            real_n,
            self.latency,
            lambda: self.drain(accounts["pusher_mid"]),
        )

        self.activities(pusher_real, real_n)
        self.commit()
        self.real_push_row, drain = self.measure(
            f"ours: initial push of {real_n:,} activities (1 user)",
            real_n,
            self.real[0],
            lambda: self.drain(accounts["pusher_real"]),
            write_latency=self.real[1],
        )
        self.real_pushed = drain.created("activities")
        self.sync(accounts["pusher_real"])
        if self.cfg.get("profile") == "push":
            self.activities(pusher_real, real_n, offset=real_n)
            self.commit()
            self.emu.profile(*self.real)
            profiled(lambda: self.drain(accounts["pusher_real"]))
            self.emu.profile(0.0, 0.0)

        self.outlook_meetings(self.emu.mailbox(inbound_fast.email), n, "Fast")
        self.inbound_fast_row, _drain = self.measure(
            f"ours: {n:,} new Outlook meetings logged on contacts",
            n,
            0.0,
            lambda: self.drain(accounts["inbound_fast"]),
        )
        if self.cfg.get("profile") == "inbound":
            self.outlook_meetings(self.emu.mailbox(inbound_fast.email), n, "Profiled")
            self.emu.profile(0.0, 0.0)
            profiled(lambda: self.drain(accounts["inbound_fast"]))
        self.outlook_meetings(self.emu.mailbox(inbound.email), n, "Slow")
        self.inbound_row, _drain = self.measure(
            f"ours: {n:,} new Outlook meetings logged on contacts",
            n,
            self.latency,
            lambda: self.drain(accounts["inbound"]),
        )
        self.sync(accounts["inbound"])
        self.sync(accounts["inbound_fast"])
        self.outlook_meetings(self.emu.mailbox(inbound_real.email), real_n, "Real")
        self.real_inbound_row, _drain = self.measure(
            f"ours: {real_n:,} new Outlook meetings logged on contacts",
            real_n,
            self.real[0],
            lambda: self.drain(accounts["inbound_real"]),
            write_latency=self.real[1],
        )
        self.sync(accounts["inbound_real"])

        # Only now, every backlog drained: a sync with nothing to do.
        self.idle_backlog = self.backlog(users)
        self.idle_rows = []
        for login, label in (
            ("pusher", f"{n:,} activities"),
            ("inbound", f"{n:,} meetings logged"),
            ("idle", "nothing"),
        ):
            row, _stats = self.measure(
                f"ours: incremental sync, no change (user with {label})",
                0,
                self.latency,
                lambda login=login: self.sync(accounts[login]),
            )
            self.idle_rows.append(row)

        # 1% of the pushed items changed on each side.
        links = (
            self.env["office365.link"]
            .sudo()
            .search([("user_id", "=", pusher.id), ("state", "=", "synced")], order="id")
        )
        step = max(1, len(links) // max(1, n // 100))
        changed = links[::step][: max(1, n // 100) * 2]
        odoo_side, outlook_side = changed[0::2], changed[1::2]
        activities = self.env["mail.activity"].browse(odoo_side.mapped("res_id"))
        for activity in activities:
            activity.summary = activity.summary + " (edited in Odoo)"
        box = self.emu.mailbox(pusher.email)
        for link in outlook_side:
            event = box.get(link.event_id)
            box.update_event(link.event_id, {"subject": (event["subject"] or "") + " (Outlook)"})
        self.commit()
        self.changed_row, _drain = self.measure(
            f"ours: incremental sync, 1% changed on each side ({len(changed)} items)",
            len(changed),
            self.latency,
            lambda: self.drain(accounts["pusher"]),
        )

    # ----- a tenant of users -----------------------------------------------------------
    def run_tenant(self):
        """U users x C new activities each, synced by cron workers: threads of this process,
        then two other Odoo processes on the same database."""
        count, changes = self.cfg["users"], self.cfg["changes"]
        started = time.perf_counter()
        say(f"-- connecting {count} users (sign-in through the emulator)")
        users = self.new_users([f"team{i:04d}" for i in range(count)])
        self.connect_all(users)
        users.invalidate_recordset()
        for user in users:
            user._o365_settings().write({"o365_push_existing": False})
            user._o365_start("activities")
        self.commit()
        say(f"   connected in {time.perf_counter() - started:.0f} s")
        self.tenant = users
        self.activities_of([(user, 1, 500) for user in users])
        self.commit()
        # First delta round and Outlook category of every user: not measured.
        self.cycle(SETUP_THREADS)
        self.tenant_rows = {}
        # The flat rounds (1 against 2 threads) on the first ``flat_users`` users only: the
        # others have nothing due and are not claimed.
        flat_users = users[: self.cfg.get("flat_users") or len(users)]
        rounds = (
            ("flat 1", 1, 1, (self.latency, 0.0), flat_users),
            ("flat 2", 2, 1, (self.latency, 0.0), flat_users),
            ("real 2", 2, 1, self.real, users),
            ("real 4", 4, 1, self.real, users),
            ("real 2x2", 2, 2, self.real, users),
        )
        servers = None
        try:
            for turn, (key, threads, processes, (latency, write_latency), group) in enumerate(
                rounds
            ):
                if processes > 1 and servers is None:
                    say(f"-- starting {processes} Odoo servers with {threads} cron threads each")
                    servers = Servers(self.cfg["shell_cmd"], processes, threads)
                    # Their first cycle, like the first cycle of this process: every user pushes
                    # one activity (sign-in metadata and Outlook category checked). Not measured.
                    self.activities_of([(user, 1, 900) for user in users])
                    self.commit()
                    servers.cycle()
                records = self.activities_of([(user, changes, (turn + 1) * 1000) for user in group])
                self.commit()
                profile = self.cfg.get("profile") == "tenant" and key == "real 4"
                if processes == 1:
                    label = f"{threads} cron thread(s), 1 server"
                    queries = None
                else:
                    label = f"{processes} servers x {threads} cron threads"

                    def queries(result):
                        return sum(part["queries"] for part in result.parts)

                def run(threads=threads, servers=servers, profile=profile):
                    if servers is None:
                        return self.cycle(threads, profile)
                    return servers.cycle()

                row, result = self.measure(
                    f"ours: {len(group)} users x {changes} changes, {label}",
                    len(group) * changes,
                    latency,
                    run,
                    write_latency=write_latency,
                    queries=queries,
                )
                row.runs = len(result.claimed)
                result.check(self, users, records)
                say(
                    f"   accounts per worker: {result.per_worker}; claimed twice: "
                    f"{result.twice}; delivered {result.delivered:,}/{len(records):,}; "
                    f"backlog after: {result.backlog}"
                )
                self.tenant_rows[key] = (row, result, threads * processes)
        finally:
            if servers is not None:
                servers.stop()

    def make_due(self):
        """Every connected account due for its periodic poll now."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE office365_account SET next_sync_at = now() at time zone 'UTC' - interval "
            "'1 minute' WHERE state = 'connected'"
        )
        self.commit()
        self.env.invalidate_all()

    def per_user_graph_time(self):
        """Graph time of one tenant user's run at the realistic profile: its delta read, then
        its C writes in up to 4 parallel chains of one ``$batch`` each (C / 4 writes in a row,
        rounded up), each request costing the per-request time."""
        request, write = self.real
        return 2 * request + -(-self.cfg["changes"] // 4) * write

    def cycle(self, threads, profile=False):
        """``threads`` cron workers of this process (each its own cursor running
        ``_cron_sync`` until nothing is due), started together."""
        import threading  # noqa: PLC0415

        registry = self.env.registry
        result = Cycle()
        barrier = threading.Barrier(threads)

        def worker(index):
            try:
                with registry.cursor() as cr:
                    barrier.wait(timeout=60)
                    result.per_worker[index] = cron_until_done(cr, result.claimed, profile)
            except Exception as exc:  # reported below
                result.errors.append(exc)

        with claims_recorded(self.env, result.claimed):
            workers = [
                threading.Thread(target=worker, args=(i,), name=f"cron-{i}") for i in range(threads)
            ]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
        if result.errors:
            raise result.errors[0]
        return result

    # ----- a quiet tenant --------------------------------------------------------------
    def run_quiet(self):
        """Every connected user due for its periodic poll with nothing changed anywhere: one
        cron worker runs them all (after every backlog is drained)."""
        import gc  # noqa: PLC0415

        want = self.cfg["quiet_users"]
        accounts = self.env["office365.account"].sudo().search([("state", "=", "connected")])
        missing = want - len(accounts)
        if missing > 0:
            say(f"-- connecting {missing} more users for the quiet tenant")
            users = self.new_users([f"quiet{i:04d}" for i in range(missing)])
            self.connect_all(users)
            users.invalidate_recordset()
            for user in users:
                user._o365_settings().write({"o365_push_existing": False})
                user._o365_start("activities")
            self.commit()
            self.cycle(SETUP_THREADS)  # their first delta round and category: not measured
        accounts = self.env["office365.account"].sudo().search([("state", "=", "connected")])
        self.quiet_backlog = self.backlog(accounts.user_id)
        self.cycle(SETUP_THREADS)  # whatever was still due (requests left by the tenant rounds)
        # The first poll after the tenant's changes reads our own writes back (Graph lists
        # every event we created or changed in the next delta round): counted in its own row,
        # the quiet cycle comes after it.
        self.make_due()
        self.readback_row, _cycle = self.measure(
            f"ours: first poll after the changes (reads back our writes), {len(accounts):,} "
            "users, 4 cron threads",
            len(accounts),
            self.latency,
            lambda: self.cycle(4),
        )
        self.make_due()
        gc.collect()
        self.rss = [rss_mb()]
        profile = self.cfg.get("profile") == "quiet"
        if profile:  # every query of the cycle to the Odoo log, with the profile
            import logging  # noqa: PLC0415

            logging.getLogger("odoo.sql_db").setLevel(logging.DEBUG)
        self.quiet_row, self.quiet = self.measure(
            f"ours: quiet tenant, no-change cycle over {len(accounts):,} users, 1 cron thread",
            len(accounts),
            self.latency,
            lambda: self.cycle(1, profile),
        )
        self.quiet_row.runs = len(self.quiet.claimed)
        if profile:
            logging.getLogger("odoo.sql_db").setLevel(logging.WARNING)
        gc.collect()
        self.rss.append(rss_mb())
        say(f"   cron worker RSS: {self.rss[0]:.1f} MB before, {self.rss[1]:.1f} MB after")

    # ----- Odoo's microsoft_calendar -------------------------------------------------------
    def patch_microsoft(self):
        """Point microsoft_calendar at the emulator (endpoint constants, this process only)."""
        from odoo.addons.microsoft_account.models import microsoft_service  # noqa: PLC0415
        from odoo.addons.office365_calendar_sync.tools import emulator_setup  # noqa: PLC0415

        root = self.emu.root_url
        microsoft_service.DEFAULT_MICROSOFT_GRAPH_ENDPOINT = root
        microsoft_service.DEFAULT_MICROSOFT_AUTH_ENDPOINT = root + "/common/oauth2/v2.0/authorize"
        microsoft_service.DEFAULT_MICROSOFT_TOKEN_ENDPOINT = root + "/common/oauth2/v2.0/token"
        do_request = microsoft_service.MicrosoftService._do_request
        defaults = list(do_request.__defaults__)
        defaults[-2] = root  # preuri, bound when the function was defined
        do_request.__defaults__ = tuple(defaults)
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("microsoft_calendar_client_id", emulator_setup.CLIENT_ID)
        params.set_param("microsoft_calendar_client_secret", emulator_setup.CLIENT_SECRET)
        params.set_param("microsoft_account.token_endpoint", root + "/common/oauth2/v2.0/token")
        params.set_param("microsoft_account.auth_endpoint", root + "/common/oauth2/v2.0/authorize")

    def run_theirs(self):
        self.patch_microsoft()
        (
            self.theirs_push_row,
            self.theirs_pushed,
            self.theirs_pull_row,
            self.theirs_pulled,
        ) = self.theirs_round("outlook_native", self.real_n, self.latency, 0.0)
        self.real_theirs_push_row, self.real_theirs_pushed, self.real_theirs_pull_row, _pulled = (
            self.theirs_round("outlook_native_real", self.real_n, *self.real)
        )

    def theirs_round(self, login, n, latency, write_latency):
        """microsoft_calendar's push of N events, then its pull of N new Outlook events."""
        from datetime import datetime, timedelta  # noqa: PLC0415

        from odoo import Command, fields  # noqa: PLC0415
        from odoo.addons.office365_calendar_sync.tools import emulator_setup  # noqa: PLC0415

        user = self.new_users([login])
        self.emu.add_mailbox(user.email, display_name=user.name)
        tokens = self.emu.issue_tokens(user.email, emulator_setup.CLIENT_ID)
        user.sudo().write(
            {
                "microsoft_calendar_rtoken": tokens["refresh_token"],
                "microsoft_calendar_token": tokens["access_token"],
                "microsoft_calendar_token_validity": fields.Datetime.now()
                + timedelta(seconds=int(tokens.get("expires_in") or 3600)),
            }
        )
        self.commit()
        as_user = user.with_user(user).sudo()
        base = datetime.combine(self.today, datetime.min.time()) + timedelta(days=1, hours=8)
        events = (
            self.env["calendar.event"]
            .with_user(user)
            .with_context(
                no_calendar_sync=True,
                no_mail_to_attendees=True,
                mail_create_nolog=True,
                mail_notrack=True,
                dont_notify=False,
            )
        )
        events.create(
            [
                {
                    "name": f"Native {i}",
                    "start": base + timedelta(days=i % 60, minutes=30 * (i % 16)),
                    "stop": base + timedelta(days=i % 60, minutes=30 * (i % 16) + 30),
                    "user_id": user.id,
                    "partner_ids": [
                        Command.set([user.partner_id.id, self.contacts[i % len(self.contacts)].id])
                    ],
                }
                for i in range(n)
            ]
        )
        self.commit()

        def theirs_sync():
            as_user._sync_microsoft_calendar()
            self.commit()  # their writes to Outlook run after commit, one cursor each

        push_row, _ = self.measure(
            f"microsoft_calendar: push of {n:,} calendar events",
            n,
            latency,
            theirs_sync,
            write_latency=write_latency,
        )
        pushed = (
            self.env["calendar.event"]
            .sudo()
            .search_count([("user_id", "=", user.id), ("ms_universal_event_id", "!=", False)])
        )
        theirs_sync()  # reads back its own writes: not measured
        self.outlook_meetings(self.emu.mailbox(user.email), n, f"Native pull {login}")
        before = self.env["calendar.event"].sudo().search_count([])
        pull_row, _ = self.measure(
            f"microsoft_calendar: pull of {n:,} new Outlook events",
            n,
            latency,
            theirs_sync,
            write_latency=write_latency,
        )
        pulled = self.env["calendar.event"].sudo().search_count([]) - before
        return push_row, pushed, pull_row, pulled

    # ----- report ---------------------------------------------------------------------------
    def table(self):
        """One line per scenario, the flat and the realistic profile side by side."""
        flat_name = f"{self.latency * 1000:.0f} ms"
        real_name = f"{self.real[0] * 1000:.0f}+{self.real[1] * 1000:.0f}/w"
        scenarios = {}
        for row in self.rows:
            key = row.name  # the same scenario and size at both profiles share a line
            if not row.real and row.latency != self.latency:
                key += f", at {row.latency * 1000:.0f} ms"
            scenarios.setdefault(key, {}).setdefault(row.real, row)

        def cells(row):
            if row is None:
                return ["-"] * 6
            return [
                f"{row.items:,}",
                f"{row.requests:,}",
                f"{row.refused:,}",
                f"{row.queries:,}",
                f"{row.wall:.2f}",
                f"{row.load[0]:.1f}>{row.load[1]:.1f}",
            ]

        sub = ("items", "requests", "429s", "SQL", "wall s", "load")
        head = (
            "scenario",
            *(f"{flat_name}: {name}" if i == 0 else name for i, name in enumerate(sub)),
            *(f"{real_name}: {name}" if i == 0 else name for i, name in enumerate(sub)),
        )
        lines = [head]
        for key, by_profile in scenarios.items():
            lines.append((key, *cells(by_profile.get(False)), *cells(by_profile.get(True))))
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = []
        for index, line in enumerate(lines):
            cells_ = [
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(line)
            ]
            out.append("| " + " | ".join(cells_) + " |")
            if index == 0:
                out.append(
                    "|"
                    + "|".join(
                        "-" * (w + 2) if i == 0 else "-" * (w + 1) + ":"
                        for i, w in enumerate(widths)
                    )
                    + "|"
                )
        return "\n".join(out)

    def targets(self):
        checks = []
        push = self.push_row
        checks.append(
            (
                f"push of {self.n:,} items in at most 110 Graph requests over all its runs "
                f"({push.requests} in {push.runs} run(s); {self.pushed:,} created)",
                push.requests <= 110 and self.pushed == self.n,
            )
        )
        mid, theirs = self.mid_push_row, self.theirs_push_row
        ratio = mid.wall / theirs.wall if theirs.wall else 0
        checks.append(
            (
                f"wall-time ratio ours/theirs on the push of {mid.items:,} at "
                f"{self.latency * 1000:.0f} ms at most 0.1 ({ratio:.3f}; requests "
                f"{mid.requests}/{theirs.requests} = {mid.requests / max(1, theirs.requests):.3f}; "
                f"theirs created {self.theirs_pushed:,})",
                ratio <= 0.1,
            )
        )
        ours_rate = self.inbound_row.rate
        theirs_rate = self.theirs_pull_row.rate
        checks.append(
            (
                f"(info) pull at {self.latency * 1000:.0f} ms: ours {ours_rate:,.0f} events/s "
                f"({self.inbound_row.items:,} in {self.inbound_row.requests} requests), theirs "
                f"{theirs_rate:,.0f} events/s ({self.theirs_pull_row.items:,} in "
                f"{self.theirs_pull_row.requests} requests; created {self.theirs_pulled:,})",
                None,
            )
        )
        for row in self.idle_rows:
            checks.append(
                (
                    f"{row.name[6:]}, after every backlog drained ({self.idle_backlog} links "
                    f"left): exactly 1 Graph request ({row.requests}) and at most 30 SQL "
                    f"queries ({row.queries})",
                    row.requests == 1 and row.queries <= 30 and self.idle_backlog == 0,
                )
            )
        fast = self.inbound_fast_row
        checks.append(
            (
                f"at least 300 inbound events per second at 0 ms ({fast.rate:,.0f}/s)",
                fast.rate >= 300,
            )
        )
        checks.extend(self.push_targets())
        checks.extend(self.tenant_targets())
        checks.extend(self.quiet_targets())
        return checks

    def push_targets(self):
        """Target 1: the realistic push near the mailbox's physical limit."""
        request, write = self.real
        real, theirs = self.real_push_row, self.real_theirs_push_row
        bound = real.items / 4 * write + real.requests * request
        checks = [
            (
                f"realistic profile: push of {self.real_n:,} items, at most 4 writes in flight "
                f"and none refused by Outlook's concurrency limit ({real.requests} requests in "
                f"{real.runs} run(s); peak {real.peak}; {real.refused} refused; "
                f"{self.real_pushed:,} created)",
                real.peak <= 4 and real.refused == 0 and self.real_pushed == self.real_n,
            ),
            (
                f"realistic profile: push of {self.real_n:,} items within 1.15x of the bound of "
                f"4 parallel writes per mailbox ({real.wall:.1f} s / {bound:.1f} s = "
                f"{real.wall / bound:.2f}x; bound = {real.items:,} / 4 x {write * 1000:.0f} ms + "
                f"{real.requests} requests x {request * 1000:.0f} ms; load average "
                f"{real.load[0]:.1f} -> {real.load[1]:.1f})",
                real.wall <= 1.15 * bound,
            ),
            (
                "(info) realistic profile: push wall ours/theirs "
                f"{real.wall / max(1e-9, theirs.wall):.3f} "
                f"({real.wall:.1f} s / {theirs.wall:.1f} s; requests {real.requests}/"
                f"{theirs.requests}; theirs created {self.real_theirs_pushed:,})",
                None,
            ),
        ]
        pull, theirs_pull = self.real_inbound_row, self.real_theirs_pull_row
        checks.append(
            (
                f"(info) realistic profile: pull ours/theirs: wall "
                f"{pull.wall / max(1e-9, theirs_pull.wall):.3f}, requests "
                f"{pull.requests}/{theirs_pull.requests}",
                None,
            )
        )
        return checks

    def tenant_targets(self):
        """Targets 2 and the kept 1-vs-2 workers target, over the tenant's users."""
        count, changes = self.cfg["users"], self.cfg["changes"]
        rows = self.tenant_rows
        checks = []
        for key, (row, result, _threads) in rows.items():
            checks.append(
                (
                    f"{row.items // changes} users x {changes} changes, {key} workers "
                    f"[{row.profile}]: no user "
                    f"synced twice ({result.twice}), every change delivered "
                    f"({result.delivered:,}/{row.items:,}), backlog empty ({result.backlog})",
                    not result.twice and result.delivered == row.items and not result.backlog,
                )
            )
        one, two = rows["flat 1"][0], rows["flat 2"][0]
        speedup = one.wall / two.wall if two.wall else 0
        checks.append(
            (
                f"2 cron threads at least 1.6x faster than 1 on the {one.items // changes}-user "
                f"cycle at "
                f"{self.latency * 1000:.0f} ms ({speedup:.2f}x; load average "
                f"{one.load[0]:.1f} -> {two.load[1]:.1f})",
                speedup >= 1.6,
            )
        )
        per_user = self.per_user_graph_time()
        for key in ("real 4", "real 2x2"):
            row, _result, threads = rows[key]
            bound = count * per_user / threads
            checks.append(
                (
                    f"realistic profile, {key} workers: cycle within 1.3x of the bound "
                    f"({row.wall:.1f} s / {bound:.1f} s = {row.wall / bound:.2f}x; bound = "
                    f"{count} users x {per_user * 1000:.0f} ms / {threads} threads; load average "
                    f"{row.load[0]:.1f} -> {row.load[1]:.1f})",
                    row.wall <= 1.3 * bound,
                )
            )
        half, dist = rows["real 2"][0], rows["real 2x2"][0]
        gain = half.wall / dist.wall if dist.wall else 0
        checks.append(
            (
                f"realistic profile: 2 servers x 2 threads at least 1.6x faster than 1 server x 2 "
                f"threads ({half.wall:.1f} s / {dist.wall:.1f} s = {gain:.2f}x)",
                gain >= 1.6,
            )
        )
        return checks

    def quiet_targets(self):
        """Target 3: a quiet tenant costs one request and few queries per user."""
        row, users = self.quiet_row, self.quiet_row.items
        grown = self.rss[1] - self.rss[0]
        readback = self.readback_row
        return [
            (
                f"(info) first poll after the tenant's changes, reading back our own writes: "
                f"{readback.requests / max(1, readback.items):.2f} request(s) and "
                f"{readback.queries / max(1, readback.items):.1f} SQL queries per user",
                None,
            ),
            (
                f"quiet tenant of {users:,} users, after every backlog drained "
                f"({self.quiet_backlog} links left): every user synced once "
                f"({len(set(self.quiet.claimed)):,}, twice: {self.quiet.twice}), exactly 1 Graph "
                f"request per user ({row.requests:,} / {users:,} = {row.requests / users:.2f}) "
                f"and at most 15 SQL queries per user ({row.queries:,} / {users:,} = "
                f"{row.queries / users:.1f})",
                row.requests == users
                and row.queries <= 15 * users
                and len(set(self.quiet.claimed)) == users
                and not self.quiet.twice
                and self.quiet_backlog == 0,
            ),
            (
                f"quiet tenant: the cron worker's memory grows by less than 50 MB "
                f"(RSS {self.rss[0]:.1f} MB before, {self.rss[1]:.1f} MB after: {grown:+.1f} MB)",
                grown < 50,
            ),
        ]

    def report(self):
        say("")
        say(
            f"Benchmark (Graph emulator, 4 concurrent requests per mailbox). Profiles: "
            f"'{self.latency * 1000:.0f} ms' = flat {self.latency * 1000:.0f} ms per request, "
            f"no cost per write; '{self.real[0] * 1000:.0f}+{self.real[1] * 1000:.0f}/w' = "
            f"realistic: {self.real[0] * 1000:.0f} ms per request plus "
            f"{self.real[1] * 1000:.0f} ms per write item inside one of the mailbox's 4 slots. "
            "429s: requests or batch items refused by the mailbox's concurrency limit. Every "
            "row counts all runs until the backlog is empty; load: the machine's 1-minute load "
            f"average at the start and the end of the row ({os.cpu_count()} CPUs)."
        )
        say("")
        say(self.table())
        say("")
        failed = 0
        for text, ok in self.targets():
            label = "INFO" if ok is None else ("PASS" if ok else "FAIL")
            failed += ok is False
            say(f"{label}  {text}")
        return 1 if failed else 0


class Drain:
    """The runs of one account until its backlog is empty, added up."""

    def __init__(self):
        self.runs = 0
        self.counts = {}

    def add(self, stats):
        self.runs += 1
        for option, counts in stats.counts.items():
            mine = self.counts.setdefault(option, {})
            for key, value in counts.items():
                if isinstance(value, int):
                    mine[key] = mine.get(key, 0) + value

    def created(self, option):
        return self.counts.get(option, {}).get("created", 0)


class Cycle:
    """What the cron workers of one cycle did: the accounts each claimed, in claim order."""

    def __init__(self):
        self.claimed = []
        self.per_worker = {}
        self.errors = []
        self.parts = []
        self.twice = 0
        self.delivered = 0
        self.backlog = 0
        self.span = None

    def check(self, bench, users, records):
        """No account claimed twice, every new activity pushed, no backlog left."""
        from collections import Counter  # noqa: PLC0415

        self.twice = sum(1 for seen in Counter(self.claimed).values() if seen > 1)
        bench.env.invalidate_all()
        self.delivered = (
            bench.env["office365.link"]
            .sudo()
            .search_count(
                [
                    ("res_model", "=", "mail.activity"),
                    ("res_id", "in", records.ids),
                    ("state", "=", "synced"),
                    ("event_id", "!=", False),
                ]
            )
        )
        self.backlog = bench.backlog(users)


def cron_until_done(cr, claimed, profile=False):
    """One cron worker on cursor ``cr``: ``_cron_sync`` again while it synced something (Odoo
    calls the job again while it reports work remaining). Returns the accounts it synced."""
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415
    from odoo.addons.office365_calendar_sync.models.office365_account import (  # noqa: PLC0415
        CTX_COMMIT,
    )

    env = api.Environment(cr, SUPERUSER_ID, {CTX_COMMIT: True})

    def work():
        total = 0
        while True:
            done = env["office365.account"]._cron_sync()
            env.cr.commit()
            total += done
            if not done:
                return total

    return profiled(work) if profile else work()


def profiled(func):
    """``func()`` under cProfile; prints the top of the profile."""
    import cProfile  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    profiler = cProfile.Profile()
    result = profiler.runcall(func)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(60)
    return result


class claims_recorded:
    """Record the id of every account a cron worker of this process claims, in ``claimed``."""

    def __init__(self, env, claimed):
        self.cls = type(env["office365.account"])
        self.claimed = claimed

    def __enter__(self):
        original = self.original = self.cls._o365_run_claimed
        claimed = self.claimed

        def run_claimed(account):
            claimed.append(account.id)
            return original(account)

        self.cls._o365_run_claimed = run_claimed
        return self

    def __exit__(self, *exc):
        self.cls._o365_run_claimed = self.original


class Servers:
    """Other Odoo server processes (``odoo shell`` on the bench's database), ``threads`` cron
    workers each, kept running from cycle to cycle like real servers. Each cycle starts when
    its signal file appears, in every server at once; its span runs from that signal to the
    last worker's end, without the servers' start-up."""

    def __init__(self, shell_cmd, processes, threads):
        import tempfile  # noqa: PLC0415

        self.folder = Path(tempfile.mkdtemp(prefix="o365-bench-"))
        self.rounds = 0
        self.procs = []
        for index in range(processes):
            proc = subprocess.Popen(
                [*shell_cmd],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                cwd=str(ROOT),
            )
            proc.stdin.write(
                run_tests.shell_input(
                    "bench:cron_server",
                    {"threads": threads, "folder": str(self.folder), "index": index},
                )
            )
            proc.stdin.close()
            self.procs.append(proc)
        for proc in self.procs:
            self.read(proc, "O365-BENCH-READY")

    @staticmethod
    def read(proc, marker):
        """The rest of the first line of ``proc``'s output that starts with ``marker``."""
        for line in proc.stdout:
            if line.startswith(marker):
                return line[len(marker) :].strip()
        raise RuntimeError(f"an Odoo server of the cycle stopped before {marker}")

    def cycle(self):
        import json  # noqa: PLC0415

        result = Cycle()
        go_at = time.time()
        (self.folder / f"go{self.rounds}").write_text(str(go_at))
        self.rounds += 1
        for proc in self.procs:
            part = json.loads(self.read(proc, "O365-BENCH-ROUND"))
            if part["errors"]:
                raise RuntimeError("; ".join(part["errors"]))
            result.parts.append(part)
            result.claimed.extend(part["claimed"])
            for key, value in part["per_worker"].items():
                result.per_worker[f"{part['index']}.{key}"] = value
        result.span = max(part["end"] for part in result.parts) - go_at
        return result

    def stop(self):
        (self.folder / "stop").write_text("")
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()


def cron_server(env, config):
    """Entry point of one Odoo server process of :class:`Servers`: for each cycle, waits for
    its signal file, runs ``threads`` cron workers until nothing is due, prints what they did;
    until the file ``stop`` appears."""
    import json  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from odoo import sql_db  # noqa: PLC0415

    registry = env.registry
    threads = config["threads"]
    folder = Path(config["folder"])
    print("O365-BENCH-READY", flush=True)
    for turn in range(1000):
        while not (folder / f"go{turn}").exists():
            if (folder / "stop").exists():
                return 0
            time.sleep(0.005)
        claimed, per_worker, errors = [], {}, []
        barrier = threading.Barrier(threads)
        queries0 = sql_db.sql_counter

        def worker(index, claimed=claimed, per_worker=per_worker, errors=errors, barrier=barrier):
            try:
                with registry.cursor() as cr:
                    barrier.wait(timeout=60)
                    per_worker[index] = cron_until_done(cr, claimed)
            except Exception as exc:  # handed back to the bench
                errors.append(repr(exc))

        with claims_recorded(env, claimed):
            workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
        part = {
            "index": config["index"],
            "claimed": claimed,
            "per_worker": per_worker,
            "errors": errors,
            "queries": sql_db.sql_counter - queries0,
            "end": time.time(),
        }
        print("O365-BENCH-ROUND " + json.dumps(part), flush=True)
    return 0


def _days(count):
    from datetime import timedelta  # noqa: PLC0415

    return timedelta(days=count)


def run_in_odoo(env, config):
    """Entry point inside ``odoo shell`` (``env`` is its environment). Returns the exit code."""
    import logging  # noqa: PLC0415

    # Odoo's microsoft_calendar logs every event it writes at INFO; the table is what counts.
    logging.getLogger("odoo.addons.microsoft_calendar").setLevel(logging.WARNING)
    bench = Bench(env, config)
    say(f"-- load average at start: {load_average():.1f} ({os.cpu_count()} CPUs)")
    try:
        bench.setup()
        bench.run_ours()
        bench.run_tenant()
        bench.run_quiet()
        bench.run_theirs()
        return bench.report()
    finally:
        say(f"-- load average at end: {load_average():.1f}")
        bench.emu.stop()


# --------------------------------------------------------------------------- driver


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--latency",
        type=float,
        default=float(os.environ.get("O365_BENCH_LATENCY", "0.020")),
        help="seconds added to every emulator request (env O365_BENCH_LATENCY; default 0.020)",
    )
    parser.add_argument(
        "--real-request",
        type=float,
        default=0.050,
        help="realistic profile: seconds per request (default 0.050)",
    )
    parser.add_argument(
        "--real-write",
        type=float,
        default=0.150,
        help="realistic profile: seconds per write item, inside a mailbox slot (default 0.150)",
    )
    parser.add_argument("--items", type=int, default=2000, help="flat-profile push and pull")
    parser.add_argument(
        "--real-items", type=int, default=500, help="realistic-profile push and pull"
    )
    parser.add_argument("--users", type=int, default=500, help="users of the tenant")
    parser.add_argument("--changes", type=int, default=5, help="new activities per tenant user")
    parser.add_argument(
        "--flat-users",
        type=int,
        default=200,
        help="tenant users of the flat 1-against-2-threads rounds",
    )
    parser.add_argument(
        "--quiet-users",
        type=int,
        default=1000,
        help="connected users of the no-change cycle (the tenant's, plus more if needed)",
    )
    parser.add_argument("--db", default=f"o365_bench_{os.getpid()}")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-latency", action="store_true", help="skip tools/bench_latency.py")
    parser.add_argument(
        "--profile",
        choices=("push", "tenant", "quiet", "inbound"),
        help="print a cProfile of: an extra realistic push, the 4-thread tenant cycle, the "
        "quiet cycle, or an extra logging of new Outlook meetings at 0 ms",
    )
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_emulator:
        return serve_emulator()

    section("Odoo 18 server and PostgreSQL")
    server = run_tests.prepare_server("bench")
    if server is None:
        return 2
    latency = None
    if not args.no_latency:
        import bench_latency  # noqa: PLC0415 (a tool of this folder)

        # Its own database, installed meanwhile (its log: build/bench-latency-odoo.log).
        latency = bench_latency.Prepared(server, ["--latency", str(args.latency)])
    try:
        rc = run_bench(server, args, latency)
    except BaseException:
        if latency is not None:
            latency.close()
        raise
    if latency is None:
        return rc
    if rc == 2:  # the bench's own set-up failed: the latency benchmark does not run either
        latency.close()
        return rc
    section("Near-real-time latency (tools/bench_latency.py)")
    return latency.run() or rc


def run_bench(server, args, latency=None):
    """The benchmark of this file in its scratch database; the exit status. ``latency``: the
    latency benchmark being installed meanwhile, waited for before the first measure."""
    with run_tests.scratch(server, "bench", args.db, keep_db=args.keep_db) as odoo:
        section(f"Database {args.db}: install {MODULE} and microsoft_calendar")
        if not odoo.install(f"{MODULE},microsoft_calendar"):
            return 2
        if latency is not None:
            latency.wait()  # no other install competes with the measures for the CPUs
        section(
            f"Benchmark: latency {args.latency * 1000:.0f} ms, {args.items} items, "
            f"{args.users} users x {args.changes} changes"
        )
        say(f"-- load average: {load_average():.1f} ({os.cpu_count()} CPUs)")
        config = {
            "latency": args.latency,
            "real_request": args.real_request,
            "real_write": args.real_write,
            "items": args.items,
            "real_items": args.real_items,
            "users": args.users,
            "changes": args.changes,
            "quiet_users": args.quiet_users,
            "flat_users": args.flat_users,
            "profile": args.profile,
            # The other Odoo servers of the distributed cycle: same database, no cron thread.
            "shell_cmd": [*server.command, "shell", *odoo.tool_options()],
        }
        started = time.monotonic()
        rc = odoo.run_tool("bench:run_in_odoo", config)
        say(f"-- benchmark ran {time.monotonic() - started:.0f} s (Odoo log: {odoo.log_path})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
