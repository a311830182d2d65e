"""GraphClient transport rules against the emulator's fault injection."""

import http.cookiejar
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from services.errors import (
    GraphError,
    NotFound,
    ReconnectNeeded,
    ThrottledError,
    TransportError,
)
from services.graph_client import GraphClient, parse_retry_after, shared_session


def test_429_waits_retry_after(emulator, client, sleeps):
    emulator.faults.add("throttle", count=2, retry_after=7)
    assert client.get_me()["mail"] == "alice@example.com"
    assert sleeps == [7.0, 7.0]
    assert emulator.counters["GET /me"] == 3
    assert client.request_count == 3


def test_503_and_504_retried_with_backoff_when_no_retry_after(emulator, client, sleeps):
    emulator.faults.add("unavailable", count=1, retry_after=3)
    emulator.faults.add("unavailable", count=1, retry_after=0)  # no Retry-After header
    emulator.faults.add("gateway_timeout", count=1)
    assert client.list_calendars()
    # Retry-After first, then exponential backoff with jitter (rng=0.5 -> 3/4 of the ceiling).
    assert sleeps == [3.0, 1.5, 3.0]
    assert emulator.counters["GET /me/calendars"] == 4


def test_backoff_is_exponential_capped_and_jittered(emulator, token_provider):
    values = iter([0.0, 1.0, 0.0, 1.0])
    graph = GraphClient(emulator.base_url, token_provider, rng=lambda: next(values))
    assert [graph.backoff(0), graph.backoff(1), graph.backoff(3)] == [0.5, 2.0, 4.0]
    assert graph.backoff(20) == 60.0


def test_retries_are_bounded(emulator, make_client, sleeps):
    graph = make_client(max_retries=3)
    emulator.faults.add("throttle", count=10, retry_after=2)
    with pytest.raises(ThrottledError) as info:
        graph.get_me()
    assert info.value.status == 429
    assert info.value.retry_after == 2.0
    assert info.value.code == "TooManyRequests"
    assert sleeps == [2.0, 2.0, 2.0]
    assert emulator.counters["GET /me"] == 4


def test_too_long_retry_after_is_not_waited(emulator, make_client, sleeps):
    graph = make_client(max_retry_after=60)
    emulator.faults.add("throttle", count=1, retry_after=3600)
    with pytest.raises(ThrottledError) as info:
        graph.get_me()
    assert info.value.retry_after == 3600.0
    assert sleeps == []


def test_real_wait_on_retry_after(emulator, make_client):
    graph = make_client(sleep=time.sleep)
    emulator.faults.add("throttle", count=1, retry_after=1)
    started = time.monotonic()
    graph.get_me()
    assert time.monotonic() - started >= 1.0


def test_401_refreshes_once_and_retries(emulator, client, token_provider):
    client.get_me()
    token_provider.cache_state()
    emulator.reset_counters()
    emulator.faults.add("expire_access")
    assert client.get_me()["mail"] == "alice@example.com"
    assert emulator.counters["GET /me"] == 2
    assert emulator.counters["POST /oauth2/v2.0/token"] == 1
    # The rotated refresh token is in the cache the caller must persist.
    assert token_provider.cache_state() is not None


class _BadTokens:
    def __init__(self):
        self.calls = []

    def get_token(self, force_refresh=False):
        self.calls.append(force_refresh)
        return "not-a-token"


def test_401_twice_is_an_error_not_a_loop(emulator, token_provider, sleeps):
    emulator.add_mailbox("alice@example.com")
    tokens = _BadTokens()
    graph = GraphClient(emulator.base_url, tokens, verify=emulator.ca_path, sleep=sleeps)
    with pytest.raises(GraphError) as info:
        graph.get_me()
    assert info.value.status == 401
    assert info.value.code == "InvalidAuthenticationToken"
    assert tokens.calls == [False, True]
    assert emulator.counters["GET /me"] == 2


def test_dropped_connection_retried_for_reads(emulator, client, sleeps):
    emulator.faults.add("drop", count=2)
    assert client.get_me()["mail"] == "alice@example.com"
    assert sleeps == [0.75, 1.5]
    assert emulator.counters["GET /me"] == 3


def test_dropped_connection_not_retried_for_unsafe_post(emulator, client, sleeps):
    emulator.faults.add("drop", count=1, path_contains="/subscriptions")
    expiration = datetime.now(timezone.utc) + timedelta(hours=1)
    with pytest.raises(TransportError):
        client.create_subscription("http://127.0.0.1:9/hook", None, "state", expiration)
    assert emulator.counters["POST /subscriptions"] == 1
    assert sleeps == []


