# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Preferences -> Office 365 Calendar: every user setting, the admin defaults, locks, maximums."""

import json
from datetime import datetime, timedelta

from odoo import fields
from odoo.addons.bus.models.bus import channel_with_db, json_dump
from odoo.addons.office365_calendar_sync.models.office365_sync_log import RUN_DONE
from odoo.addons.office365_calendar_sync.models.res_users_settings import LOCKABLE_FIELDS
from odoo.addons.office365_calendar_sync.services.runstats import RunStats
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged

from .common import PARAM, Office365Case

# A value different from every field default, per setting.
OTHER_VALUES = {
    "o365_sync_phonecall": False,
    "o365_sync_task": False,
    "o365_sync_meeting": False,
    "o365_activity_slot": "slot",
    "o365_activity_hour": 14.5,
    "o365_activity_duration": 1.25,
    "o365_push_existing": False,
    "o365_include_private": True,
    "o365_exclude_categories": "Personal",
    "o365_include_categories": "Customers, Partners",
    "o365_past_days": 12,
    "o365_future_days": 90,
    "o365_calendar_id": "AAMkAGI2calendar",
    "o365_same_field_rule": "outlook",
    "o365_delete_rule": "update",
    "o365_prevent_odoo_create": True,
    "o365_prevent_odoo_update": True,
    "o365_prevent_odoo_delete": True,
    "o365_prevent_outlook_create": True,
    "o365_prevent_outlook_update": True,
    "o365_prevent_outlook_delete": True,
}


