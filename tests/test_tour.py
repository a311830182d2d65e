# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The preferences and settings tours in a real headless Chromium (static/tests/tours/).

While a tour runs, a thread of the test plays Odoo's sync cron worker: each Start Syncing and
Sync Now gets its run, and the run's bus message reaches the browser. The tours ask for
screenshots at chosen steps; ``make screenshots`` keeps them in docs/screenshots (the README's
"What you will see"), other runs check that they were taken and drop them.
"""

import base64
import html
import json
import logging
import os
import shutil
import tempfile
import threading
from datetime import datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable
from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.service.server import RequestHandler
from odoo.tests import new_test_user, tagged
from odoo.tests.common import ChromeBrowser
from odoo.tools import mute_logger

from .test_oauth import Office365HttpCase

_logger = logging.getLogger(__name__)
# A tour step logs "office365-test:<request>:<argument>" and waits until the page's
# window.__o365Done equals "<request>:<argument>" (see static/tests/tours/).
TEST_MARK = "office365-test:"
PARAM = "office365_calendar_sync."
# The tour users' time zone, also given to the browser, so that what the server writes (a run's
# name) and what the browser renders (datetime fields) read the same, as for a real user.
TIME_ZONE = "Europe/Brussels"
_spawn_chrome = ChromeBrowser._spawn_chrome
_handle_console = ChromeBrowser._handle_console
_navigate_to_original = ChromeBrowser.navigate_to
_request_handler_setup = RequestHandler.setup


def _request_handler_setup_patient(self):
    # In test mode Odoo gives each connection 5 s to send its request, against the idle sockets
    # headless Chrome opens ahead of need ("preconnect", odoo/service/server.py); a loaded
    # machine serves these tours' first page slower than that, and the idle socket's timeout is
    # logged as an error. The browser closes its sockets when it stops.
    _request_handler_setup(self)
    self.timeout = 60


def _spawn_chrome_trusting_emulator(self, cmd):
    # The emulator's certificate is self-signed (made at start); the browser must follow the
    # sign-in redirect through it as it would through login.microsoftonline.com.
    return _spawn_chrome(self, [cmd[0], "--ignore-certificate-errors", *cmd[1:]])


def _navigate_to(self, url, wait_stop=False):
    if not self.test_case.page_opened.is_set():
        self._websocket_request("Emulation.setTimezoneOverride", params={"timezoneId": TIME_ZONE})
        self.test_case.page_opened.set()
    return _navigate_to_original(self, url, wait_stop=wait_stop)


def _handle_console_with_requests(self, type, args=None, stackTrace=None, **kw):  # pylint: disable=redefined-builtin
    """Serve the tour's requests to the test: ``screenshot:<name>`` (capture the page as it is
    now) and ``outlook:<action>`` (the user does something in Outlook)."""
    text = str(self._from_remoteobject(args[0])) if args else ""
    if not text.startswith(TEST_MARK):
        return _handle_console(self, type, args, stackTrace, **kw)
    request = text[len(TEST_MARK) :].strip()
    kind, _sep, name = request.partition(":")

    def done():
        # Runs in the browser's message thread: only send, never wait here.
        self._websocket_send(
            "Runtime.evaluate",
            params={"expression": f"window.__o365Done = {json.dumps(request)}"},
        )

    if kind == "screenshot":
        folder = self.test_case.screenshot_dir

        def saved(future):
            try:
                data = future.result(timeout=0)["data"]
                (folder / f"{name}.png").write_bytes(base64.b64decode(data))
            except Exception:
                _logger.exception("Screenshot %s not saved", name)
            done()

        future = self._websocket_send(
            "Page.captureScreenshot", params={"format": "png"}, with_future=True
        )
        future.add_done_callback(saved)
    elif kind == "outlook":

        def act():
            try:
                self.test_case.outlook_actions[name]()
            except Exception:
                _logger.exception("Outlook action %s failed", name)
            done()

        threading.Thread(target=act, name="office365-tour-outlook", daemon=True).start()
    else:
        _logger.error("Unknown request of the tour: %s", request)
    return None


class SyncWorker(threading.Thread):
    """Odoo's sync cron worker while a tour runs: when a sync is requested it runs the sync
    job (``_cron_sync``, as the cron does) in its own cursor, then wakes the browser's
    websocket, since test cursors never commit (PostgreSQL's NOTIFY is not sent)."""

    def __init__(self, case, users):
        super().__init__(name="office365-tour-sync-worker", daemon=True)
        self.registry = case.registry
        # The test thread uses the test cursor itself until the browser opens the page (log
        # in, flush): the worker starts then, and shares the cursor with the HTTP requests
        # through the test lock.
        self.page_opened = case.page_opened
        self.channels = [
            hashable(channel_with_db(case.registry.db_name, user.partner_id)) for user in users
        ]
        self.stopped = threading.Event()
        self.runs = 0
        self.idle_polls = 0
        self.errors = []

    def run(self):
        while not self.page_opened.wait(0.2):
            if self.stopped.is_set():
                return
        while not self.stopped.wait(0.2):
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    if not env["office365.sync.request"].search_count([]):
                        self.idle_polls += 1
                        continue
                    self.runs += env["office365.account"]._cron_sync()
                for channel in self.channels:
                    for websocket in list(dispatch._channels_to_ws.get(channel, ())):
                        websocket.trigger_notification_dispatching()
            except Exception as exc:  # reported by the test
                _logger.exception("Sync worker of the tour failed")
                self.errors.append(exc)

    def wait_idle(self, timeout=60):
        """Until a poll that began after this call found nothing to sync."""
        target = self.idle_polls + 2
        deadline = monotonic() + timeout
        while self.idle_polls < target and monotonic() < deadline:
            sleep(0.05)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.join(30)


@tagged("post_install", "-at_install")
class TestPreferencesTour(Office365HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(
            patch.object(ChromeBrowser, "_spawn_chrome", _spawn_chrome_trusting_emulator)
        )
        cls.startClassPatcher(
            patch.object(ChromeBrowser, "_handle_console", _handle_console_with_requests)
        )
        cls.startClassPatcher(patch.object(ChromeBrowser, "navigate_to", _navigate_to))
        cls.startClassPatcher(patch.object(RequestHandler, "setup", _request_handler_setup_patient))
        # The sync result reaches the page through the bus's websocket, which Odoo turns off
        # in tests by default.
        cls.startClassPatcher(
            patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        )
        keep = os.environ.get("O365_SCREENSHOTS_DIR")
        if keep:
            cls.screenshot_dir = Path(keep)
            cls.screenshot_dir.mkdir(parents=True, exist_ok=True)
        else:
            cls.screenshot_dir = Path(tempfile.mkdtemp(prefix="o365_screenshots_"))
            cls.addClassCleanup(shutil.rmtree, cls.screenshot_dir, True)
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param(PARAM + "internal_domains", "example.com")
        params.set_param(PARAM + "create_contacts", "0")
        cls.customer = cls.env["res.partner"].create(
            {"name": "Customer One", "is_company": True, "email": "info@customer.example.org"}
        )
        cls.claire = cls.env["res.partner"].create(
            {
                "name": "Claire Dubois",
                "email": "claire.dubois@customer.example.org",
                "parent_id": cls.customer.id,
            }
        )
        # A Tuesday two to eight days ahead, at 10:00 UTC: inside every sync window.
        day = fields.Date.today() + timedelta(days=2)
        day += timedelta(days=(1 - day.weekday()) % 7)
        cls.meeting_start = datetime.combine(day, time(10, 0))

    browser_size = "1600x1000"  # the chatter beside the form, the preferences' status in view

    def setUp(self):
        super().setUp()
        self.page_opened = threading.Event()
        self.outlook_actions = {}

    def assertScreenshots(self, *names):
        for name in names:
            path = self.screenshot_dir / f"{name}.png"
            self.assertTrue(path.is_file(), f"no screenshot {name}")
            self.assertEqual(path.read_bytes()[:8], b"\x89PNG\r\n\x1a\n", name)

    def _outlook_meeting(self, mailbox, subject="Quarterly review"):
        """A meeting booked in Outlook with Claire, as the user would."""
        start = self.meeting_start
        return mailbox.create_event(
            {
                "subject": subject,
                "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (start + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
                "attendees": [
                    {
                        "emailAddress": {
                            "address": "claire.dubois@customer.example.org",
                            "name": "Claire Dubois",
                        }
                    }
                ],
                "location": {"displayName": "Customer One, Brussels"},
                "body": {"contentType": "html", "content": "<p>Renewal and next year's plan</p>"},
            }
        )

    def test_preferences_tour(self):
        """Not connected: Start disabled with the reason; sign-in returns to the preferences;
        Start, Stop and Sync Now reload the dialog in place; Sync Now shows its result; the
        meeting lands on the contact's timeline; the sync log names its runs."""
        user = new_test_user(
            self.env,
            login="tour_user",
            email="tour.user@example.com",
            groups="base.group_user",
            name="Tour User",
            tz=TIME_ZONE,
        )
        self.assertFalse(user.employee_id, "this tour is about the Preferences dialog")
        mailbox = self.emulator.add_mailbox("tour.user@example.com", display_name="Tour User")
        self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.claire.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_call").id,
                "summary": "Call Claire about the renewal",
                "date_deadline": self.meeting_start.date() + timedelta(days=1),
                "user_id": user.id,
            }
        )
        with SyncWorker(self, user) as worker:
            # Once the runs of the Start buttons are done, the user books a meeting with
            # Claire in Outlook: the run of Sync Now logs it.
            self.outlook_actions["book-meeting"] = lambda: (
                worker.wait_idle(),
                self._outlook_meeting(mailbox),
            )
            # The first run of Sync ERP activities has put the phone call in Outlook.
            self.outlook_actions["synced"] = worker.wait_idle
            self.start_tour("/web", "office365_preferences_tour", login="tour_user", timeout=300)
        self.assertFalse(worker.errors)
        self.assertGreaterEqual(worker.runs, 4)
        account = user._o365_account()
        self.assertEqual(account.state, "connected")
        self.assertEqual(account.email, "tour.user@example.com")
        self.assertTrue(account.token_cache)
        settings = user._o365_settings()
        self.assertTrue(settings.o365_activities_enabled)
        self.assertTrue(settings.o365_events_enabled)
        self.assertFalse(settings.o365_holidays_enabled)
        # The Outlook meeting was logged once on Claire's timeline, the activity pushed.
        logged = self.env["office365.inbound.event"].search(
            [("partner_ids", "in", self.claire.ids)]
        )
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged.name, "Quarterly review")
        subjects = [event["subject"] for event in self.o365_events(mailbox)]
        self.assertEqual(len(subjects), 2, subjects)
        self.assertIn("Quarterly review", subjects)
        log = self.env["office365.sync.log"].search(
            [("user_id", "=", user.id), ("option", "=", "events"), ("created", ">", 0)]
        )
        self.assertTrue(log)
        self.assertIn("Sync Office 365 events, ", log[0].display_name)
        self.assertScreenshots(
            "preferences-not-connected",
            "preferences-stop-activities",
            "preferences",
            "preferences-events",
            "contact-timeline",
            "sync-log",
            "sync-run",
        )
        self._outlook_screenshot(mailbox, "outlook")

    def test_profile_form_tour(self):
        """An employee's preferences are the full profile form (hr): the buttons reload it in
        place, no dialog opens."""
        user, mailbox = self._o365_user("profile_user", email="profile.user@example.com")
        user.name = "Profile User"
        self.env["hr.employee"].create({"name": "Profile User", "user_id": user.id})
        self.assertTrue(user.employee_id)
        self.assertEqual(
            user.with_user(user).action_get()["id"], self.env.ref("hr.res_users_action_my").id
        )
        with SyncWorker(self, user) as worker:
            self.outlook_actions["book-meeting"] = lambda: (
                worker.wait_idle(),
                self._outlook_meeting(mailbox, subject="Profile review"),
            )
            self.start_tour("/web", "office365_profile_tour", login="profile_user", timeout=240)
        self.assertFalse(worker.errors)
        self.assertFalse(user._o365_settings().o365_events_enabled)
        logged = self.env["office365.inbound.event"].search([("name", "=", "Profile review")])
        self.assertEqual(len(logged), 1)
        self.assertScreenshots("profile-form")

    def test_admin_lock_and_locked_preferences_tours(self):
        """The admin's settings (full client id, redirect URI to copy, one column per side) and
        a locked default; the user sees it greyed with the reason, and a connection Microsoft
        refuses now is offered Reconnect with the started option shown paused."""
        user, _mailbox = self._o365_user("tour_locked", options=("events",))
        self.env["office365.sync.log"].create(
            {"user_id": user.id, "option": "events", "created": 4}
        )
        user._o365_account().write(
            {"state": "reconnect", "last_error": "AADSTS700082: The refresh token has expired."}
        )
        self.start_tour("/web", "office365_admin_settings_tour", login="admin", timeout=120)
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(
            params.get_param(PARAM + "client_id"), "9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"
        )
        self.assertEqual(params.get_param(PARAM + "default.o365_same_field_rule"), "odoo")
        self.assertEqual(params.get_param(PARAM + "lock.o365_same_field_rule"), "True")
        # Saving the settings kept the stored secret.
        self.assertTrue(params.get_param(PARAM + "client_secret"))
        self.start_tour("/web", "office365_locked_preferences_tour", login="tour_locked")
        self.assertScreenshots(
            "settings",
            "settings-prevent",
            "preferences-reconnect",
            "preferences-paused",
            "preferences-locked",
        )

    def test_wrong_then_right_client_id_tours(self):
        """The administrator mistypes the client id and Test connection names it; the next
        run pauses the user without asking them to sign in; the administrator sees the paused
        account, fixes the id, Test connection says it resumes; the user syncs again with the
        same sign-in (no authorization request, the same stored tokens)."""
        user, mailbox = self._o365_user("tour_resume", options=("events",))
        user.name = "Resuming User"
        account = user._o365_account()
        self.o365_sync(user)
        tokens = account.sudo().token_cache
        sign_ins = self.emulator.auth.grants["authorization_code"]

        def cron():
            account.write({"next_sync_at": False})
            self.env["office365.account"]._cron_sync()
            account.invalidate_recordset()

        self.start_tour("/web", "office365_admin_wrong_client_id_tour", login="admin")
        with mute_logger("odoo.addons.office365_calendar_sync.models.office365_account"):
            cron()
        self.assertIn("AADSTS700016", account.paused_reason)
        self.assertEqual(account.state, "connected")
        self.start_tour("/web", "office365_app_paused_preferences_tour", login="tour_resume")
        self.start_tour("/web", "office365_admin_right_client_id_tour", login="admin")
        self.assertFalse(account.paused_reason)
        # Meanwhile, a meeting was booked in Outlook: the resumed run logs it.
        self._outlook_meeting(mailbox, subject="Resumed review")
        cron()
        self.assertFalse(account.last_error)
        self.assertTrue(
            self.env["office365.inbound.event"].search([("name", "=", "Resumed review")])
        )
        self.start_tour("/web", "office365_resumed_preferences_tour", login="tour_resume")
        self.assertEqual(
            self.emulator.auth.grants["authorization_code"], sign_ins, "nobody signed in again"
        )
        self.assertEqual(account.sudo().token_cache, tokens)
        self.assertScreenshots(
            "settings-test-wrong",
            "preferences-app-paused",
            "settings-test-right",
            "preferences-resumed",
        )

    def test_admin_signin_refused_tour(self):
        """The administrator's address is not in the tenant: the refusal says so, in Odoo's
        page layout, and leads back to the preferences."""
        admin = self.env.ref("base.user_admin")
        # The profile form requires a time zone (the database's admin has none): as any
        # button of the form, Connect saves the form first.
        admin.tz = TIME_ZONE
        self.assertEqual(admin.email, "admin@example.com")
        self.assertIsNone(self.emulator.find_mailbox(admin.email))
        self.start_tour("/web", "office365_admin_signin_tour", login="admin", timeout=120)
        self.assertEqual(admin._o365_account().state, "disconnected")
        self.assertScreenshots("signin-refused")

    def _outlook_screenshot(self, mailbox, name):
        """The mailbox's calendar as Microsoft Graph lists it (the emulator's), rendered as a
        plain agenda page and captured by headless Chromium like the tour's screenshots."""
        rows = []
        events = sorted(
            (
                mailbox.render(event, tz_name="Europe/Brussels")
                for event in self.o365_events(mailbox)
            ),
            key=lambda ev: ev["start"]["dateTime"],
        )
        for event in events:
            start = event["start"]["dateTime"][:16].replace("T", " ")
            end = event["end"]["dateTime"][11:16]
            when = f"{start[:10]} (all day)" if event.get("isAllDay") else f"{start} - {end}"
            rows.append(
                "<tr><td>{}</td><td><b>{}</b><div class='sub'>{}</div></td>"
                "<td>{}</td><td>{}</td></tr>".format(
                    html.escape(when),
                    html.escape(event.get("subject") or ""),
                    html.escape((event.get("location") or {}).get("displayName") or ""),
                    html.escape(", ".join(event.get("categories") or [])),
                    html.escape(event.get("showAs") or ""),
                )
            )
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
            "body{font-family:'Segoe UI',sans-serif;margin:24px;color:#242424}"
            "h1{font-size:20px;font-weight:600;color:#0f6cbd}"
            "p{color:#616161}table{border-collapse:collapse;width:100%}"
            "th,td{text-align:left;padding:10px;border-bottom:1px solid #e0e0e0;"
            "vertical-align:top}th{background:#f5f5f5}.sub{color:#616161;font-size:13px}"
            "</style></head><body>"
            f"<h1>Outlook calendar of {html.escape(mailbox.email)}</h1>"
            "<p>The events of the mailbox as Microsoft Graph lists them (the local Graph "
            "emulator of the tests and the demo), times in Europe/Brussels.</p>"
            "<table><tr><th>When</th><th>Subject</th><th>Categories</th><th>Show as</th></tr>"
            + "".join(rows)
            + "</table></body></html>"
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "outlook.html"
            path.write_text(page, encoding="utf-8")
            browser = ChromeBrowser(self)
            try:
                browser.navigate_to(path.as_uri(), wait_stop=True)
                data = browser._websocket_request(
                    "Page.captureScreenshot", params={"format": "png"}
                )["data"]
            finally:
                browser.stop()
        (self.screenshot_dir / f"{name}.png").write_bytes(base64.b64decode(data))
        self.assertScreenshots(name)
