#!/usr/bin/env python3
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""``make demo``: a local Odoo with the addon, talking to the Graph emulator.

What it does (each step prints what it runs):

1. finds the Odoo 18 server and PostgreSQL (same checks as ``make test``);
2. writes an emulator state file with two mailboxes and Outlook-side meetings with the demo
   contacts, then starts ``python -m emulator`` (https on 127.0.0.1, self-signed certificate
   whose path is handed to the addon as its CA bundle);
3. creates a fresh database with the addon installed, and in ``odoo shell``: points the settings
   at the emulator (sync every minute), creates two users whose mailboxes are connected through
   the real sign-in (authorization code + PKCE, run server-side), contacts, activities, a meeting
   and an approved leave;
4. serves Odoo on http://localhost:8069 (workers=0, cron thread on) until Ctrl-C.

Log in, open Preferences -> Office 365 Calendar and press Start Syncing: within a minute the
activities/meeting/leave show up in the emulator mailbox and the Outlook meetings are logged on
the contacts. ``--start`` starts every option for both users right away; ``--check`` runs one
sync job, prints what went each way and stops (no server).
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_tests

ROOT = run_tests.ROOT
MODULE = run_tests.MODULE
DEMO_DIR = run_tests.BUILD / "demo"
CLIENT_ID = "0d3e5f6a-7b8c-4d9e-8f10-1a2b3c4d5e6f"
CLIENT_SECRET = "demo-client-secret"
# The demo users' time zone (their Odoo profile; the notes of logged meetings use it).
DEMO_TZ = "Europe/Brussels"
USERS = [
    # login, password, name, mailbox
    ("alice", "alice", "Alice Martin", "alice@demo.example.com"),
    ("bob", "bob", "Bob Janssens", "bob@demo.example.com"),
]
CONTACTS = [
    ("Claire Dubois", "claire.dubois@customer.example.org", "Customer One"),
    ("David Peeters", "david.peeters@customer.example.org", "Customer One"),
    ("Emma Lambert", "emma.lambert@partner.example.net", "Partner Two"),
]

say = run_tests.say
section = run_tests.section


def _iso(day_offset, hour, minute=0):
    base = datetime.now(timezone.utc).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return (base + timedelta(days=day_offset)).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def outlook_meetings():
    """Meetings already in the Outlook calendars (mailbox -> Graph event payloads)."""

    def attendee(name, email):
        return {"emailAddress": {"name": name, "address": email}, "type": "required"}

    alice, bob = USERS[0][3], USERS[1][3]
    return {
        alice: [
            {
                "subject": "Quarterly review with Customer One",
                "start": {"dateTime": _iso(2, 9), "timeZone": "UTC"},
                "end": {"dateTime": _iso(2, 10), "timeZone": "UTC"},
                "location": {"displayName": "Customer One, Brussels"},
                "body": {"contentType": "text", "content": "Figures of the quarter."},
                "attendees": [
                    attendee(*CONTACTS[0][:2]),
                    attendee(*CONTACTS[1][:2]),
                    attendee(USERS[1][2], bob),
                ],
            },
            {
                "subject": "Lunch with Emma",
                "start": {"dateTime": _iso(4, 12), "timeZone": "UTC"},
                "end": {"dateTime": _iso(4, 13, 30), "timeZone": "UTC"},
                "attendees": [attendee(*CONTACTS[2][:2])],
            },
            {
                "subject": "Dentist",
                "start": {"dateTime": _iso(3, 16), "timeZone": "UTC"},
                "end": {"dateTime": _iso(3, 17), "timeZone": "UTC"},
                "sensitivity": "private",
            },
        ],
        bob: [
            {
                "subject": "Contract call with Partner Two",
                "start": {"dateTime": _iso(1, 14), "timeZone": "UTC"},
                "end": {"dateTime": _iso(1, 14, 30), "timeZone": "UTC"},
                "attendees": [attendee(*CONTACTS[2][:2])],
            },
        ],
    }


