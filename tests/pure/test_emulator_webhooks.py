"""Emulator: subscriptions with the validation handshake, change and lifecycle notifications."""

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest


class Receiver:
    """A local webhook: echoes validation tokens (unless told not to), records notifications."""

    def __init__(self, echo=True):
        self.echo = echo
        self.notifications = []
        self.validations = []
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                query = parse_qs(urlsplit(self.path).query)
                if "validationToken" in query:
                    token = query["validationToken"][0]
                    receiver.validations.append((self.path, self.headers["Content-Type"]))
                    answer = token.encode() if receiver.echo else b"nope"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                receiver.notifications.append(json.loads(body))
                receiver.received.set()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    hook = Receiver()
    yield hook
    hook.close()


def _expiry(minutes=60):
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%S.0000000Z"
    )


def _subscribe(graph, receiver, **extra):
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url,
        "resource": "me/events",
        "expirationDateTime": _expiry(),
        "clientState": "secret-state",
    }
    body.update(extra)
    return graph.post("/subscriptions", json=body)


def test_subscription_lifecycle_with_handshake(emulator, graph, receiver):
    created = _subscribe(graph, receiver, lifecycleNotificationUrl=receiver.url + "/life")
    assert created.status_code == 201, created.text
    sub = created.json()
    assert len(receiver.validations) == 2  # notificationUrl and lifecycleNotificationUrl
    assert receiver.validations[0][1].startswith("text/plain")
    assert sub["resource"] == "me/events" and sub["clientState"] == "secret-state"
    assert sub["applicationId"] and sub["changeType"] == "created,updated,deleted"
    listed = graph.get("/subscriptions").json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]]
    renewed = graph.patch("/subscriptions/" + sub["id"], json={"expirationDateTime": _expiry(3000)})
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"] != sub["expirationDateTime"]
    too_far = graph.patch(
        "/subscriptions/" + sub["id"], json={"expirationDateTime": _expiry(10081)}
    )
    assert too_far.status_code == 400
    assert graph.post("/subscriptions/%s/reauthorize" % sub["id"]).status_code == 204
    assert graph.delete("/subscriptions/" + sub["id"]).status_code == 204
    assert graph.get("/subscriptions/" + sub["id"]).status_code == 404


def test_subscription_validation_failures(emulator, graph):
    silent = Receiver(echo=False)
    try:
        failed = _subscribe(graph, silent)
        assert failed.status_code == 400
        assert "validation" in failed.json()["error"]["message"].lower()
        assert len(silent.validations) == 1
    finally:
        silent.close()
    hook = Receiver()
    try:
        assert _subscribe(graph, hook, resource="me/messages").status_code == 400
        assert _subscribe(graph, hook, changeType="moved").status_code == 400
        assert _subscribe(graph, hook, expirationDateTime=_expiry(10081)).status_code == 400
        assert _subscribe(graph, hook, expirationDateTime=_expiry(-5)).status_code == 400
        assert _subscribe(graph, hook, notificationUrl="http://example.com/x").status_code == 400
        assert _subscribe(graph, hook, resource="users/alice@example.com/events").status_code == (
            201
        )
        unreachable = _subscribe(graph, hook, notificationUrl="http://127.0.0.1:9/none")
        assert unreachable.status_code == 400
    finally:
        hook.close()


def test_post_change_notifications_has_graph_shape(emulator, graph, receiver):
    sub = _subscribe(graph, receiver).json()
    event = graph.post(
        "/me/events",
        json={
            "subject": "n",
            "start": {"dateTime": "2026-05-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-01T10:00:00", "timeZone": "UTC"},
        },
    ).json()
    answer = emulator.post_change_notifications(sub["id"], "updated", event["id"])
    assert answer.status == 202
    [payload] = receiver.notifications
    [item] = payload["value"]
    user_id = emulator.mailbox("alice@example.com").user_id
    assert item["subscriptionId"] == sub["id"]
    assert item["clientState"] == "secret-state"
    assert item["changeType"] == "updated"
    assert item["tenantId"] == emulator.tenant_id
    assert item["subscriptionExpirationDateTime"] == sub["expirationDateTime"]
    assert item["resource"] == "Users/%s/Events/%s" % (user_id, event["id"])
    data = item["resourceData"]
    assert data["@odata.type"] == "#Microsoft.Graph.Event"
    assert data["@odata.id"] == item["resource"] and data["id"] == event["id"]
    assert data["@odata.etag"] == event["@odata.etag"]


def test_lifecycle_notifications(emulator, graph, receiver):
    sub = _subscribe(graph, receiver, lifecycleNotificationUrl=receiver.url).json()
    for kind in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        assert emulator.post_lifecycle(sub["id"], kind).status == 202
    events = [p["value"][0]["lifecycleEvent"] for p in receiver.notifications]
    assert events == ["reauthorizationRequired", "missed", "subscriptionRemoved"]
    assert receiver.notifications[0]["value"][0]["clientState"] == "secret-state"
    assert graph.get("/subscriptions/" + sub["id"]).status_code == 404  # removed
    with pytest.raises(ValueError):
        emulator.post_lifecycle(sub["id"], "exploded")


def test_auto_notify_posts_on_every_change(emulator, graph, receiver):
    emulator.auto_notify = True
    sub = _subscribe(graph, receiver, changeType="created,deleted").json()
    box = emulator.mailbox("alice@example.com")
    event = box.create_event(
        {
            "subject": "Outlook",
            "start": {"dateTime": "2026-05-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-01T10:00:00", "timeZone": "UTC"},
        }
    )
    box.update_event(event["id"], {"subject": "not subscribed to updates"})
    graph.delete("/me/events/" + event["id"])
    assert emulator.wait_notifications(5)
    kinds = [
        (p["value"][0]["changeType"], p["value"][0]["resourceData"]["id"])
        for p in receiver.notifications
    ]
    assert kinds == [("created", event["id"]), ("deleted", event["id"])]
    assert all(p["value"][0]["subscriptionId"] == sub["id"] for p in receiver.notifications)


def test_send_validation_and_notify_helpers(emulator, receiver):
    result = emulator.send_validation(receiver.url)
    assert result.ok and result.status == 200 and result.body.decode() == result.token
    answer = emulator.notify(receiver.url, [{"subscriptionId": "x", "changeType": "created"}])
    assert answer.status == 202
    assert receiver.notifications == [{"value": [{"subscriptionId": "x", "changeType": "created"}]}]
