"""Emulator: every fault kind, latency, concurrency and request counters."""

import threading
import time

import pytest
import requests
from conftest import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphSession

from emulator.protocol import normalize_path

WINDOW = {"startDateTime": "2026-05-01T00:00:00Z", "endDateTime": "2026-06-01T00:00:00Z"}


def _token_post(emulator, form):
    with GraphSession(emulator) as session:
        return session.post(emulator.authority + "/oauth2/v2.0/token", data=form)


def test_throttle_answers_429_with_retry_after_then_recovers(emulator, graph):
    emulator.faults.add("throttle", count=2, retry_after=5)
    first, second, third = (graph.get("/me") for _ in range(3))
    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "5"
    assert first.json()["error"]["code"] == "TooManyRequests"
    assert third.status_code == 200
    assert emulator.faults.injected["throttle"] == 2


def test_unavailable_and_gateway_timeout(emulator, graph):
    emulator.faults.add("unavailable", retry_after=2)
    emulator.faults.add("unavailable", retry_after=0)
    emulator.faults.add("gateway_timeout")
    with_retry, without_retry, timeout = (graph.get("/me/events") for _ in range(3))
    assert with_retry.status_code == 503 and with_retry.headers["Retry-After"] == "2"
    assert without_retry.status_code == 503 and "Retry-After" not in without_retry.headers
    assert timeout.status_code == 504
    assert graph.get("/me/events").status_code == 200