def write_emulator_state(path):
    """The emulator's state file: app, mailboxes and their Outlook meetings."""
    sys.path.insert(0, str(ROOT))
    from emulator import GraphEmulator  # noqa: PLC0415 (pure package of this repository)

    emu = GraphEmulator(state_file=None)
    for _login, _password, name, email in USERS:
        emu.add_mailbox(email, display_name=name)
    for email, events in outlook_meetings().items():
        box = emu.mailbox(email)
        for payload in events:
            box.create_event(payload)
    emu.save_state(str(path))


def start_emulator(port, state_file, log_path, redirect_uri):
    cmd = [
        sys.executable,
        "-m",
        "emulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--redirect-uri",
        redirect_uri,
        "--state-file",
        str(state_file),
    ]
    run_tests.show_cmd(cmd)
    log = open(log_path, "w")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
    )
    info = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(info) < 3:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise SystemExit(f"!! the emulator stopped at start; see {log_path}")
            continue
        key, _sep, value = line.strip().partition("=")
        if key in ("base_url", "authority", "ca_path"):
            info[key] = value
    if len(info) < 3:
        proc.terminate()
        raise SystemExit(f"!! the emulator did not start within 30 s; see {log_path}")
    return proc, info


# --------------------------------------------------------------------------- inside Odoo