def test_504_not_retried_for_unsafe_post(emulator, client):
    emulator.faults.add("gateway_timeout", count=1, path_contains="/subscriptions")
    expiration = datetime.now(timezone.utc) + timedelta(hours=1)
    with pytest.raises(GraphError) as info:
        client.create_subscription("http://127.0.0.1:9/hook", None, "state", expiration)
    assert info.value.status == 504
    assert emulator.counters["POST /subscriptions"] == 1


def test_read_timeout_retried_then_transport_error(emulator, make_client, sleeps):
    graph = make_client(timeout=(2, 0.3), max_retries=1)
    emulator.faults.add("slow", count=1, delay=0.8, path_contains="/me/calendars")
    assert graph.list_calendars()  # first attempt timed out, the retry answered
    assert len(sleeps) == 1
    emulator.faults.add("slow", count=2, delay=0.8, path_contains="/me/calendars")
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        graph.list_calendars()
    assert "ReadTimeout" in str(info.value)
    assert time.monotonic() - started < 1.5


def test_every_request_has_a_timeout(emulator, make_client):
    graph = make_client(timeout=(3, 7))
    seen = []
    original = graph.session.request

    def spy(method, url, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(method, url, **kwargs)

    graph.session.request = spy
    emulator.faults.add("throttle", count=1)
    graph.get_me()
    graph.list_calendars()
    assert seen == [(3, 7)] * 3


def test_hooks_see_every_request(emulator, make_client):
    gate, seen = [], []
    graph = make_client(before_request=gate.append, on_request=lambda *args: seen.append(args))
    emulator.faults.add("throttle", count=1)
    graph.get_me()
    assert gate == [None, None]
    assert seen == [("GET", "/v1.0/me", 429), ("GET", "/v1.0/me", 200)]


def test_errors_carry_graph_code(client):
    with pytest.raises(NotFound) as info:
        client.get_event("AAMkAGdoesnotexist")
    assert info.value.status == 404
    assert info.value.code
    assert info.value.request_id


def test_links_to_other_hosts_refused(emulator, client):
    with pytest.raises(GraphError) as info:
        client.get("https://graph.example.net/v1.0/me")
    assert info.value.code == "invalidLink"
    assert client.request_count == 0


def test_parse_retry_after():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0


def test_before_and_after_hooks_always_pair(emulator, make_client, token_provider):
    held = []
    graph = make_client(
        before_request=lambda mailbox: held.append(1),
        on_request=lambda *args: held.pop(),
    )
    emulator.faults.add("drop", count=1)
    graph.get_me()
    assert held == []
    # A refused refresh never takes a slot.
    emulator.faults.add("revoke_refresh")
    emulator.faults.add("expire_access")
    with pytest.raises(ReconnectNeeded):
        graph.get_me()
    assert held == []
    # Neither does an unexpected failure inside the HTTP call keep one.
    graph.token_provider = _BadTokens()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    graph.session.request = broken
    with pytest.raises(RuntimeError):
        graph.get_me()
    assert held == []


def test_shared_session_serves_every_mailbox_and_keeps_their_requests_apart(
    emulator, make_client, connect
):
    session = shared_session(emulator.ca_path)
    assert shared_session(emulator.ca_path) is session
    assert shared_session(True) is not session
    alice = make_client(session=session)
    bob = make_client(provider=connect("bob@example.com"), session=session)
    assert alice.get_me()["mail"] == "alice@example.com"
    assert bob.get_me()["mail"] == "bob@example.com"
    assert alice.get_me()["mail"] == "alice@example.com"
    # No cookie of one mailbox's answers is ever sent with another's requests.
    cookie = http.cookiejar.Cookie(
        0, "affinity", "1", None, False, "127.0.0.1", False, False, "/", True,
        False, None, False, None, None, {},
    )  # fmt: skip
    request = urllib.request.Request(emulator.base_url)
    assert not session.cookies._policy.set_ok(cookie, request)
    # A client does not close the session it was given: its open connections serve the
    # next run (closing the session would drop its connection pools).
    adapter = session.get_adapter(emulator.base_url)
    assert adapter.poolmanager.pools
    alice.close()
    assert adapter.poolmanager.pools
    assert bob.get_me()["mail"] == "bob@example.com"