@tagged("post_install", "-at_install")
class TestPreferences(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.alice, cls.alice_box = cls._o365_user("pref_alice")
        cls.bob = new_test_user(cls.env, login="pref_bob", groups="base.group_user")

    def _lock(self, name, value):
        settings_model = self.env["res.users.settings"]
        raw = "True" if value is True else "False" if value is False else str(value)
        self.params.set_param(f"{PARAM}default.{name}", raw)
        self.params.set_param(f"{PARAM}lock.{name}", "True")
        self.assertIn(name, settings_model._o365_locked_fields())

    def test_every_setting_is_covered(self):
        self.assertEqual(set(OTHER_VALUES), set(LOCKABLE_FIELDS))

    def test_user_edits_every_setting_in_preferences(self):
        """Each setting is self-writeable through res.users and lands on res.users.settings."""
        alice = self.alice.with_user(self.alice)
        for name, value in OTHER_VALUES.items():
            with self.subTest(setting=name):
                alice.write({name: value})
                settings = self.alice._o365_settings()
                self.assertEqual(settings[name], value)
                self.assertEqual(settings._o365_effective(name), value)
                alice.invalidate_recordset()
                self.assertEqual(alice[name], value)
                self.assertFalse(alice[f"{name}_locked"])

    def test_preferences_readable_by_user(self):
        """The preferences dialog can read the mirrors, locks and status of one's own user."""
        fields_to_read = [
            name for name in self.env["res.users"]._fields if name.startswith("o365_")
        ]
        data = self.alice.with_user(self.alice).read(fields_to_read)[0]
        self.assertEqual(data["o365_account_state"], "connected")
        self.assertEqual(data["o365_past_days"], 30)
        self.assertEqual(data["o365_future_days"], 365)
        self.assertEqual(data["o365_same_field_rule"], "newest")
        self.assertFalse(data["o365_past_days_locked"])

    def test_admin_defaults_apply_to_new_users(self):
        self.params.set_param(f"{PARAM}default.o365_past_days", "7")
        self.params.set_param(f"{PARAM}default.o365_sync_task", "False")
        self.params.set_param(f"{PARAM}default.o365_same_field_rule", "odoo")
        carol = new_test_user(self.env, login="pref_carol", groups="base.group_user")
        settings = carol._o365_settings()
        self.assertEqual(settings.o365_past_days, 7)
        self.assertFalse(settings.o365_sync_task)
        self.assertEqual(settings.o365_same_field_rule, "odoo")
        # Not locked: the user may change them.
        carol.with_user(carol).write({"o365_past_days": 9, "o365_sync_task": True})
        self.assertEqual(settings.o365_past_days, 9)
        self.assertTrue(settings.o365_sync_task)

    def test_every_lock_is_enforced_on_the_server(self):
        alice = self.alice.with_user(self.alice)
        settings = self.alice._o365_settings()
        for name, value in OTHER_VALUES.items():
            with self.subTest(setting=name):
                self._lock(name, value)
                alice.invalidate_recordset()
                # Shown greyed with the admin's value, whatever the user had stored.
                self.assertTrue(alice[f"{name}_locked"])
                self.assertEqual(alice[name], value)
                self.assertEqual(settings._o365_effective(name), value)
                # A different value is refused (through the preferences and directly).
                default = self.env["res.users.settings"].default_get([name]).get(name, False)
                with self.assertRaisesRegex(UserError, "locked"):
                    alice.write({name: default})
                with self.assertRaisesRegex(UserError, "locked"):
                    settings.with_user(self.alice).write({name: default})
                # Saving the form again with the locked value is harmless.
                alice.write({name: value})

    def test_lock_beats_stored_value_in_the_engine(self):
        settings = self.alice._o365_settings()
        settings.write({"o365_same_field_rule": "outlook", "o365_prevent_outlook_delete": False})
        self._lock("o365_same_field_rule", "odoo")
        self._lock("o365_prevent_outlook_delete", True)
        account = self.alice._o365_account()
        self.assertEqual(account._o365_setting("o365_same_field_rule"), "odoo")
        prevented = account._o365_prevented()
        self.assertFalse(prevented.allows("outlook", "delete"))
        self.assertTrue(prevented.allows("outlook", "create"))
        # The stored value is untouched: unlocking gives the user's choice back.
        self.params.set_param(f"{PARAM}lock.o365_same_field_rule", False)
        self.assertEqual(account._o365_setting("o365_same_field_rule"), "outlook")

    def test_admin_may_change_a_locked_setting(self):
        self._lock("o365_future_days", 100)
        self.alice._o365_settings().write({"o365_future_days": 50})
        self.assertEqual(self.alice._o365_settings().o365_future_days, 50)
        self.assertEqual(self.alice._o365_settings()._o365_effective("o365_future_days"), 100)

    def test_window_maximum(self):
        self.params.set_param(f"{PARAM}max_past_days", "20")
        self.params.set_param(f"{PARAM}max_future_days", "60")
        alice = self.alice.with_user(self.alice)
        with self.assertRaisesRegex(UserError, "at most 20 days"):
            alice.write({"o365_past_days": 40})
        with self.assertRaisesRegex(UserError, "at most 60 days"):
            alice.write({"o365_future_days": 365})
        with self.assertRaises(ValidationError):
            alice.write({"o365_past_days": -1})
        alice.write({"o365_past_days": 15, "o365_future_days": 60})
        # Values stored before the maximum (here: by the admin) are clamped by the engine.
        settings = self.alice._o365_settings()
        settings.write({"o365_future_days": 400})
        self.assertEqual(settings._o365_effective("o365_future_days"), 60)
        start, end = self.alice._o365_account()._o365_window()
        today = fields.Date.context_today(self.alice.with_context(tz=self.alice.tz))
        self.assertEqual(start, today - timedelta(days=15))
        self.assertEqual(end, today + timedelta(days=60))

    def test_options_are_not_self_writeable(self):
        """Options start through Start Syncing (which checks the connection), not by a write."""
        with self.assertRaises(AccessError):
            self.bob.with_user(self.bob).write({"o365_activities_enabled": True})
        self.assertFalse(self.bob._o365_settings().o365_activities_enabled)

    def test_user_cannot_change_another_users_preferences(self):
        with self.assertRaises(AccessError):
            self.alice.with_user(self.bob).write({"o365_past_days": 3})
        with self.assertRaisesRegex(UserError, "own Office 365"):
            self.alice.with_user(self.bob).with_context(
                office365_calendar_sync_option="activities"
            ).action_o365_start()

    def test_start_stop_each_option_and_status(self):
        alice = self.alice.with_user(self.alice)
        for option in ("activities", "events", "holidays"):
            with self.subTest(option=option):
                ctx = alice.with_context(office365_calendar_sync_option=option)
                # No action: the page reloads the open form in place (no second copy).
                self.assertIs(ctx.action_o365_start(), True)
                alice.invalidate_recordset()
                self.assertTrue(alice[f"o365_{option}_enabled"])
                self.assertTrue(alice[f"o365_{option}_next_run"])
                self.assertIn(self.alice.id, self.env["res.users"]._o365_syncing(option))
                self.assertIs(ctx.action_o365_stop(), True)
                alice.invalidate_recordset()
                self.assertFalse(alice[f"o365_{option}_enabled"])
                self.assertFalse(alice[f"o365_{option}_next_run"])
                self.assertNotIn(self.alice.id, self.env["res.users"]._o365_syncing(option))

    def test_start_needs_a_connection(self):
        with self.assertRaisesRegex(UserError, "Connect"):
            self.bob.with_user(self.bob).with_context(
                office365_calendar_sync_option="events"
            ).action_o365_start()
        with self.assertRaisesRegex(UserError, "Unknown"):
            self.alice.with_user(self.alice).with_context(
                office365_calendar_sync_option="nope"
            ).action_o365_start()

    def test_status_from_the_sync_log(self):
        self.alice._o365_start("events")
        self.alice_box.create_event(
            {
                "subject": "Lunch with a customer",
                "start": {"dateTime": _iso(1, 12), "timeZone": "UTC"},
                "end": {"dateTime": _iso(1, 13), "timeZone": "UTC"},
            }
        )
        self.env["office365.account"]._cron_sync()  # the sync job serves the Start's request
        log = self.env["office365.sync.log"].search(
            [("user_id", "=", self.alice.id), ("option", "=", "events")]
        )
        self.assertTrue(log)
        alice = self.alice.with_user(self.alice)
        alice.invalidate_recordset()
        self.assertEqual(alice.o365_events_last_run, max(log.mapped("start")))
        self.assertEqual(
            alice.o365_events_items, sum(log.mapped("created") + log.mapped("updated"))
        )
        self.assertEqual(alice.o365_events_next_run, self.alice._o365_account().next_sync_at)
        self.assertFalse(alice.o365_events_last_error)
        # A failing run shows its error.
        bad = self.env["office365.sync.log"].create(
            {"user_id": self.alice.id, "option": "events", "failed": 1}
        )
        self.env["office365.sync.log.line"].create(
            {"log_id": bad.id, "message": "Outlook event not applied: no start"}
        )
        alice.invalidate_recordset()
        self.assertEqual(alice.o365_events_last_error, "Outlook event not applied: no start")
        self.assertFalse(alice.o365_holidays_last_run)

    def test_start_events_later_logs_meetings_already_read(self):
        """Another option read the calendar first: starting events still logs older meetings."""
        self.env["res.partner"].create({"name": "Zoe", "email": "zoe@customer.example.org"})
        event = self.alice_box.create_event(
            {
                "subject": "Visit Zoe",
                "start": {"dateTime": _iso(2, 10), "timeZone": "UTC"},
                "end": {"dateTime": _iso(2, 11), "timeZone": "UTC"},
                "attendees": [
                    {
                        "emailAddress": {"address": "zoe@customer.example.org", "name": "Zoe"},
                        "type": "required",
                    }
                ],
            }
        )
        inbound = self.env["office365.inbound.event"].sudo()
        account = self.alice._o365_account()
        self.alice._o365_start("holidays")
        self.env["office365.account"]._cron_sync()
        self.assertTrue(account.delta_link)
        self.assertFalse(inbound.search([("ical_uid", "=", event["iCalUId"])]))
        self.alice._o365_start("events")
        self.env["office365.account"]._cron_sync()
        self.assertTrue(inbound.search([("ical_uid", "=", event["iCalUId"])]))

    def test_pick_an_outlook_calendar(self):
        alice = self.alice.with_user(self.alice)
        alice.action_o365_load_calendars()
        calendars = self.env["office365.calendar"].with_user(self.alice).search([])
        self.assertEqual(calendars.mapped("calendar_id"), [self.alice_box.calendar_id])
        self.assertTrue(calendars.is_default)
        self.assertIn("(default)", calendars.display_name)
        alice.write({"o365_calendar_choice_id": calendars.id})
        settings = self.alice._o365_settings()
        self.assertEqual(settings.o365_calendar_id, self.alice_box.calendar_id)
        alice.invalidate_recordset()
        self.assertEqual(alice.o365_calendar_choice_id, calendars)
        # The sync reads that calendar.
        self.alice._o365_start("events")
        self.emulator.reset_counters()
        self.assertFalse(self.o365_sync(self.alice).fatal)
        self.assertTrue(
            [key for key in self.emulator.counters if "calendars/{id}/calendarView/delta" in key],
            dict(self.emulator.counters),
        )
        # Back to the default calendar; another user's calendar cannot be picked.
        alice.write({"o365_calendar_choice_id": False})
        self.assertFalse(settings.o365_calendar_id)
        other = self.env["office365.calendar"].create(
            {"user_id": self.bob.id, "calendar_id": "AAMkBob", "name": "Bob's"}
        )
        with self.assertRaises(AccessError):
            alice.write({"o365_calendar_choice_id": other.id})
        self.assertFalse(
            self.env["office365.calendar"].with_user(self.alice).search([("id", "=", other.id)])
        )

    def test_sync_now_and_disconnect(self):
        alice = self.alice.with_user(self.alice)
        self.alice._o365_start("events")
        self.alice._o365_start("holidays")
        before = fields.Datetime.now()
        action = alice.action_o365_sync_now()
        # "Sync queued", with the time from which the page waits for the run's result.
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn("Sync queued", action["params"]["message"])
        queued_at = fields.Datetime.from_string(action["params"]["office365_queued_at"])
        self.assertGreaterEqual(queued_at, before)
        account = self.alice._o365_account()
        self.assertTrue(self.env["office365.sync.request"].sudo()._o365_pending(account)[0])
        alice.invalidate_recordset()
        self.assertTrue(alice.o365_events_next_run)
        self.assertIs(alice.action_o365_disconnect(), True)
        alice.invalidate_recordset()
        self.assertEqual(alice.o365_account_state, "disconnected")
        self.assertFalse(alice.o365_account_email)
        self.assertFalse(account.token_cache)
        for option in ("activities", "events", "holidays"):
            self.assertFalse(alice[f"o365_{option}_enabled"])
        with self.assertRaisesRegex(UserError, "Connect"):
            alice.action_o365_sync_now()

    def test_connect_button_starts_the_sign_in(self):
        action = self.bob.with_user(self.bob).action_o365_connect()
        self.assertEqual(action["type"], "ir.actions.act_url")
        self.assertEqual(action["url"], "/office365_calendar_sync/oauth/start")
        # The administrator cannot sign in to someone else's mailbox in delegated mode.
        with self.assertRaisesRegex(UserError, "own Office 365 mailbox"):
            self.bob.action_o365_connect()

    def test_live_or_polling(self):
        self.assertEqual(self.alice.o365_sync_mode, "polling")
        self.params.set_param(f"{PARAM}public_base_url", "https://odoo.example.com")
        self.alice.invalidate_recordset()
        # Live once the mailbox has a change subscription; polling until then.
        account = self.alice._o365_account()
        self.assertEqual(self.alice.o365_sync_mode, account.subscription_status)
        self.assertEqual(self.bob.o365_sync_mode, "live")  # not connected: the setting's mode

    def test_preferences_form_saves_through_the_view(self):
        """The real preferences form: locked fields are read-only, others are saved."""
        self._lock("o365_delete_rule", "update")
        view = self.env.ref("office365_calendar_sync.res_users_view_form_o365_preferences")
        with Form(self.alice.with_user(self.alice), view=view) as form:
            form.o365_past_days = 14
            form.o365_same_field_rule = "odoo"
            with self.assertRaises(AssertionError):
                form.o365_delete_rule = "delete"  # read-only: locked
        settings = self.alice._o365_settings()
        self.assertEqual(settings.o365_past_days, 14)
        self.assertEqual(settings.o365_same_field_rule, "odoo")


@tagged("post_install", "-at_install")
class TestAdminSettings(Office365Case):
    def test_settings_store_parameters_and_defaults(self):
        params = self.env["ir.config_parameter"].sudo()
        early = new_test_user(self.env, login="settings_early", groups="base.group_user")
        early._o365_settings().write({"o365_same_field_rule": "odoo"})
        config = self.env["res.config.settings"].create(
            {
                "o365_client_id": "app-id",
                "o365_client_secret": "s3cret-value",
                "o365_tenant": "contoso.onmicrosoft.com",
                "o365_mode": "app",
                "o365_internal_domains": "example.com",
                "o365_public_base_url": "https://odoo.example.com",
                "o365_sync_interval": 7,
                "o365_max_past_days": 60,
                "o365_default_past_days": 90,  # above the maximum: clamped
                "o365_default_same_field_rule": "outlook",
                "o365_lock_same_field_rule": True,
                "o365_default_prevent_outlook_delete": True,
                "o365_lock_prevent_outlook_delete": True,
            }
        )
        config.execute()
        self.assertEqual(params.get_param(PARAM + "client_id"), "app-id")
        self.assertEqual(params.get_param(PARAM + "client_secret"), "s3cret-value")
        self.assertEqual(params.get_param(PARAM + "tenant"), "contoso.onmicrosoft.com")
        self.assertEqual(params.get_param(PARAM + "mode"), "app")
        self.assertEqual(params.get_param(PARAM + "sync_interval_minutes"), "7")
        self.assertEqual(params.get_param(PARAM + "default.o365_past_days"), "60")
        self.assertEqual(params.get_param(PARAM + "default.o365_same_field_rule"), "outlook")
        self.assertEqual(params.get_param(PARAM + "lock.o365_same_field_rule"), "True")
        self.assertFalse(params.get_param(PARAM + "lock.o365_past_days"))
        cron = self.env.ref("office365_calendar_sync.ir_cron_office365_sync")
        self.assertEqual((cron.interval_number, cron.interval_type), (7, "minutes"))
        # The secret is write-only: never sent back, and kept when left empty.
        values = self.env["res.config.settings"].default_get(["o365_client_secret"])
        self.assertFalse(values.get("o365_client_secret"))
        again = self.env["res.config.settings"].create({})
        self.assertFalse(again.o365_client_secret)
        self.assertTrue(again.o365_client_secret_set)
        self.assertTrue(again.o365_lock_same_field_rule)
        self.assertEqual(again.o365_default_same_field_rule, "outlook")
        again.execute()
        self.assertEqual(params.get_param(PARAM + "client_secret"), "s3cret-value")
        # Everyone now follows the locked rules, stored values included.
        self.assertEqual(early._o365_settings().o365_same_field_rule, "outlook")
        self.assertTrue(early._o365_settings().o365_prevent_outlook_delete)
        user = new_test_user(self.env, login="settings_dave", groups="base.group_user")
        self.assertEqual(user._o365_settings()._o365_effective("o365_same_field_rule"), "outlook")
        self.assertTrue(user.o365_prevent_outlook_delete_locked)

    def test_settings_need_admin(self):
        user = new_test_user(self.env, login="settings_erin", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.env["res.config.settings"].with_user(user).create({"o365_sync_interval": 1})
        with self.assertRaises(AccessError):
            self.env["ir.config_parameter"].with_user(user).get_param(PARAM + "client_secret")

    def test_app_mode_needs_a_tenant(self):
        config = self.env["res.config.settings"].create(
            {"o365_mode": "app", "o365_tenant": "organizations"}
        )
        with self.assertRaisesRegex(UserError, "tenant"):
            config.execute()

    def test_bad_frequency_refused(self):
        config = self.env["res.config.settings"].create({"o365_sync_interval": 0})
        with self.assertRaisesRegex(UserError, "at least one minute"):
            config.execute()

    def test_admin_consent_button(self):
        config = self.env["res.config.settings"].create(
            {"o365_mode": "app", "o365_tenant": "contoso.onmicrosoft.com"}
        )
        action = config.action_o365_admin_consent()
        self.assertEqual(action["url"], "/office365_calendar_sync/oauth/adminconsent/start")

    def test_redirect_uri_to_register(self):
        """The settings show the redirect URI the sign-in sends, as a value to copy."""
        self.env["ir.config_parameter"].sudo().set_param(
            "web.base.url", "http://odoo.internal:8069"
        )
        config = self.env["res.config.settings"].create({})
        self.assertEqual(
            config.o365_redirect_uri,
            "http://odoo.internal:8069/office365_calendar_sync/oauth/callback",
        )
        config.o365_public_base_url = "https://odoo.example.com/"
        self.assertEqual(
            config.o365_redirect_uri,
            "https://odoo.example.com/office365_calendar_sync/oauth/callback",
        )


@tagged("post_install", "-at_install")
class TestRunFeedback(Office365Case):
    """What the user's page is told when a run ends (Sync Now feedback, status refresh)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(PARAM + "internal_domains", "example.com")
        cls.user, cls.box = cls._o365_user("feedback_kim", options=("events",))
        cls.env["res.partner"].create({"name": "Liam", "email": "liam@customer.example.org"})

    def setUp(self):
        super().setUp()
        # The emulator lives for the class; the database rolls back after each test.
        self.box.events.clear()
        self.box.transactions.clear()
        self.box.sync_states.clear()

    def _run_done_messages(self):
        """The run-done bus messages queued for the user (created on commit: run the hook)."""
        self.env.cr.precommit.run()
        channel = json_dump(channel_with_db(self.env.cr.dbname, self.user.partner_id))
        notifications = self.env["bus.bus"].sudo().search([("channel", "=", channel)])
        return [
            json.loads(notification.message)["payload"]
            for notification in notifications
            if json.loads(notification.message)["type"] == RUN_DONE
        ]

    def test_run_tells_the_user_what_it_did(self):
        self.box.create_event(
            {
                "subject": "Visit Liam",
                "start": {"dateTime": _iso(2, 10), "timeZone": "UTC"},
                "end": {"dateTime": _iso(2, 11), "timeZone": "UTC"},
                "attendees": [{"emailAddress": {"address": "liam@customer.example.org"}}],
            }
        )
        self.assertFalse(self.o365_sync(self.user).fatal)
        log = self.env["office365.sync.log"].search(
            [("user_id", "=", self.user.id), ("option", "=", "events")]
        )
        self.assertEqual(log.created, 1)
        [payload] = self._run_done_messages()
        self.assertEqual(payload["type"], "success")
        self.assertEqual(payload["message"], "Sync Office 365 events: 1 created.")
        self.assertEqual(payload["start"], fields.Datetime.to_string(log.start))

    def test_a_run_nobody_asked_for_tells_only_open_pages(self):
        """Each bus message costs Odoo a new database connection: a run the user did not ask
        for (a poll, a change) tells the user only when it did something and Odoo is open in
        their browser; Sync Now always gets its result."""
        accounts = self.env["office365.account"]
        account = self.user._o365_account()

        def cron_run(subject):
            self.box.create_event(
                {
                    "subject": subject,
                    "start": {"dateTime": _iso(2, 10), "timeZone": "UTC"},
                    "end": {"dateTime": _iso(2, 11), "timeZone": "UTC"},
                    "attendees": [{"emailAddress": {"address": "liam@customer.example.org"}}],
                }
            )
            account.next_sync_at = fields.Datetime.now() - timedelta(minutes=1)
            self.assertGreaterEqual(accounts._cron_sync(), 1)
            messages = self._run_done_messages()
            self.env["bus.bus"].sudo().search([]).unlink()
            return messages

        accounts._cron_sync()  # Start Syncing's run (asked for: it says what it did)
        self.assertTrue(self._run_done_messages())
        self.env["bus.bus"].sudo().search([]).unlink()
        self.assertEqual(cron_run("Visit Liam"), [], "no page open: no message")
        self.assertEqual(self.env["office365.inbound.event"].search_count([]), 1)
        presence = self.env["bus.presence"].create({"user_id": self.user.id, "status": "online"})
        self.env["bus.bus"].sudo().search([]).unlink()
        [payload] = cron_run("Visit Liam again")
        self.assertEqual(payload["message"], "Sync Office 365 events: 1 created.")
        presence.status = "offline"
        self.user.with_user(self.user).action_o365_sync_now()
        self.assertEqual(accounts._cron_sync(), 1)
        [payload] = self._run_done_messages()
        self.assertEqual(payload["message"], "Sync Office 365 events: nothing to change.")

    def test_run_with_nothing_to_do_says_so(self):
        self.assertFalse(self.o365_sync(self.user).fatal)
        [payload] = self._run_done_messages()
        self.assertEqual(payload["message"], "Sync Office 365 events: nothing to change.")

    def test_failed_run_and_no_option(self):
        log_model = self.env["office365.sync.log"]
        stats = RunStats(fatal="Reconnect needed: the refresh token has expired")
        self.assertEqual(
            log_model._o365_run_summary(self.user, stats),
            ("The sync failed: Reconnect needed: the refresh token has expired", "danger"),
        )
        stats = RunStats()
        stats.count("events", "created", 2)
        stats.error("events", "Outlook event not applied: no start")
        self.assertEqual(
            log_model._o365_run_summary(self.user, stats),
            ("Sync Office 365 events: 2 created, 1 failed.", "warning"),
        )
        self.user._o365_stop("events")
        self.assertEqual(
            log_model._o365_run_summary(self.user, RunStats()),
            ("No option is started: nothing was synced.", "warning"),
        )

    def test_a_run_has_a_name(self):
        self.user.tz = "Europe/Brussels"
        log = self.env["office365.sync.log"].create(
            {
                "user_id": self.user.id,
                "option": "events",
                "start": datetime(2026, 3, 10, 9, 30, 5),
            }
        )
        self.assertEqual(
            log.with_user(self.user).display_name,
            "Sync Office 365 events, 03/10/2026 10:30:05 (feedback_kim)",
        )


def _iso(days, hour):
    moment = fields.Datetime.now().replace(hour=hour, minute=0, second=0, microsecond=0)
    return (moment + timedelta(days=days)).isoformat()


@tagged("post_install", "-at_install")
class TestSyncLogRetry(Office365Case):
    def test_user_retries_own_failed_items_only(self):
        user, mailbox = self._o365_user("log_ivy", options=("activities",))
        other = new_test_user(self.env, login="log_jim", groups="base.group_user")
        start = fields.Datetime.now().replace(microsecond=0) + timedelta(days=1)
        meeting = (
            self.env["calendar.event"]
            .with_user(user)
            .create({"name": "Retry me", "start": start, "stop": start + timedelta(hours=1)})
        )
        self.assertFalse(self.o365_sync(user).fatal)
        link = (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", "calendar.event"), ("res_id", "=", meeting.id)])
        )
        self.assertEqual(link.state, "synced")
        # A failed push, as the engine records it: the link in error and a line in the log.
        meeting.with_user(user).write({"name": "Retry me later"})
        link.write({"state": "error", "error": "Outlook refused the change (503)"})
        log = self.env["office365.sync.log"].create(
            {"user_id": user.id, "option": "activities", "failed": 1}
        )
        self.env["office365.sync.log.line"].create(
            {
                "log_id": log.id,
                "message": "Outlook refused the change (503)",
                "res_model": "calendar.event",
                "res_id": meeting.id,
                "event_id": link.event_id,
            }
        )
        # Her failed item (the first run's created item is listed too).
        lines = (
            self.env["office365.sync.log.line"].with_user(user).search([("level", "=", "error")])
        )
        self.assertEqual(len(lines), 1)
        self.assertEqual(lines.record_ref, meeting)
        self.assertFalse(self.env["office365.sync.log.line"].with_user(other).search([]))
        self.assertFalse(self.env["office365.sync.log"].with_user(other).search([]))
        lines.action_retry()
        self.assertEqual(link.state, "pending")
        self.assertTrue(all(lines.mapped("retried")))
        self.assertFalse(self.o365_sync(user).fatal)
        self.assertEqual(link.state, "synced")
        event = mailbox.events[link.event_id]
        self.assertIn("Retry me later", event["subject"])