def setup_in_odoo(env, config):
    """In ``odoo shell``: the settings pointed at the emulator, the users with their connected
    mailboxes, contacts, activities, a meeting and an approved leave."""
    from types import SimpleNamespace  # noqa: PLC0415

    from odoo import Command, fields  # noqa: PLC0415
    from odoo.addons.office365_calendar_sync.tools import emulator_setup  # noqa: PLC0415

    emulator = SimpleNamespace(**config["emulator"])
    emulator_setup.configure(
        env,
        emulator,
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        redirect_uris=(),  # the emulator process was started with the application
        internal_domains="demo.example.com",
        sync_interval_minutes="1",
    )
    params = env["ir.config_parameter"].sudo()
    params.set_param("web.base.url", config["odoo_url"])
    params.set_param("web.base.url.freeze", "True")
    cron = env.ref("office365_calendar_sync.ir_cron_office365_sync")
    cron.write({"interval_number": 1, "interval_type": "minutes", "active": True})

    users = {}
    for login, password, name, email in config["users"]:
        user = (
            env["res.users"]
            .with_context(no_reset_password=True)
            .create(
                {
                    "login": login,
                    "password": password,
                    "name": name,
                    "email": email,
                    "tz": DEMO_TZ,
                    "groups_id": [Command.set([env.ref("base.group_user").id])],
                }
            )
        )
        users[login] = user
        if "hr.employee" in env:
            env["hr.employee"].create(
                {
                    "name": name,
                    "user_id": user.id,
                    "work_email": email,
                    "company_id": env.company.id,
                }
            )
    # Written again once the employees exist (hr keeps the employee's and the user's time zone
    # in step), and read back: the profile must show the zone this demo claims.
    env["res.users"].browse([user.id for user in users.values()]).write({"tz": DEMO_TZ})
    for user in users.values():
        if user.tz != DEMO_TZ:
            raise SystemExit(f"!! {user.login}'s time zone is {user.tz}, not {DEMO_TZ}")
        employee = getattr(user, "employee_id", None)
        if employee and employee.tz != DEMO_TZ:
            employee.tz = DEMO_TZ
        print("time zone", user.login, user.tz)
    for login, _password, _name, email in config["users"]:
        emulator_setup.connect_mailbox(emulator, users[login], email, config["redirect_uri"])
        print("connected", login, "->", email)

    partners = {}
    for name, email, company_name in config["contacts"]:
        parent = env["res.partner"].search([("name", "=", company_name)], limit=1) or env[
            "res.partner"
        ].create({"name": company_name, "is_company": True})
        partners[email] = env["res.partner"].create(
            {"name": name, "email": email, "parent_id": parent.id}
        )

    alice, bob = users["alice"], users["bob"]
    today = fields.Date.context_today(alice)
    types = {
        "call": env.ref("mail.mail_activity_data_call"),
        "todo": env.ref("mail.mail_activity_data_todo"),
    }
    partner_model = env["ir.model"]._get_id("res.partner")
    claire, david, emma = partners.values()
    for partner, kind, summary, days, user in [
        (claire, "call", "Call Claire about the renewal", 1, alice),
        (david, "todo", "Send David the offer", 3, alice),
        (emma, "call", "Follow up with Emma", 2, bob),
    ]:
        env["mail.activity"].create(
            {
                "res_model_id": partner_model,
                "res_id": partner.id,
                "activity_type_id": types[kind].id,
                "summary": summary,
                "date_deadline": today + timedelta(days=days),
                "user_id": user.id,
            }
        )

    start = fields.Datetime.now().replace(minute=0, second=0, microsecond=0)
    start += timedelta(days=1, hours=2)
    env["calendar.event"].with_user(alice).create(
        {
            "name": "Demo for Customer One",
            "start": start,
            "stop": start + timedelta(hours=1),
            "user_id": alice.id,
            "partner_ids": [Command.set([alice.partner_id.id, claire.id, david.id])],
            "location": "Odoo office",
        }
    )
    # One weekly meeting (one series in Outlook) and one Teams meeting (its join link comes
    # back as the videocall URL).
    monday = start + timedelta(days=(7 - start.weekday()) % 7 or 7)
    env["calendar.event"].with_user(alice).create(
        {
            "name": "Weekly pipeline review",
            "start": monday,
            "stop": monday + timedelta(hours=1),
            "user_id": alice.id,
            "partner_ids": [Command.set([alice.partner_id.id, claire.id])],
            "recurrency": True,
            "rrule_type": "weekly",
            "mon": True,
            "end_type": "count",
            "count": 8,
            "event_tz": alice.tz or "Europe/Brussels",
        }
    )
    env["calendar.event"].with_user(alice).create(
        {
            "name": "Online follow-up with Customer One",
            "start": start + timedelta(days=2),
            "stop": start + timedelta(days=2, hours=1),
            "user_id": alice.id,
            "partner_ids": [Command.set([alice.partner_id.id, david.id])],
            "o365_online_meeting": True,
        }
    )

    if "hr.leave" in env:
        # Paid time off (Outlook shows the leave as "Paid Time Off: Holiday"): hr_holidays' own
        # type, which needs an allocation, given and approved here.
        employee = env["hr.employee"].search([("user_id", "=", alice.id)], limit=1)
        leave_type = env.ref("hr_holidays.holiday_status_cl", raise_if_not_found=False)
        if leave_type and leave_type.requires_allocation == "yes":
            allocation = env["hr.leave.allocation"].create(
                {
                    "name": "Paid time off (demo)",
                    "employee_id": employee.id,
                    "holiday_status_id": leave_type.id,
                    "number_of_days": 20,
                    "date_from": today.replace(month=1, day=1),
                }
            )
            while allocation.state in ("confirm", "validate1"):
                allocation.action_approve()
        elif not leave_type:
            leave_type = env["hr.leave.type"].create(
                {
                    "name": "Paid Time Off",
                    "requires_allocation": "no",
                    "leave_validation_type": "no_validation",
                }
            )
        first = today + timedelta(days=7)
        while first.weekday() >= 5:
            first += timedelta(days=1)
        leave = env["hr.leave"].create(
            {
                "name": "Holiday",
                "employee_id": employee.id,
                "holiday_status_id": leave_type.id,
                "request_date_from": first,
                "request_date_to": first + timedelta(days=1),
            }
        )
        if leave.state != "validate":
            if leave.state == "confirm":
                leave.action_approve()
            if leave.state == "validate1":
                leave.action_validate()
        print("leave", leave.id, leave.state)

    if config["start"]:
        for user in users.values():
            for option in ("activities", "events", "holidays"):
                user._o365_start(option)
            print("started every option for", user.login)
    env.cr.commit()
    return True


