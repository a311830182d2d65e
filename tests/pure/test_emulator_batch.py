"""Emulator: JSON batching (limit, per-item statuses, dependsOn, item faults, counters)."""

import itertools

import pytest
import requests

JSON = {"Content-Type": "application/json"}


def _create(n, subject="B", **extra):
    body = {
        "subject": "%s%d" % (subject, n),
        "start": {"dateTime": "2026-05-01T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-05-01T10:00:00", "timeZone": "UTC"},
    }
    body.update(extra)
    return {"id": str(n), "method": "POST", "url": "/me/events", "headers": JSON, "body": body}


def _chain(items):
    """Items sequenced with dependsOn: one runs at a time in the mailbox."""
    for previous, item in itertools.pairwise(items):
        item["dependsOn"] = [previous["id"]]
    return items


def test_batch_of_twenty_creates_counts_one_request(emulator, graph):
    emulator.reset_counters()
    response = graph.post("/$batch", json={"requests": _chain([_create(i) for i in range(20)])})
    assert response.status_code == 200
    responses = response.json()["responses"]
    assert sorted(int(r["id"]) for r in responses) == list(range(20))
    assert [r["id"] for r in responses] != [str(i) for i in range(20)]  # any order
    assert {r["status"] for r in responses} == {201}
    assert all(r["body"]["subject"] == "B%s" % r["id"] for r in responses)
    assert all(r["headers"]["Content-Type"].startswith("application/json") for r in responses)
    assert emulator.counters["total"] == 1
    assert emulator.counters["POST /$batch"] == 1
    assert emulator.counters["POST /me/events"] == 20
    assert emulator.counters["batch_items"] == 20
    assert len(emulator.mailbox("alice@example.com").events) == 20


def test_batch_over_twenty_or_malformed_is_rejected(graph):
    too_many = graph.post("/$batch", json={"requests": [_create(i) for i in range(21)]})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "BadRequest"
    duplicate = graph.post("/$batch", json={"requests": [_create(1), _create(1)]})
    assert duplicate.status_code == 400
    assert graph.post("/$batch", json={"nothing": []}).status_code == 400
    assert graph.get("/me/events").json()["value"] == []


def test_items_have_their_own_statuses(emulator, graph):
    # Six parallel items to one mailbox: without a limit here (the limit has its own tests).
    emulator.mailbox_concurrency = None
    created = graph.post("/me/events", json=_create(0)["body"]).json()
    requests_ = [
        {"id": "get", "method": "GET", "url": "/me/events/%s" % created["id"]},
        {
            "id": "patch",
            "method": "PATCH",
            "url": "/me/events/%s" % created["id"],
            "headers": JSON,
            "body": {"subject": "patched"},
        },
        {"id": "missing", "method": "DELETE", "url": "/me/events/AAMkAGnope"},
        {
            "id": "invalid",
            "method": "POST",
            "url": "/me/events",
            "headers": JSON,
            "body": {"subject": "no times"},
        },
        {"id": "nobodytype", "method": "POST", "url": "/me/events", "body": {"subject": "x"}},
        {"id": "user", "method": "GET", "url": "me"},
    ]
    responses = {
        r["id"]: r for r in graph.post("/$batch", json={"requests": requests_}).json()["responses"]
    }
    assert responses["get"]["status"] == 200 and responses["get"]["body"]["id"] == created["id"]
    assert responses["patch"]["status"] == 200
    assert responses["patch"]["body"]["subject"] == "patched"
    assert responses["missing"]["status"] == 404
    assert responses["missing"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert responses["invalid"]["status"] == 400
    assert responses["nobodytype"]["status"] == 400
    assert responses["user"]["status"] == 200
    assert responses["user"]["body"]["mail"] == "alice@example.com"


def test_depends_on_orders_and_fails_dependents(graph):
    first = _create(1)
    second = {"id": "2", "dependsOn": ["1"], "method": "GET", "url": "/me/events"}
    bad = {"id": "3", "method": "DELETE", "url": "/me/events/AAMkAGnope"}
    dependent = {"id": "4", "dependsOn": ["3"], "method": "GET", "url": "/me"}
    responses = {
        r["id"]: r
        for r in graph.post("/$batch", json={"requests": [second, first, dependent, bad]}).json()[
            "responses"
        ]
    }
    assert responses["1"]["status"] == 201
    assert [e["subject"] for e in responses["2"]["body"]["value"]] == ["B1"]
    assert responses["3"]["status"] == 404
    assert responses["4"]["status"] == 424
    unknown = graph.post(
        "/$batch",
        json={"requests": [{"id": "1", "dependsOn": ["9"], "method": "GET", "url": "/me"}]},
    )
    assert unknown.status_code == 400


def test_throttle_hits_single_items_with_retry_after(emulator, graph):
    emulator.faults.add("throttle", count=2, path_contains="/me/events", retry_after=7)
    emulator.shuffle_batch = False
    response = graph.post("/$batch", json={"requests": [_create(i) for i in range(5)]})
    assert response.status_code == 200
    statuses = [(r["id"], r["status"]) for r in response.json()["responses"]]
    assert statuses == [("0", 429), ("1", 429), ("2", 201), ("3", 201), ("4", 201)]
    throttled = response.json()["responses"][0]
    assert throttled["headers"]["Retry-After"] == "7"
    assert throttled["body"]["error"]["code"] == "TooManyRequests"
    assert emulator.faults.injected["throttle"] == 2
    assert len(emulator.mailbox("alice@example.com").events) == 3


def test_unavailable_and_gateway_timeout_items(emulator, graph):
    emulator.faults.add("unavailable", path_contains="B-unused")  # never matches
    emulator.faults.add("unavailable", count=1, path_contains="/me/events", retry_after=2)
    emulator.faults.add("gateway_timeout", count=1, path_contains="/me/events")
    emulator.shuffle_batch = False
    responses = graph.post("/$batch", json={"requests": [_create(i) for i in range(3)]}).json()
    assert [r["status"] for r in responses["responses"]] == [503, 504, 201]
    assert responses["responses"][0]["headers"]["Retry-After"] == "2"


def test_whole_batch_can_be_throttled(emulator, graph):
    emulator.faults.add("throttle", count=1, path_contains="/$batch", retry_after=3)
    response = graph.post("/$batch", json={"requests": [_create(1)]})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["error"]["code"] == "TooManyRequests"
    assert graph.post("/$batch", json={"requests": [_create(1)]}).status_code == 200


def test_delta_inside_a_batch(emulator, graph):
    emulator.mailbox("alice@example.com").create_event(_create(1)["body"])
    url = (
        "/me/calendarView/delta?startDateTime=2026-05-01T00:00:00Z&endDateTime=2026-06-01T00:00:00Z"
    )
    responses = graph.post(
        "/$batch",
        json={
            "requests": [
                {
                    "id": "d",
                    "method": "GET",
                    "url": url,
                    "headers": {"Prefer": "odata.maxpagesize=5"},
                }
            ]
        },
    ).json()["responses"]
    assert responses[0]["status"] == 200
    assert [v["subject"] for v in responses[0]["body"]["value"]] == ["B1"]
    assert "@odata.deltaLink" in responses[0]["body"]


def test_drop_only_hits_whole_requests(emulator, graph):
    emulator.faults.add("drop", path_contains="/me/events")
    response = graph.post("/$batch", json={"requests": [_create(1)]})
    assert response.status_code == 200
    assert response.json()["responses"][0]["status"] == 201
    assert emulator.faults.injected["drop"] == 0
    with pytest.raises(requests.ConnectionError):
        graph.get("/me/events")
    assert emulator.faults.injected["drop"] == 1