def test_faults_target_paths_and_mailboxes(emulator, graph):
    emulator.add_mailbox("bob@example.com")
    bob = GraphSession(
        emulator, emulator.issue_tokens("bob@example.com", EMULATOR_CLIENT_ID)["access_token"]
    )
    emulator.faults.add("throttle", mailbox="bob@example.com")
    emulator.faults.add("throttle", path_contains="/outlook/masterCategories")
    assert graph.get("/me/events").status_code == 200
    assert bob.get("/me/events").status_code == 429
    assert graph.get("/me/outlook/masterCategories").status_code == 429
    assert graph.get("/me/outlook/masterCategories").status_code == 200
    # OAuth endpoints are only hit when named.
    emulator.faults.add("unavailable", count=1)
    token = _token_post(
        emulator,
        {
            "grant_type": "client_credentials",
            "client_id": EMULATOR_CLIENT_ID,
            "client_secret": EMULATOR_CLIENT_SECRET,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert token.status_code == 200
    emulator.faults.clear()
    emulator.faults.add("unavailable", path_contains="/oauth2/v2.0/token")
    assert _token_post(emulator, {"grant_type": "client_credentials"}).status_code == 503


def test_slow_delays_the_answer(emulator, graph):
    emulator.faults.add("slow", delay=0.3)
    started = time.monotonic()
    assert graph.get("/me").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    graph.get("/me")
    assert time.monotonic() - started < 0.3


def test_drop_closes_the_connection_without_an_answer(emulator, graph):
    emulator.faults.add("drop", path_contains="/me/events")
    with pytest.raises(requests.ConnectionError):
        graph.get("/me/events")
    assert graph.get("/me/events").status_code == 200
    assert emulator.faults.injected["drop"] == 1


@pytest.mark.parametrize("code", [None, "resyncRequired"])
def test_expire_delta_answers_410(emulator, graph, code):
    first = graph.get("/me/calendarView/delta", params=WINDOW).json()
    emulator.faults.add("expire_delta", code=code)
    # An initial delta (no token) is not affected.
    assert graph.get("/me/calendarView/delta", params=WINDOW).status_code == 200
    gone = graph.get(first["@odata.deltaLink"])
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == (code or "SyncStateNotFound")
    assert graph.get(first["@odata.deltaLink"]).status_code == 200


def test_revoke_refresh_gives_invalid_grant(emulator, graph):
    tokens = emulator.issue_tokens("alice@example.com", EMULATOR_CLIENT_ID)
    emulator.faults.add("revoke_refresh", mailbox="alice@example.com")
    answer = _token_post(
        emulator,
        {
            "grant_type": "refresh_token",
            "client_id": EMULATOR_CLIENT_ID,
            "client_secret": EMULATOR_CLIENT_SECRET,
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert answer.json()["error_codes"] == [50173]
    assert emulator.faults.injected["revoke_refresh"] == 1
    # Tokens issued after the revocation work again.
    fresh = emulator.issue_tokens("alice@example.com", EMULATOR_CLIENT_ID)
    assert (
        _token_post(
            emulator,
            {
                "grant_type": "refresh_token",
                "client_id": EMULATOR_CLIENT_ID,
                "client_secret": EMULATOR_CLIENT_SECRET,
                "refresh_token": fresh["refresh_token"],
            },
        ).status_code
        == 200
    )


def test_expire_access_rejects_current_tokens_of_the_mailbox(emulator, graph):
    emulator.add_mailbox("bob@example.com")
    bob = GraphSession(
        emulator, emulator.issue_tokens("bob@example.com", EMULATOR_CLIENT_ID)["access_token"]
    )
    emulator.faults.add("expire_access", mailbox="alice@example.com")
    rejected = graph.get("/me")
    assert rejected.status_code == 401
    assert rejected.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert bob.get("/me").status_code == 200
    fresh = emulator.issue_tokens("alice@example.com", EMULATOR_CLIENT_ID)["access_token"]
    assert GraphSession(emulator, fresh).get("/me").status_code == 200
    assert emulator.faults.injected["expire_access"] == 1


def test_probability_faults_for_soak_runs(emulator, graph):
    emulator.faults.seed(7)
    emulator.faults.add("throttle", probability=0.3, count=None)
    statuses = [graph.get("/me").status_code for _ in range(60)]
    throttled = statuses.count(429)
    assert 5 <= throttled <= 35
    assert statuses.count(200) == 60 - throttled
    assert emulator.faults.injected["throttle"] == throttled
    with pytest.raises(ValueError):
        emulator.faults.add("throttle", count=None)
    with pytest.raises(ValueError):
        emulator.faults.add("meteor")


def test_latency_applies_and_requests_run_concurrently(emulator, graph):
    emulator.latency = 0.2
    started = time.monotonic()
    assert graph.get("/me").status_code == 200
    assert time.monotonic() - started >= 0.2
    token = graph.headers["Authorization"]
    results = []

    def call():
        with GraphSession(emulator) as session:
            session.headers["Authorization"] = token
            results.append(session.get("/me/events").status_code)

    # Four at once: Outlook's limit per app and mailbox (a fifth would be refused).
    threads = [threading.Thread(target=call) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 4
    assert time.monotonic() - started < 0.2 * 4 * 0.75  # they overlapped


def test_counters_and_request_log(emulator, graph):
    emulator.reset_counters()
    event = graph.post(
        "/me/events",
        json={
            "subject": "x",
            "start": {"dateTime": "2026-05-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-01T10:00:00", "timeZone": "UTC"},
        },
    ).json()
    graph.patch("/me/events/" + event["id"], json={"subject": "y"})
    graph.get("/users/alice@example.com/calendarView/delta", params=WINDOW)
    graph.get("/me/events/AAMkAGmissing")
    assert emulator.counters["total"] == 4
    assert emulator.counters["POST /me/events"] == 1
    assert emulator.counters["PATCH /me/events/{id}"] == 1
    assert emulator.counters["GET /users/{id}/calendarView/delta"] == 1
    assert emulator.requests[-1] == (
        "GET",
        "/v1.0/me/events/AAMkAGmissing",
        404,
        "alice@example.com",
    )
    assert normalize_path("/v1.0/me/calendars/AAMk/events/AAMk=/cancel") == (
        "/me/calendars/{id}/events/{id}/cancel"
    )
    assert normalize_path("/organizations/oauth2/v2.0/token") == "/oauth2/v2.0/token"
    emulator.reset_counters()
    assert emulator.counters["total"] == 0 and emulator.requests == []