def check_in_odoo(env, _config):
    """In ``odoo shell``: one run of the sync job, and what it did."""
    env["office365.account"]._cron_sync()
    env.cr.commit()
    for log in env["office365.sync.log"].search([], order="id"):
        print(
            "log", log.user_id.login, log.option, "created", log.created, "updated", log.updated,
            "failed", log.failed, log.message or "",
        )  # fmt: skip
    links = env["office365.link"].sudo().search([])
    print("links", len(links), sorted(set(links.mapped("state"))))
    print("inbound events", env["office365.inbound.event"].sudo().search_count([]))
    for user in env["res.users"].search([("login", "in", [u[0] for u in USERS])]):
        print("time zone", user.login, user.tz)
    if "hr.leave" in env:
        for leave in env["hr.leave"].search([]):
            print("leave", leave.holiday_status_id.name, leave.state)
    return True


# --------------------------------------------------------------------------- driver


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="o365_demo")
    parser.add_argument("--port", type=int, default=8069, help="Odoo http port")
    parser.add_argument("--emulator-port", type=int, default=8765)
    parser.add_argument("--start", action="store_true", help="start every option of both users")
    parser.add_argument(
        "--check", action="store_true", help="run one sync job, print the result and exit"
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the demo database when the demo stops"
    )
    args = parser.parse_args(argv)

    say(run_tests.server_origin_notice())
    section("Odoo server and PostgreSQL")
    server = run_tests.prepare_server("demo")
    if server is None:
        return 2
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    odoo_url = f"http://localhost:{args.port}"
    redirect_uri = f"{odoo_url}/office365_calendar_sync/oauth/callback"
    children = []

    def stop_children(*_args):
        for child in reversed(children):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *_a: (stop_children(), sys.exit(0)))
    with run_tests.scratch(
        server,
        "demo",
        args.db,
        keep_db=args.keep_db,
        folder=DEMO_DIR,
        log_path=DEMO_DIR / "odoo.log",
    ) as odoo:
        try:
            section("Graph emulator")
            state_file = DEMO_DIR / "emulator-state.json"
            state_file.unlink(missing_ok=True)
            write_emulator_state(state_file)
            emulator, info = start_emulator(
                args.emulator_port, state_file, DEMO_DIR / "emulator.log", redirect_uri
            )
            children.append(emulator)
            say(f"-- emulator: {info['base_url']} (CA {info['ca_path']})")

            section(f"Fresh database {args.db} with {MODULE}")
            if not odoo.install():
                return 1

            section("Demo data: settings, users with connected mailboxes, contacts, activities")
            config = {
                "emulator": info,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "odoo_url": odoo_url,
                "redirect_uri": redirect_uri,
                "users": USERS,
                "contacts": CONTACTS,
                "start": args.start or args.check,
            }
            if not odoo.shell("demo:setup_in_odoo", config)[1].result:
                say(f"!! the demo set-up failed; see {odoo.log_path}")
                return 1

            if args.check:
                section("One sync job")
                return 0 if odoo.shell("demo:check_in_odoo")[1].result else 1

            section("Odoo server")
            cmd = [
                *server.command,
                *odoo.options(),
                f"--http-port={args.port}",
                "--http-interface=127.0.0.1",
                "--workers=0",
                "--max-cron-threads=1",
                f"--logfile={odoo.log_path}",
            ]
            run_tests.show_cmd(cmd)
            children.append(subprocess.Popen(cmd, cwd=ROOT, start_new_session=True))
            say("")
            say(f"Odoo:           {odoo_url}/web   (log: {odoo.log_path})")
            say(f"Graph emulator: {info['base_url']}")
            say("Logins:         admin / admin (administrator)")
            for login, password, name, email in USERS:
                say(f"                {login} / {password}  ({name}, mailbox {email})")
            say("Preferences -> Office 365 Calendar: press Start Syncing; the sync job runs every")
            say("minute. Settings -> Office 365 Calendar shows the configuration. Ctrl-C stops.")
            while all(child.poll() is None for child in children):
                time.sleep(1)
            return children[-1].returncode or 0
        except KeyboardInterrupt:
            return 0
        finally:
            stop_children()


if __name__ == "__main__":
    sys.exit(main())
