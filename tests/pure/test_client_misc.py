"""Categories, subscriptions and identity helpers of the Graph client."""

import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from services.errors import GraphError
from services.graph_client import (
    EXTENDED_PROPERTY_ID,
    WriteOp,
    expand_extended_property,
    extended_property_value,
    transaction_id_for,
)


@pytest.fixture
def box(emulator, token_provider):
    return emulator.mailbox("alice@example.com")


def test_list_and_ensure_category(emulator, client, box):
    box.add_category("Holiday", "preset3")
    names = {c["displayName"]: c["color"] for c in client.list_categories()}
    assert names["Holiday"] == "preset3"

    created = client.ensure_category("Odoo", color="preset9")
    assert created["displayName"] == "Odoo" and created["color"] == "preset9"
    assert emulator.counters["POST /me/outlook/masterCategories"] == 1
    again = client.ensure_category("odoo ")
    assert again["id"] == created["id"]
    assert emulator.counters["POST /me/outlook/masterCategories"] == 1


def test_ensure_category_race(emulator, client, box, monkeypatch):
    original = client.list_categories
    calls = []

    def stale_then_real():
        calls.append(1)
        if len(calls) == 1:
            box.add_category("Odoo", "preset1")  # another worker created it meanwhile
            return []
        return original()

    monkeypatch.setattr(client, "list_categories", stale_then_real)
    category = client.ensure_category("Odoo")
    assert category["displayName"] == "Odoo" and category["color"] == "preset1"
    assert len(calls) == 2


def test_ensure_category_other_errors_raise(client, box):
    with pytest.raises(GraphError) as info:
        client.ensure_category("Odoo", color="purple")
    assert info.value.status == 400


class _Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint answering the validation handshake."""

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        token = parse_qs(urlsplit(self.path).query).get("validationToken", [""])[0]
        body = token.encode()
        self.send_response(200 if token else 202)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        return None


@pytest.fixture
def webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_subscription_lifecycle(emulator, client, box, webhook):
    expiration = datetime.now(timezone.utc) + timedelta(hours=48)
    sub = client.create_subscription(
        f"{webhook}/notify", f"{webhook}/lifecycle", "s3cret-state", expiration
    )
    assert sub["resource"] == "me/events"
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["clientState"] == "s3cret-state"
    assert sub["lifecycleNotificationUrl"] == f"{webhook}/lifecycle"
    assert sub["expirationDateTime"].startswith(expiration.strftime("%Y-%m-%dT%H:%M"))

    later = expiration + timedelta(hours=20)
    renewed = client.renew_subscription(sub["id"], later)
    assert renewed["expirationDateTime"].startswith(later.strftime("%Y-%m-%dT%H:%M"))

    assert client.delete_subscription(sub["id"]) is True
    assert client.delete_subscription(sub["id"]) is False  # already gone counts as deleted
    assert emulator.subscriptions == {}


def test_subscription_errors_are_graph_errors(client, box, webhook):
    with pytest.raises(GraphError) as info:
        client.create_subscription(
            f"{webhook}/notify", None, "x", datetime.now(timezone.utc) - timedelta(hours=1)
        )
    assert info.value.status == 400


def test_transaction_id_is_deterministic_and_short():
    tid = transaction_id_for("db-1", "calendar.event", 42)
    assert tid == transaction_id_for("db-1", "calendar.event", 42)
    assert len(tid) <= 40
    uuid.UUID(tid)
    others = {
        transaction_id_for("db-2", "calendar.event", 42),
        transaction_id_for("db-1", "mail.activity", 42),
        transaction_id_for("db-1", "calendar.event", 43),
        transaction_id_for("db-1", "calendar.event", 42, generation=1),
    }
    assert tid not in others and len(others) == 4


def test_extended_property_helpers():
    assert EXTENDED_PROPERTY_ID.startswith("String {")
    guid = EXTENDED_PROPERTY_ID.split("{")[1].split("}")[0]
    uuid.UUID(guid)
    assert EXTENDED_PROPERTY_ID.endswith(" Name office365_calendar_sync_ref")
    event = {
        "singleValueExtendedProperties": [{"id": EXTENDED_PROPERTY_ID, "value": "calendar.event,7"}]
    }
    assert extended_property_value(event) == "calendar.event,7"
    assert extended_property_value({}) is None
    assert expand_extended_property() == (
        f"singleValueExtendedProperties($filter=id eq '{EXTENDED_PROPERTY_ID}')"
    )


def test_event_with_extended_property_roundtrip(client, box):
    (result,) = client.batch_write(
        [
            WriteOp(
                "calendar.event,9",
                "create",
                payload={
                    "subject": "Ref",
                    "start": {"dateTime": "2026-06-01T09:00:00", "timeZone": "UTC"},
                    "end": {"dateTime": "2026-06-01T10:00:00", "timeZone": "UTC"},
                    "singleValueExtendedProperties": [
                        {"id": EXTENDED_PROPERTY_ID, "value": "calendar.event,9"}
                    ],
                },
            )
        ]
    )
    event = client.get_event(result.event["id"], expand_property_id=EXTENDED_PROPERTY_ID)
    assert extended_property_value(event) == "calendar.event,9"
    assert extended_property_value(client.get_event(result.event["id"])) is None
