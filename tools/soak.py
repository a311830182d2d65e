#!/usr/bin/env python3
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""``make soak``: randomized changes on both sides, with faults, then nothing lost or doubled.

Randomized create/update/delete of Odoo activities, meetings and leaves and of events in the
emulator's mailboxes (Outlook edits of our events, customer meetings booked in Outlook),
interleaved with sync runs, while the emulator fails about 10% of Graph calls (429, 503, 504 and
read timeouts), about 2% of pushes are interrupted between the Graph write and the Odoo commit
(the run's transaction is rolled back) and one delta state expires. Then the faults stop, a
final sync runs, and the checks print: operations, faults injected, duplicate events (must be
0), lost updates per the conflict rule (must be 0) and items that differ between the two sides
(must be 0). Exit status 1 when a check fails, 2 when the set-up fails.

The same :class:`Soak` runs, reduced, inside ``make test`` (``tests/test_soak.py``). This file
is also imported in Odoo's interpreter: the driver part uses the standard library only.
"""

import argparse
import functools
import os
import random
import sys
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

OPERATIONS = 2000
FAULT_RATE = 0.10
INTERRUPT_RATE = 0.02
DOMAIN = "soak.example.com"
CUSTOMERS = "customer.example.org"


class SoakInterrupt(Exception):
    """The worker died between the Graph write and the commit (test-only)."""


class Soak:
    """One soak run in an Odoo environment against a running :class:`GraphEmulator`.

    ``connect(user, email)`` signs ``user`` in to the emulator mailbox ``email``. With
    ``commit`` each operation and sync is committed (``make soak``); without it (Odoo tests)
    savepoints stand in for transactions. ``conflicts`` lets both sides edit the same item
    between two syncs (only meaningful when committing: write dates are transaction times).
    """

    def __init__(
        self,
        env,
        emulator,
        connect,
        operations=OPERATIONS,
        seed=1,
        commit=False,
        conflicts=False,
        say=print,
        interrupt_rate=INTERRUPT_RATE,
        delta_reset=True,
    ):
        self.env = env
        self.emu = emulator
        self.connect = connect
        self.operations = operations
        self.rng = random.Random(seed)
        self.commit_each = commit
        self.conflicts = conflicts
        self.say = say
        self.interrupt_rate = interrupt_rate
        self.delta_reset = delta_reset
        self.interrupting = False
        self.interrupts = 0
        self.clients = 0
        self.batches = 0
        self.interrupted_runs = 0
        self.done_ops = 0
        self.op_counts = {}
        self.expect = {}  # (model, id) -> {field: value} or None (deleted in Odoo)
        self.dirty = {}  # (model, id) -> "odoo"/"outlook": edited since its owner's last sync
        self.last_edit = {}  # (model, id) -> monotonic time of the last edit
        self.detached = set()
        self.history = {}  # (model, id) -> operations, for the report
        self.current_op = None
        self.inbound = {}  # event id -> {"box", "subject", "day", "deleted", "ical"}

    # ------------------------------------------------------------------ set-up
    def setup(self):
        from odoo import Command  # noqa: PLC0415
        from odoo.addons.office365_calendar_sync.tools.emulator_setup import (  # noqa: PLC0415
            set_params,
        )

        env = self.env
        set_params(env, internal_domains=DOMAIN, create_contacts="0")
        group = env.ref("base.group_user")
        users = (
            env["res.users"]
            .with_context(no_reset_password=True, tracking_disable=True)
            .create(
                [
                    {
                        "login": f"soak_{name}_{self.rng.randrange(10**6)}",
                        "name": f"Soak {name}",
                        "email": f"{name}@{DOMAIN}",
                        "tz": "Europe/Brussels",
                        "groups_id": [Command.set([group.id])],
                    }
                    for name in ("alice", "bob")
                ]
            )
        )
        self.alice, self.bob = users
        self.boxes = {}
        for user in users:
            self.boxes[user.id] = self.emu.add_mailbox(user.email, display_name=user.name)
            self.connect(user, user.email)
            for option in ("activities", "events"):
                user._o365_start(option)
        self.employee = env["hr.employee"].create({"name": "Soak Alice", "user_id": self.alice.id})
        self.leave_type = env["hr.leave.type"].create(
            {
                "name": "Soak leave",
                "requires_allocation": "no",
                "leave_validation_type": "hr",
                "request_unit": "day",
                "company_id": False,
            }
        )
        self.alice._o365_start("holidays")
        company = env["res.partner"].create({"name": "Soak Customer", "is_company": True})
        self.contacts = env["res.partner"].create(
            [
                {"name": f"Buyer {i}", "email": f"buyer{i}@{CUSTOMERS}", "parent_id": company.id}
                for i in range(12)
            ]
        )
        self.partner_model = env["ir.model"]._get_id("res.partner")
        self.todo = env.ref("mail.mail_activity_data_todo")
        self.today = date.today()
        self.free_days = [
            self.today + timedelta(days=d)
            for d in range(8, 200)
            if (self.today + timedelta(days=d)).weekday() < 5
        ]
        self.rng.shuffle(self.free_days)
        self.commit()
        for user in users:
            self.sync(user)

    def commit(self):
        if self.commit_each:
            self.env.cr.commit()

    # ------------------------------------------------------------------ the client wrapper
    @contextmanager
    def patched_client(self):
        from unittest.mock import patch  # noqa: PLC0415

        account_cls = type(self.env["office365.account"])
        original = account_cls._o365_graph_client
        soak = self

        def factory(account):
            client = original(account)
            client.sleep = lambda seconds: time.sleep(min(seconds, 0.002))
            client.timeout = (5, 0.5)  # a "timeout" fault sleeps longer than this
            write = client.batch_write
            soak.clients += 1

            def batch_write(ops, *args, **kwargs):
                results = write(ops, *args, **kwargs)
                soak.batches += 1
                # The first push under faults is always cut off, then about interrupt_rate.
                cut = not soak.interrupts or soak.rng.random() < soak.interrupt_rate
                if soak.interrupting and cut:
                    soak.interrupts += 1
                    raise SoakInterrupt("worker stopped after the Graph write")
                return results

            client.batch_write = batch_write
            return client

        with patch.object(account_cls, "_o365_graph_client", factory):
            yield

    def arm_faults(self):
        each = 1 - (1 - FAULT_RATE) ** (1 / 4)
        faults = self.emu.faults
        faults.seed(self.rng.randrange(2**32))
        faults.add("throttle", count=None, probability=each, retry_after=1)
        faults.add("unavailable", count=None, probability=each, retry_after=1)
        faults.add("gateway_timeout", count=None, probability=each)
        faults.add("slow", count=None, probability=each, delay=0.8)

    def sync(self, user):
        account = user._o365_account()
        stats = None
        try:
            with self.env.cr.savepoint():
                stats = account._o365_sync()
        except SoakInterrupt:
            self.interrupted_runs += 1
        outcome = "cut" if stats is None else ("fatal" if stats.fatal else "ok")
        self.history.setdefault("syncs", []).append(f"{user.name[5:]}@{self.done_ops}:{outcome}")
        self.env.invalidate_all()
        self.commit()
        if stats is not None and not stats.fatal:
            # Both sides of the user's items agree again: the other side may edit them.
            for key in [k for k, v in self.dirty.items() if v[1] == user.id]:
                self.dirty.pop(key)

    # ------------------------------------------------------------------ helpers
    def _pick(self, pool):
        return self.rng.choice(sorted(pool)) if pool else None

    def _may_edit(self, key, side):
        """Without conflicts, an item edited on one side waits for its sync before the other."""
        if self.conflicts:
            # Newest wins needs the two edits in different seconds (Graph's resolution).
            return time.monotonic() - self.last_edit.get(key, 0) > 1.1
        seen = self.dirty.get(key)
        return not seen or seen[0] == side

    def _edited(self, key, side, user_id, values):
        self.history.setdefault(key, []).append(f"{self.current_op}@{self.done_ops}")
        self.dirty[key] = (side, user_id)
        self.last_edit[key] = time.monotonic()
        if values is None:
            self.expect[key] = None
        else:
            self.expect.setdefault(key, {}).update(values)

    def _link(self, key):
        return (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", key[0]), ("res_id", "=", key[1])], limit=1)
        )

    def _live(self, model):
        return {
            key
            for key, exp in self.expect.items()
            if key[0] == model and exp is not None and key not in self.detached
        }

    def _synced_event(self, key):
        link = self._link(key)
        if not link or link.state != "synced" or not link.event_id:
            return None, None
        box = self.boxes.get(link.user_id.id)
        if box is None or link.event_id not in box.events:
            return None, None
        return link, box

    # ------------------------------------------------------------------ operations
    def op_activity_create(self):
        user = self.rng.choice([self.alice, self.bob])
        day = self.today + timedelta(days=self.rng.randint(1, 40))
        summary = f"Task {self.done_ops}"
        activity = (
            self.env["mail.activity"]
            .with_context(mail_activity_quick_update=True)
            .create(
                {
                    "res_model_id": self.partner_model,
                    "res_id": self.rng.choice(self.contacts).id,
                    "activity_type_id": self.todo.id,
                    "summary": summary,
                    "date_deadline": day,
                    "user_id": user.id,
                }
            )
        )
        key = ("mail.activity", activity.id)
        self._edited(key, "odoo", user.id, {"summary": summary, "date_deadline": day})
        return True

    def op_activity_write(self):
        key = self._pick(self._live("mail.activity"))
        if not key or not self._may_edit(key, "odoo"):
            return False
        activity = self.env["mail.activity"].browse(key[1])
        if self.rng.random() < 0.5:
            values = {"summary": f"Task {self.done_ops} (edited)"}
        else:
            values = {"date_deadline": self.today + timedelta(days=self.rng.randint(1, 40))}
        activity.write(values)
        self._edited(key, "odoo", activity.user_id.id, values)
        return True

    def op_activity_remove(self):
        key = self._pick(self._live("mail.activity"))
        if not key or not self._may_edit(key, "odoo"):
            return False
        activity = self.env["mail.activity"].browse(key[1])
        user_id = activity.user_id.id
        if self.rng.random() < 0.5:
            activity.action_feedback(feedback="done")
        else:
            activity.unlink()
        self._edited(key, "odoo", user_id, None)
        return True

    def op_activity_outlook_move(self):
        key = self._pick(self._live("mail.activity"))
        if not key or not self._may_edit(key, "outlook"):
            return False
        link, box = self._synced_event(key)
        if not link:
            return False
        day = self.today + timedelta(days=self.rng.randint(1, 40))
        box.update_event(
            link.event_id,
            {
                "isAllDay": True,
                "start": {"dateTime": f"{day}T00:00:00", "timeZone": "Romance Standard Time"},
                "end": {
                    "dateTime": f"{day + timedelta(days=1)}T00:00:00",
                    "timeZone": "Romance Standard Time",
                },
            },
        )
        self._edited(key, "outlook", link.user_id.id, {"date_deadline": day})
        return True

    def op_activity_outlook_delete(self):
        key = self._pick(self._live("mail.activity"))
        if not key or not self._may_edit(key, "outlook") or self.dirty.get(key):
            return False
        link, box = self._synced_event(key)
        if not link:
            return False
        box.delete_event(link.event_id)
        # The rule: the activity stays in Odoo, no longer synced.
        self.detached.add(key)
        self._edited(key, "outlook", link.user_id.id, {})
        return True

    def op_meeting_create(self):
        user = self.rng.choice([self.alice, self.bob])
        start = datetime.combine(
            self.today + timedelta(days=self.rng.randint(1, 40)), datetime.min.time()
        ) + timedelta(hours=self.rng.randint(7, 15))
        name = f"Meeting {self.done_ops}"
        contact = self.rng.choice(self.contacts)
        meeting = (
            self.env["calendar.event"]
            .with_user(user)
            .with_context(no_mail_to_attendees=True, mail_create_nolog=True)
            .create(
                {
                    "name": name,
                    "start": start,
                    "stop": start + timedelta(hours=1),
                    "user_id": user.id,
                    "partner_ids": [(6, 0, [user.partner_id.id, contact.id])],
                }
            )
        )
        key = ("calendar.event", meeting.id)
        self._edited(key, "odoo", user.id, {"name": name, "start": start})
        return True

    def op_meeting_write(self):
        key = self._pick(self._live("calendar.event"))
        if not key or not self._may_edit(key, "odoo"):
            return False
        meeting = self.env["calendar.event"].browse(key[1])
        if self.rng.random() < 0.5:
            values = {"name": f"Meeting {self.done_ops} (edited)"}
            meeting.write(values)
        else:
            start = meeting.start + timedelta(hours=self.rng.choice([-2, -1, 1, 2, 24]))
            meeting.write({"start": start, "stop": start + timedelta(hours=1)})
            values = {"start": start}
        self._edited(key, "odoo", meeting.user_id.id, values)
        return True

    def op_meeting_unlink(self):
        key = self._pick(self._live("calendar.event"))
        if not key or not self._may_edit(key, "odoo"):
            return False
        meeting = self.env["calendar.event"].browse(key[1])
        user_id = meeting.user_id.id
        meeting.unlink()
        self._edited(key, "odoo", user_id, None)
        return True

    def op_meeting_outlook_move(self):
        key = self._pick(self._live("calendar.event"))
        if not key or not self._may_edit(key, "outlook"):
            return False
        link, box = self._synced_event(key)
        if not link:
            return False
        meeting = self.env["calendar.event"].browse(key[1])
        start = meeting.start + timedelta(hours=self.rng.choice([-3, 3, 48]))
        box.update_event(
            link.event_id,
            {
                "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (start + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
            },
        )
        self._edited(key, "outlook", link.user_id.id, {"start": start})
        return True

    def op_leave_create(self):
        if not self.free_days:
            return False
        day = self.free_days.pop()
        leave = (
            self.env["hr.leave"]
            .with_context(tracking_disable=True, mail_notrack=True)
            .create(
                {
                    "name": f"Leave {self.done_ops}",
                    "employee_id": self.employee.id,
                    "holiday_status_id": self.leave_type.id,
                    "request_date_from": day,
                    "request_date_to": day,
                }
            )
        )
        leave.action_approve()
        key = ("hr.leave", leave.id)
        self._edited(key, "odoo", self.alice.id, {"state": "validate"})
        return True

    def op_leave_refuse(self):
        key = self._pick(
            {k for k in self._live("hr.leave") if self.expect[k].get("state") == "validate"}
        )
        if not key or not self._may_edit(key, "odoo"):
            return False
        leave = self.env["hr.leave"].browse(key[1])
        leave.action_refuse()
        self._edited(key, "odoo", self.alice.id, {"state": "refuse"})
        return True

    def op_leave_outlook_delete(self):
        key = self._pick(
            {k for k in self._live("hr.leave") if self.expect[k].get("state") == "validate"}
        )
        if not key or not self._may_edit(key, "outlook"):
            return False
        link, box = self._synced_event(key)
        if not link:
            return False
        box.delete_event(link.event_id)  # the rule: recreated while the leave stands
        self._edited(key, "outlook", self.alice.id, {})
        return True

    def op_inbound_create(self):
        user = self.rng.choice([self.alice, self.bob])
        box = self.boxes[user.id]
        day = self.today + timedelta(days=self.rng.randint(1, 40))
        start = datetime.combine(day, datetime.min.time()) + timedelta(
            hours=self.rng.randint(7, 15)
        )
        contact = self.rng.choice(self.contacts)
        subject = f"Customer call {self.done_ops}"
        event = box.create_event(
            {
                "subject": subject,
                "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (start + timedelta(minutes=30)).isoformat(), "timeZone": "UTC"},
                "attendees": [{"emailAddress": {"address": contact.email, "name": contact.name}}],
            }
        )
        self.inbound[event["id"]] = {
            "box": box,
            "subject": subject,
            "day": day,
            "contact": contact.id,
            "ical": event["iCalUId"],
            "deleted": False,
        }
        return True

    def _pick_inbound(self):
        live = sorted(k for k, v in self.inbound.items() if not v["deleted"])
        return self.rng.choice(live) if live else None

    def op_inbound_update(self):
        event_id = self._pick_inbound()
        if not event_id:
            return False
        item = self.inbound[event_id]
        if self.rng.random() < 0.5:
            item["subject"] = f"Customer call {self.done_ops} (moved)"
            item["box"].update_event(event_id, {"subject": item["subject"]})
        else:
            day = self.today + timedelta(days=self.rng.randint(1, 40))
            start = datetime.combine(day, datetime.min.time()) + timedelta(hours=10)
            item["box"].update_event(
                event_id,
                {
                    "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                    "end": {
                        "dateTime": (start + timedelta(minutes=30)).isoformat(),
                        "timeZone": "UTC",
                    },
                },
            )
            item["day"] = day
        return True

    def op_inbound_delete(self):
        event_id = self._pick_inbound()
        if not event_id:
            return False
        item = self.inbound[event_id]
        item["box"].delete_event(event_id)
        item["deleted"] = True
        return True

    OPS = (
        ("op_activity_create", 14),
        ("op_activity_write", 12),
        ("op_activity_remove", 5),
        ("op_activity_outlook_move", 8),
        ("op_activity_outlook_delete", 2),
        ("op_meeting_create", 7),
        ("op_meeting_write", 6),
        ("op_meeting_unlink", 3),
        ("op_meeting_outlook_move", 4),
        ("op_leave_create", 4),
        ("op_leave_refuse", 2),
        ("op_leave_outlook_delete", 2),
        ("op_inbound_create", 10),
        ("op_inbound_update", 6),
        ("op_inbound_delete", 3),
    )

    # ------------------------------------------------------------------ the run
    def run(self):
        started = time.monotonic()
        names = [name for name, _weight in self.OPS]
        weights = [weight for _name, weight in self.OPS]
        with self.patched_client():
            self.setup()
            self.arm_faults()
            self.interrupting = True
            next_sync = self.rng.randint(3, 12)
            reset_at = self.operations // 2
            while self.done_ops < self.operations:
                name = self.rng.choices(names, weights)[0]
                self.current_op = name
                try:
                    with self.env.cr.savepoint():
                        done = getattr(self, name)()
                except Exception as exc:  # an Odoo refusal of the change itself: not counted
                    self.env.invalidate_all()
                    self.say(f"   operation {name} refused by Odoo: {exc}")
                    continue
                if not done:
                    continue
                self.done_ops += 1
                self.op_counts[name] = self.op_counts.get(name, 0) + 1
                self.commit()
                if self.done_ops == reset_at and self.delta_reset:
                    self.emu.faults.add("expire_delta", mailbox=self.alice.email)
                next_sync -= 1
                if next_sync <= 0:
                    self.sync(self.rng.choice([self.alice, self.bob]))
                    next_sync = self.rng.randint(3, 12)
            self.interrupting = False
            injected = dict(self.emu.faults.injected)
            self.emu.faults.clear()
            for _round in range(3):
                for user in (self.alice, self.bob):
                    self.sync(user)
        result = self.check()
        result["operations"] = self.done_ops
        result["faults"] = sum(injected.values()) + self.interrupts
        result["fault_kinds"] = {**injected, "interrupted push": self.interrupts}
        result["seconds"] = time.monotonic() - started
        return result

    # ------------------------------------------------------------------ the checks
    def _ref_events(self):
        """(ref -> [event ids]) over both mailboxes, from our extended property."""
        from odoo.addons.office365_calendar_sync.services.graph_client import (  # noqa: PLC0415
            EXTENDED_PROPERTY_ID,
        )

        refs = {}
        for box in self.boxes.values():
            for stored in box.events.values():
                if stored.get("type") == "seriesMaster":
                    continue
                ref = next(
                    (
                        v
                        for k, v in stored["_ext"].items()
                        if k.lower() == EXTENDED_PROPERTY_ID.lower()
                    ),
                    None,
                )
                if ref:
                    refs.setdefault(ref, []).append((box, stored["id"]))
        return refs

    def check(self):
        from odoo.addons.office365_calendar_sync.services import mapping  # noqa: PLC0415

        env = self.env
        env.invalidate_all()
        problems = {"duplicates": [], "lost": [], "differ": []}
        refs = self._ref_events()
        for ref, events in refs.items():
            if len(events) > 1:
                problems["duplicates"].append(f"{ref}: {len(events)} Outlook events")
        inbound = (
            env["office365.inbound.event"]
            .sudo()
            .search([("mailbox_ids.user_id", "in", [self.alice.id, self.bob.id])])
        )
        seen = {}
        for meeting in inbound:
            key = (meeting.ical_uid, meeting.occurrence_key)
            seen[key] = seen.get(key, 0) + 1
        for key, count in seen.items():
            if count > 1:
                problems["duplicates"].append(f"inbound meeting {key[0][:16]}: {count} records")
        activities = (
            env["mail.activity"].sudo().search([("o365_inbound_event_id", "in", inbound.ids)])
        )
        per_contact = {}
        for activity in activities:
            key = (activity.o365_inbound_event_id.id, activity.res_model, activity.res_id)
            per_contact[key] = per_contact.get(key, 0) + 1
        for key, count in per_contact.items():
            if count > 1:
                problems["duplicates"].append(f"meeting {key[0]} on contact {key[2]}: {count}")

        # Odoo records: the expected value of each (last edit, newest wins) and Outlook's copy.
        accounts = {user.id: user._o365_account() for user in (self.alice, self.bob)}
        for key, expected in sorted(self.expect.items()):
            model, res_id = key
            ref = f"{model},{res_id}"
            record = env[model].sudo().with_context(active_test=False).browse(res_id).exists()
            gone = expected is None or (model == "mail.activity" and record and not record.active)
            if gone:
                if record and model != "mail.activity":
                    problems["lost"].append(f"{ref}: deleted in Odoo, still there")
                if ref in refs and key not in self.detached:
                    link = self._link(key)
                    problems["differ"].append(
                        f"{ref}: removed in Odoo, still in Outlook "
                        f"({link.state if link else 'no link'} {link.error or ''})"
                    )
                continue
            if not record:
                problems["lost"].append(f"{ref}: missing in Odoo")
                continue
            for field, value in expected.items():
                if record[field] != value:
                    link = self._link(key)
                    problems["lost"].append(
                        f"{ref}: {field} {record[field]!r} != {value!r} "
                        f"({', '.join(self.history.get(key, []))}; link {link.state} "
                        f"{link.synced_values})"
                    )
            if key in self.detached:
                continue
            in_outlook = not (model == "hr.leave" and expected.get("state") != "validate")
            if not in_outlook:
                if ref in refs:
                    problems["differ"].append(f"{ref}: refused leave still in Outlook")
                continue
            link = self._link(key)
            if not link or link.state != "synced" or ref not in refs:
                state = link.state if link else "no link"
                problems["differ"].append(
                    f"{ref}: not in Outlook ({state} {link.error or ''} gen {link.generation}; "
                    f"{', '.join(self.history.get(key, []))})"
                )
                continue
            box, event_id = refs[ref][0]
            theirs = mapping.graph_to_values(box.render(box.events[event_id]))
            ours = record._o365_values_batch(accounts[link.user_id.id], link)[link.id][0]
            for field in ("subject", "start", "end", "all_day"):
                if ours.get(field) != theirs.get(field):
                    problems["differ"].append(
                        f"{ref}: {field} Odoo {ours.get(field)!r} Outlook {theirs.get(field)!r}"
                    )
        for ref in refs:
            model, _sep, res_id = ref.partition(",")
            if (model, int(res_id)) not in self.expect:
                problems["differ"].append(f"{ref}: in Outlook, unknown to the soak")

        # Customer meetings booked in Outlook: logged once, kept up to date, closed when deleted.
        by_uid = {meeting.ical_uid: meeting for meeting in inbound}
        for event_id, item in self.inbound.items():
            meeting = by_uid.get(item["ical"])
            logged = activities.filtered(
                lambda act, meeting=meeting: meeting and act.o365_inbound_event_id == meeting
            )
            if item["deleted"]:
                if logged.filtered("active"):
                    problems["differ"].append(f"inbound {event_id[:16]}: deleted, still open")
                continue
            if not logged:
                problems["differ"].append(f"inbound {event_id[:16]}: not logged")
                continue
            if item["subject"] not in logged.mapped("summary"):
                problems["lost"].append(f"inbound {event_id[:16]}: subject not updated")
            if item["day"] not in logged.mapped("date_deadline"):
                problems["lost"].append(f"inbound {event_id[:16]}: day not updated")
        return {
            "duplicates": len(problems["duplicates"]),
            "lost": len(problems["lost"]),
            "differ": len(problems["differ"]),
            "problems": problems,
            "op_counts": dict(self.op_counts),
            "interrupted_runs": self.interrupted_runs,
            "clients": self.clients,
            "syncs": " ".join(self.history.get("syncs", [])),
            "batches": self.batches,
        }


def report(result, say=print):
    say(f"operations:            {result['operations']}")
    say(f"  by kind:             {result['op_counts']}")
    say(f"faults injected:       {result['faults']}  {result['fault_kinds']}")
    say(
        f"interrupted runs:      {result['interrupted_runs']} (of {result['clients']} runs, "
        f"{result['batches']} pushes)"
    )
    say(f"duplicate events:      {result['duplicates']}  (must be 0)")
    say(f"lost updates:          {result['lost']}  (must be 0)")
    say(f"items that differ:     {result['differ']}  (must be 0)")
    say(f"seconds:               {result['seconds']:.0f}")
    if result["duplicates"] or result["lost"] or result["differ"]:
        say(f"syncs: {result['syncs']}")
    for kind, lines in result["problems"].items():
        for line in lines[:20]:
            say(f"  {kind}: {line}")
    ok = not (result["duplicates"] or result["lost"] or result["differ"])
    say("SOAK PASSED" if ok else "SOAK FAILED")
    return 0 if ok else 1


# --------------------------------------------------------------------------- inside odoo shell


def run_in_odoo(env, config):
    """Entry point in ``odoo shell``: an emulator, the addon pointed at it, the soak; returns
    the exit status."""
    from odoo.addons.office365_calendar_sync.emulator import GraphEmulator  # noqa: PLC0415
    from odoo.addons.office365_calendar_sync.tools import emulator_setup  # noqa: PLC0415

    emu = GraphEmulator(seed=config["seed"]).start()
    try:
        emulator_setup.configure(env, emu)
        soak = Soak(
            env,
            emu,
            functools.partial(emulator_setup.connect_mailbox, emu),
            operations=config["operations"],
            seed=config["seed"],
            # "test": as the reduced soak of ``make test`` runs it (one transaction, savepoints,
            # no edit of one item on both sides between two syncs).
            commit=config.get("mode", "full") == "full",
            conflicts=config.get("mode", "full") == "full",
        )
        return report(soak.run())
    finally:
        emu.stop()


# --------------------------------------------------------------------------- driver


def main(argv=None):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run_tests  # noqa: PLC0415 (stdlib-only helper of this folder)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=OPERATIONS)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("O365_SOAK_SEED", 1)))
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="run this many seeds in a row (--seed, --seed + 1, ...), each on a fresh copy of "
        "one installed database; prints one line per seed and a summary",
    )
    parser.add_argument(
        "--mode",
        choices=("full", "test"),
        default="full",
        help="full: commit each operation, both sides may edit one item between syncs; test: "
        "as the reduced soak of make test runs it (savepoints in one transaction, no conflicts)",
    )
    parser.add_argument("--db", default=f"o365_soak_{os.getpid()}")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds before giving up")
    args = parser.parse_args(argv)

    run_tests.section("Odoo 18 server and PostgreSQL")
    server = run_tests.prepare_server("soak")
    if server is None:
        return 2
    outcomes = []
    with run_tests.scratch(server, "soak", args.db, keep_db=args.keep_db) as odoo:
        run_tests.section(f"Database {args.db} with {run_tests.MODULE}")
        if not odoo.install():
            return 2
        for seed in range(args.seed, args.seed + max(args.seeds, 1)):
            # With several seeds, each starts from a copy of the freshly installed database.
            db = f"{args.db}_s{seed}" if args.seeds > 1 else args.db
            if db != args.db:
                odoo.copy_database(db)
            started = time.monotonic()
            try:
                rc = _soak_once(odoo, db, args, seed, run_tests)
            finally:
                if db != args.db:
                    odoo.drop_copy(db)
            outcomes.append((seed, rc, time.monotonic() - started))
            run_tests.say(
                f"SOAK seed {seed}: {'PASS' if rc == 0 else 'FAIL'} (rc={rc}, "
                f"{time.monotonic() - started:.0f}s)"
            )
    if len(outcomes) > 1:
        run_tests.section("Seeds")
        failed = [seed for seed, rc, _s in outcomes if rc]
        run_tests.say(
            f"{len(outcomes)} seeds ({outcomes[0][0]}..{outcomes[-1][0]}), "
            f"{args.operations} operations each: {len(outcomes) - len(failed)} passed, "
            f"{len(failed)} failed" + (f" (seeds {', '.join(map(str, failed))})" if failed else "")
        )
    return max((rc for _seed, rc, _s in outcomes), default=2)


def _soak_once(odoo, db, args, seed, run_tests):
    """One soak run in ``odoo shell`` on database ``db``; its exit status."""
    run_tests.section(f"Soak: {args.operations} operations, seed {seed}, mode {args.mode}")
    config = {"operations": args.operations, "seed": seed, "mode": args.mode}
    return odoo.run_tool("soak:run_in_odoo", config, db=db, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
