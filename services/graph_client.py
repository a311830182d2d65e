"""A small Microsoft Graph client for calendar sync.

One :class:`GraphClient` talks for one mailbox (``/me`` for delegated access, ``/users/{mailbox}``
for app-only access) over one keep-alive ``requests.Session``. It never touches Odoo records.

Transport rules, applied by :meth:`GraphClient.request` to every call:

- a ``(connect, read)`` timeout on every request;
- 429 and 503 are retried after ``Retry-After`` (seconds or an HTTP date), or after an exponential
  backoff with jitter when the header is absent; 504, dropped connections and read timeouts are
  retried the same way only for idempotent calls (GET, PATCH, DELETE, PUT, a POST carrying a
  ``transactionId`` and our ``$batch`` calls); all bounded by ``max_retries``, then
  :class:`ThrottledError` / :class:`TransportError`;
- a 401 forces one token refresh and one retry;
- any other 4xx/5xx raises :class:`GraphError` (or :class:`NotFound`) with Graph's error code.

Writes go through :meth:`GraphClient.batch_write`: ``POST /$batch`` chains of at most 20 requests
sequenced with ``dependsOn``, up to 4 chains in flight per mailbox (Outlook's concurrency limit,
see ``services/batching.py``), per-item statuses, per-item throttling retried alone after its own
``Retry-After`` and reported to ``on_throttle``.
"""

import contextlib
import email.utils
import http.cookiejar
import logging
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from .batching import (
    BATCH_LIMIT,  # noqa: F401 (Graph's batch size, known here to the callers)
    MAILBOX_CONCURRENCY,
    chained,
    plan_wave,
    run_parallel,
)
from .errors import (
    AuthError,
    GraphError,
    NotFound,
    ResyncRequired,
    ThrottledError,
    TransportError,
)
from .timezones import query_datetime

_logger = logging.getLogger(__name__)

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
# Single-value extended property holding the Odoo record identity ("calendar.event,42").
EXTENDED_PROPERTY_GUID = "6f2a4d1e-93b8-4c57-a0d2-1e7f5c3b9a64"
EXTENDED_PROPERTY_ID = f"String {{{EXTENDED_PROPERTY_GUID}}} Name office365_calendar_sync_ref"
# Namespace of the deterministic transaction ids of creates.
TRANSACTION_NAMESPACE = uuid.UUID("0b6b9d3e-1f44-5a8e-9c27-4d6f8e2a7b15")
RETRY_STATUSES = frozenset({429, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
RESYNC_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
WRITE_ACTIONS = frozenset(
    {"create", "update", "delete", "cancel", "accept", "decline", "tentativelyAccept"}
)
# Answers to a meeting request, sent from the attendee's own copy (event-accept.md...).
ANSWER_ACTIONS = frozenset({"accept", "decline", "tentativelyAccept"})


def transaction_id_for(db_uuid, model, res_id, generation=0):
    """Deterministic ``transactionId`` (36 chars) for creating the event of one Odoo record.

    A retry after a crash sends the same id, so Graph cannot create a second event; bump
    ``generation`` when the record must really get a new event (e.g. it was deleted in Outlook).
    """
    return str(uuid.uuid5(TRANSACTION_NAMESPACE, f"{db_uuid}|{model}|{res_id}|{generation}"))


def extended_property_value(event, property_id=EXTENDED_PROPERTY_ID):
    """Return the value of a single-value extended property of a Graph event, or None."""
    for prop in event.get("singleValueExtendedProperties") or ():
        if isinstance(prop, dict) and str(prop.get("id") or "").lower() == property_id.lower():
            return prop.get("value")
    return None


def expand_extended_property(property_id=EXTENDED_PROPERTY_ID):
    """The ``$expand`` value that returns one single-value extended property with an event."""
    return f"singleValueExtendedProperties($filter=id eq '{property_id}')"


@dataclass
class WriteOp:
    """One write of :meth:`GraphClient.batch_write`.

    ``key`` is the caller's id of the item (returned on the result). ``action`` is one of
    create, update, delete, cancel, accept, decline, tentativelyAccept. ``payload`` is the event
    body for create/update, ``{"comment": ...}`` for cancel, and for an answer its parameters
    (``sendResponse`` defaults to true).
    """

    key: str
    action: str
    event_id: str | None = None
    payload: dict | None = None
    transaction_id: str | None = None
    calendar_id: str | None = None
    if_match: str | None = None


@dataclass
class WriteResult:
    """Outcome of one :class:`WriteOp`, in the order of the ops given."""

    key: str
    ok: bool
    status: int
    event: dict | None = None
    error_code: str | None = None
    error_message: str | None = None
    not_found: bool = False
    retry_after: float | None = None


@dataclass
class DeltaPage:
    """One page of a calendarView delta round.

    ``next_link`` is set while the round goes on, ``delta_link`` on the last page.
    """

    events: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    next_link: str | None = None
    delta_link: str | None = None

    @property
    def link(self):
        return self.next_link or self.delta_link


def _graph_error(status, body, headers=None, default_message=""):
    """Build the right :class:`GraphError` from a Graph error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    inner = error.get("innerError") or error.get("innererror") or {}
    request_id = (headers or {}).get("request-id") or inner.get("request-id")
    code = error.get("code") or f"http{status}"
    message = error.get("message") or default_message
    cls = NotFound if status in (404, 410) else GraphError
    return cls(status, code, message, request_id=request_id)


def parse_retry_after(value, now=None):
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if value is None or value == "":
        return None
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


_SESSIONS = {}
_SESSIONS_LOCK = threading.Lock()
# Connections kept per host: every cron worker of the process with its 4 write chains.
SESSION_POOL_SIZE = 32


def shared_session(verify=True):
    """One keep-alive ``requests.Session`` per process and TLS setting, for every mailbox's
    client: a run reuses the connections earlier runs opened to Graph instead of paying a TLS
    handshake (two round trips to Microsoft) each. Nothing of one mailbox reaches another: the
    token goes with each request, and the session keeps no cookies."""
    key = (os.getpid(), str(verify))
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = requests.Session()
            session.verify = verify
            session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=SESSION_POOL_SIZE)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _SESSIONS[key] = session
        return session


class GraphClient:
    """Microsoft Graph calls for one mailbox.

    :param base_url: Graph root, e.g. ``https://graph.microsoft.com/v1.0``.
    :param token_provider: object with ``get_token(force_refresh=False) -> str``.
    :param mailbox: None for ``/me`` (delegated), else the user id/UPN for ``/users/{mailbox}``.
    :param before_request: ``callable(mailbox)`` called before every HTTP request, so a caller
        can pace one mailbox across workers (default: nothing).
    :param on_request: ``callable(method, path, status)`` after every HTTP response (status 0
        for a transport failure).
    :param on_throttle: ``callable(retry_after)`` when Graph answers 429, for a whole request
        or for items of a ``$batch`` (``retry_after`` in seconds, None without the header).
    :param parallel_batches: write chains in flight at once (at most Outlook's 4 per mailbox).
    :param hold_slots: ``callable() -> context manager`` around each ``batch_write``, so that
        pacing keeps a slot from one wave of chains to the next (default: nothing).

    ``batch_write`` sends its chains from worker threads: ``before_request``, ``on_request`` and
    ``on_throttle`` may then be called from several threads at once and must be thread-safe.
    """

    def __init__(
        self,
        base_url,
        token_provider,
        mailbox=None,
        session=None,
        verify=True,
        timeout=(5, 60),
        max_retries=5,
        page_size=100,
        sleep=time.sleep,
        rng=random.random,
        on_request=None,
        before_request=None,
        backoff_base=1.0,
        backoff_cap=60.0,
        max_retry_after=300.0,
        on_throttle=None,
        parallel_batches=MAILBOX_CONCURRENCY,
        hold_slots=contextlib.nullcontext,
    ):
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._version_path = parts.path  # e.g. "/v1.0"
        self.token_provider = token_provider
        self.mailbox = mailbox
        self.root = f"/users/{quote(mailbox, safe='@.')}" if mailbox else "/me"
        self.session = session or requests.Session()
        # A session given by the caller may serve other clients (shared_session): theirs to close.
        self._shared_session = session is not None
        if session is None:
            self.session.verify = verify
        self.timeout = timeout
        self.max_retries = max_retries
        self.page_size = page_size
        self.sleep = sleep
        self.rng = rng
        self.on_request = on_request
        self.before_request = before_request
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.on_throttle = on_throttle
        self.parallel_batches = max(1, min(parallel_batches, MAILBOX_CONCURRENCY))
        self.hold_slots = hold_slots
        self.request_count = 0
        # Write chains run in threads: one token refresh at a time (a refresh token is used
        # once), and exact counters.
        self._token_lock = threading.Lock()
        self._count_lock = threading.Lock()

    def close(self):
        if not self._shared_session:
            self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- transport ------------------------------------------------------------------------------

    def _url(self, path):
        if path.startswith(("https://", "http://")):
            if not path.startswith(self._origin + "/"):
                # Never send the bearer token to a host other than Graph's.
                raise GraphError(0, "invalidLink", f"Refusing a link outside {self._origin}")
            return path
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def backoff(self, attempt):
        """Exponential backoff with jitter for retry number ``attempt`` (0-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return ceiling * (0.5 + 0.5 * self.rng())

    def _wait(self, retry_after, attempt):
        return retry_after if retry_after is not None else self.backoff(attempt)

    def _notify(self, method, path, status):
        with self._count_lock:
            self.request_count += 1
        if self.on_request is not None:
            self.on_request(method, path, status)

    def _throttled(self, retry_after):
        if self.on_throttle is not None:
            self.on_throttle(retry_after)

    def request(
        self, method, path, json=None, headers=None, params=None, idempotent=None, raw=False
    ):
        """Send one Graph call with the retry rules of this module.

        Returns the decoded JSON body (None when the body is empty), or the ``Response`` when
        ``raw`` is true.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS or bool(
                method == "POST" and isinstance(json, dict) and json.get("transactionId")
            )
        url = self._url(path)
        log_path = urlsplit(url).path
        attempt = 0
        refreshed = False
        force_refresh = False
        while True:
            # The token first: a failed refresh must not hold a pacing slot.
            with self._token_lock:
                token = self.token_provider.get_token(force_refresh=force_refresh)
            force_refresh = False
            send_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if headers:
                send_headers.update(headers)
            if self.before_request is not None:
                self.before_request(self.mailbox)
            try:
                response = self.session.request(
                    method,
                    url,
                    json=json,
                    headers=send_headers,
                    params=params,
                    timeout=self.timeout,
                    # Per request: REQUESTS_CA_BUNDLE would override the session's value.
                    verify=self.session.verify,
                )
            except BaseException as exc:
                # on_request pairs with every before_request, whatever happened.
                self._notify(method, log_path, 0)
                if not isinstance(exc, requests.RequestException):
                    raise
                # A connect timeout never reached the server: always safe to repeat.
                safe = idempotent or isinstance(exc, requests.ConnectTimeout)
                if not safe or attempt >= self.max_retries:
                    raise TransportError(
                        f"{method} {log_path} failed after {attempt + 1} attempt(s): "
                        f"{type(exc).__name__}"
                    ) from exc
                wait = self.backoff(attempt)
                _logger.info(
                    "Graph %s %s: %s, retry %d in %.1fs",
                    method,
                    log_path,
                    type(exc).__name__,
                    attempt + 1,
                    wait,
                )
                self.sleep(wait)
                attempt += 1
                continue
            status = response.status_code
            self._notify(method, log_path, status)
            if status == 401 and not refreshed:
                refreshed = True
                force_refresh = True
                _logger.info("Graph %s %s: 401, refreshing the token once", method, log_path)
                continue
            if status in RETRY_STATUSES and (status != 504 or idempotent):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status == 429:
                    self._throttled(retry_after)
                if attempt >= self.max_retries or (
                    retry_after is not None and retry_after > self.max_retry_after
                ):
                    error = _graph_error(status, _json_or_none(response), response.headers)
                    raise ThrottledError(
                        status,
                        error.code,
                        error.message or "throttled",
                        request_id=error.request_id,
                        retry_after=retry_after,
                    )
                wait = self._wait(retry_after, attempt)
                _logger.info(
                    "Graph %s %s: %d, retry %d in %.1fs",
                    method,
                    log_path,
                    status,
                    attempt + 1,
                    wait,
                )
                self.sleep(wait)
                attempt += 1
                continue
            if status >= 400:
                raise _graph_error(
                    status, _json_or_none(response), response.headers, response.reason or ""
                )
            if raw:
                return response
            return _json_or_none(response)

    def get(self, path, params=None, headers=None):
        return self.request("GET", path, params=params, headers=headers)

    def _get_all(self, path, params=None, headers=None):
        """GET a collection and follow ``@odata.nextLink``."""
        items = []
        body = self.get(path, params=params, headers=headers) or {}
        while True:
            items.extend(body.get("value") or [])
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return items
            body = self.get(next_link, headers=headers) or {}

    # -- reads ----------------------------------------------------------------------------------

    def get_me(self):
        """The signed-in user (or the mailbox user for app-only access)."""
        return self.get(self.root)

    def list_calendars(self):
        return self._get_all(f"{self.root}/calendars")

    def get_event(self, event_id, expand_property_id=None):
        """One event; ``expand_property_id`` also returns that single-value extended property."""
        params = None
        if expand_property_id:
            params = {"$expand": expand_extended_property(expand_property_id)}
        return self.get(
            f"{self.root}/events/{quote(event_id, safe='')}",
            params=params,
            headers={"Prefer": 'outlook.timezone="UTC"'},
        )

    def _calendar_root(self, calendar_id):
        if calendar_id:
            return f"{self.root}/calendars/{quote(calendar_id, safe='')}"
        return self.root

    def _delta_headers(self, page_size):
        size = page_size or self.page_size
        return {"Prefer": f'odata.maxpagesize={int(size)}, outlook.timezone="UTC"'}

    def iter_delta_pages(
        self,
        start=None,
        end=None,
        delta_link=None,
        calendar_id=None,
        page_size=None,
        expand_property_id=None,
    ):
        """Yield :class:`DeltaPage` objects of one calendarView delta round.

        Without ``delta_link`` the round starts over the ``[start, end)`` window (datetimes,
        naive = UTC); with it (a saved ``@odata.deltaLink``, or a ``@odata.nextLink`` to resume
        an interrupted round) that link is followed. Raises :class:`ResyncRequired` when Graph
        no longer knows the sync state. With ``expand_property_id``, events of each page are
        completed with that extended property (delta cannot ``$expand``; batched GETs do it).
        """
        headers = self._delta_headers(page_size)
        if delta_link:
            path, params = delta_link, None
        else:
            if start is None or end is None:
                raise ValueError("a delta round needs start and end without a delta link")
            path = f"{self._calendar_root(calendar_id)}/calendarView/delta"
            params = {"startDateTime": query_datetime(start), "endDateTime": query_datetime(end)}
        while True:
            body = self._delta_get(path, params, headers)
            page = DeltaPage(
                next_link=body.get("@odata.nextLink"),
                delta_link=body.get("@odata.deltaLink"),
            )
            for item in body.get("value") or []:
                if "@removed" in item:
                    page.removed.append(item.get("id"))
                else:
                    page.events.append(item)
            if expand_property_id and page.events:
                self._add_extended_property(page.events, expand_property_id)
            yield page
            if not page.next_link:
                if not page.delta_link:
                    raise GraphError(
                        200, "invalidDeltaResponse", "delta page without nextLink nor deltaLink"
                    )
                return
            path, params = page.next_link, None

    def _delta_get(self, path, params, headers):
        try:
            return self.get(path, params=params, headers=headers) or {}
        except GraphError as exc:
            if exc.status == 410 or exc.code.lower() in RESYNC_CODES:
                raise ResyncRequired(
                    exc.status, exc.code, exc.message or "delta state expired", exc.request_id
                ) from exc
            raise

    def add_extended_property(self, events, property_id=EXTENDED_PROPERTY_ID):
        """Fill ``singleValueExtendedProperties`` of the given events (batched GETs)."""
        if events:
            self._add_extended_property(events, property_id)

    def _add_extended_property(self, events, property_id):
        """Fill ``singleValueExtendedProperties`` of events with batched GETs."""
        expand = quote(expand_extended_property(property_id), safe="()='$")
        requests_ = [
            {
                "method": "GET",
                "url": f"{self.root}/events/{quote(ev['id'], safe='')}?$select=id&$expand={expand}",
            }
            for ev in events
            if ev.get("id")
        ]
        answers = self._run_batch_requests(requests_)
        by_id = {ev.get("id"): ev for ev in events}
        for answer in answers:
            body = answer.get("body") or {}
            if answer.get("status") == 200 and body.get("id") in by_id:
                by_id[body["id"]]["singleValueExtendedProperties"] = body.get(
                    "singleValueExtendedProperties", []
                )

    def batch_get(self, paths):
        """GET each path (relative to the mailbox root, e.g. ``/events/{id}``) through
        ``$batch``, answers in UTC; returns Graph's per-item answers (``status``, ``body``) in
        order. Throttled items are retried alone after their ``Retry-After``."""
        headers = {"Prefer": 'outlook.timezone="UTC"'}
        return self._run_batch_requests(
            [{"method": "GET", "url": self.root + path, "headers": headers} for path in paths]
        )

    def find_by_ical_uid(self, ical_uids):
        """{iCalUId: [events of this mailbox with it]} for single events and series (batched
        GETs). A meeting's copy in an attendee's mailbox has its own id but the organizer's
        iCalUId (resources/event.md), which is how an attendee's copy is found."""
        uids = [uid for uid in dict.fromkeys(ical_uids) if uid]
        found = {uid: [] for uid in uids}
        requests_ = [
            {
                "method": "GET",
                "url": f"{self.root}/events?$filter="
                + quote(f"iCalUId eq '{uid.replace(chr(39), chr(39) * 2)}'", safe="")
                + "&$select=id,iCalUId,isOrganizer,isCancelled,responseStatus",
            }
            for uid in uids
        ]
        for uid, answer in zip(uids, self._run_batch_requests(requests_), strict=True):
            status = int(answer.get("status") or 0)
            if status != 200:
                body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
                raise _graph_error(status, body)
            found[uid] = [
                ev
                for ev in (answer.get("body") or {}).get("value") or []
                if isinstance(ev, dict) and ev.get("iCalUId") == uid
            ]
        return found

    # -- $batch ---------------------------------------------------------------------------------

    def _post_batch(self, batch_requests):
        body = self.request(
            "POST",
            "/$batch",
            json={"requests": batch_requests},
            headers={"Content-Type": "application/json"},
            idempotent=True,
        )
        responses = {}
        for answer in (body or {}).get("responses") or []:
            responses[str(answer.get("id"))] = answer
        return responses

    def _run_batch_requests(self, batch_requests):
        """Send idempotent requests through $batch with per-item retries; answers in order.

        At most 4 parallel items per batch (Outlook's concurrency per mailbox, which batch items
        count against) and no ``dependsOn``: one 404 must not fail the others.
        """
        answers = [None] * len(batch_requests)
        pending = list(range(len(batch_requests)))
        attempts = dict.fromkeys(pending, 0)
        while pending:
            retry, wait, throttled = [], 0.0, None
            for start in range(0, len(pending), MAILBOX_CONCURRENCY):
                chunk = pending[start : start + MAILBOX_CONCURRENCY]
                items = [dict(batch_requests[i], id=str(i)) for i in chunk]
                responses = self._post_batch(items)
                for i in chunk:
                    answer = responses.get(str(i)) or {"status": 0, "body": {}}
                    status = int(answer.get("status") or 0)
                    retry_after = parse_retry_after(_header(answer, "Retry-After"))
                    if status == 429:
                        throttled = max(throttled or 0.0, retry_after or 0.0)
                    if status in RETRY_STATUSES and attempts[i] < self.max_retries:
                        attempts[i] += 1
                        retry.append(i)
                        wait = max(wait, self._wait(retry_after, attempts[i] - 1))
                    answers[i] = answer
            if throttled is not None:
                self._throttled(throttled or None)
            if retry:
                self.sleep(wait)
            pending = retry
        return answers

    def _op_request(self, op):
        """The $batch request for a WriteOp (without id)."""
        if op.action not in WRITE_ACTIONS:
            raise ValueError(f"unknown write action {op.action!r}")
        # Answers in UTC, like the delta reads.
        headers = {"Content-Type": "application/json", "Prefer": 'outlook.timezone="UTC"'}
        if op.action == "create":
            body = dict(op.payload or {})
            body["transactionId"] = op.transaction_id or body.get("transactionId")
            return {
                "method": "POST",
                "url": f"{self._calendar_root(op.calendar_id)}/events",
                "headers": headers,
                "body": body,
            }
        if not op.event_id:
            raise ValueError(f"{op.action} needs an event id")
        url = f"{self.root}/events/{quote(op.event_id, safe='')}"
        if op.if_match:
            headers["If-Match"] = op.if_match
        if op.action == "update":
            return {"method": "PATCH", "url": url, "headers": headers, "body": op.payload or {}}
        if op.action == "delete":
            headers = {k: v for k, v in headers.items() if k == "If-Match"}
            return {"method": "DELETE", "url": url, "headers": headers}
        if op.action in ANSWER_ACTIONS:
            body = {"sendResponse": True, **(op.payload or {})}
            return {"method": "POST", "url": f"{url}/{op.action}", "headers": headers, "body": body}
        comment = (op.payload or {}).get("comment") or (op.payload or {}).get("Comment") or ""
        return {
            "method": "POST",
            "url": f"{url}/cancel",
            "headers": headers,
            "body": {"Comment": comment},
        }

    def batch_write(self, ops):
        """Apply create/update/delete/cancel ops through ``POST /$batch``.

        Returns one :class:`WriteResult` per op, in the order of ``ops``.

        - Bad ops (unknown action, missing event id) get a failed result and do not stop the
          others.
        - A create without ``transaction_id`` gets a random one (set on the op), so that at
          least the retries of this call cannot duplicate it.
        - Each batch is a chain of up to 20 items sequenced with ``dependsOn`` and up to
          ``parallel_batches`` (4) chains are sent at once, from threads: never more than 4
          writes in flight for the mailbox (``services/batching.py``). Items after a failed one
          answer 424 without having run and go out again at once.
        - Two ops on the same event never run in the same wave, and keep their order.
        - Items answered 429/503/504 are retried alone in a later batch after their
          ``Retry-After`` (bounded by ``max_retries``); one above ``max_retry_after`` is not
          waited for, its result carries it. A 429 is reported to ``on_throttle``.
        - When the ``$batch`` call itself still fails after the transport retries (throttled,
          network, or refused as a whole), the ops not yet done get a failed result (status
          429/503/504, 0 for the network) and the call returns; only auth errors
          (:class:`ReconnectNeeded`...) propagate.
        """
        with self.hold_slots():
            return self._batch_write(list(ops))

    def _batch_write(self, ops):
        """:meth:`batch_write` of a list of ops."""
        results = [None] * len(ops)
        prepared = {}
        for index, op in enumerate(ops):
            if op.action == "create" and not op.transaction_id:
                payload_tid = (op.payload or {}).get("transactionId")
                op.transaction_id = payload_tid or str(uuid.uuid4())
            try:
                prepared[index] = self._op_request(op)
            except ValueError as exc:
                _logger.error("Graph write %s skipped: %s", op.key, exc)
                results[index] = WriteResult(
                    op.key, False, 0, error_code="invalidOperation", error_message=str(exc)
                )
        pending = sorted(prepared)
        attempts = dict.fromkeys(pending, 0)

        def event_of(index):
            return ops[index].event_id

        def send(chain):
            return self._post_batch(chained([dict(prepared[i], id=str(i)) for i in chain]))

        while pending:
            retry, wait, throttled = [], 0.0, None
            queue = list(pending)
            while queue:
                blocked = {ops[i].event_id for i in retry if ops[i].event_id}
                chains, queue, waiting = plan_wave(
                    queue, event_of, parallel=self.parallel_batches, blocked=blocked
                )
                # An op on an event whose earlier op waits for a retry goes after it.
                retry.extend(waiting)
                if not chains:
                    continue
                outcomes = run_parallel(send, chains)
                auth_error = next(
                    (o.error for o in outcomes if isinstance(o.error, AuthError)), None
                )
                failure = next((o.error for o in outcomes if o.error is not None), None)
                again = []
                for chain, outcome in zip(chains, outcomes, strict=True):
                    if outcome.error is not None:
                        again.extend(chain)
                        continue
                    for i in chain:
                        answer = outcome.value.get(str(i)) or {
                            "status": 0,
                            "body": {"error": {"code": "missingResponse", "message": "no answer"}},
                        }
                        status = int(answer.get("status") or 0)
                        if status == 424:
                            again.append(i)  # not run: an earlier item of its chain failed
                            continue
                        retry_after = parse_retry_after(_header(answer, "Retry-After"))
                        if status == 429:
                            throttled = max(throttled or 0.0, retry_after or 0.0)
                        if (
                            status in RETRY_STATUSES
                            and attempts[i] < self.max_retries
                            and (retry_after is None or retry_after <= self.max_retry_after)
                        ):
                            attempts[i] += 1
                            retry.append(i)
                            wait = max(wait, self._wait(retry_after, attempts[i] - 1))
                            continue
                        results[i] = self._write_result(ops[i], status, answer, retry_after)
                if auth_error is not None:
                    raise auth_error
                if failure is not None:
                    if not isinstance(failure, GraphError):
                        raise failure
                    # Throttled or unreachable after the retries, or refused as a whole:
                    # report what is left as failed and stop hammering the mailbox.
                    postponed = sorted(again + queue + retry)
                    _logger.warning(
                        "Graph $batch failed, %d writes postponed: %s", len(postponed), failure
                    )
                    for i in postponed:
                        results[i] = WriteResult(
                            ops[i].key,
                            False,
                            failure.status,
                            error_code=failure.code,
                            error_message=failure.message,
                            retry_after=getattr(failure, "retry_after", None),
                        )
                    if throttled is not None:
                        self._throttled(throttled or None)
                    return results
                queue = sorted(again) + queue
            if throttled is not None:
                self._throttled(throttled or None)
            if retry:
                _logger.info("Graph $batch: %d throttled writes retried", len(retry))
                self.sleep(wait)
            pending = sorted(retry)
        return results

    def _write_result(self, op, status, answer, retry_after):
        body = answer.get("body")
        if 200 <= status < 300:
            event = body if isinstance(body, dict) and body else None
            return WriteResult(op.key, True, status, event=event)
        error = _graph_error(status, body if isinstance(body, dict) else {})
        if status in (404, 410):
            # A missing event is what delete and cancel wanted anyway.
            ok = op.action in ("delete", "cancel")
            return WriteResult(
                op.key,
                ok,
                status,
                error_code=error.code,
                error_message=error.message,
                not_found=True,
            )
        if status not in RETRY_STATUSES:
            _logger.warning("Graph %s of %s failed: %s %s", op.action, op.key, status, error.code)
        return WriteResult(
            op.key,
            False,
            status,
            error_code=error.code,
            error_message=error.message,
            retry_after=retry_after,
        )

    # -- categories -----------------------------------------------------------------------------

    def list_categories(self):
        return self._get_all(f"{self.root}/outlook/masterCategories")

    def ensure_category(self, name, color="preset9"):
        """Return the master category ``name`` (case-insensitive), creating it when missing."""
        wanted = name.strip().lower()
        for category in self.list_categories():
            if (category.get("displayName") or "").strip().lower() == wanted:
                return category
        try:
            return self.request(
                "POST",
                f"{self.root}/outlook/masterCategories",
                json={"displayName": name.strip(), "color": color},
            )
        except GraphError as exc:
            if exc.status != 409:
                raise
        # Created meanwhile by someone else.
        for category in self.list_categories():
            if (category.get("displayName") or "").strip().lower() == wanted:
                return category
        raise GraphError(409, "conflict", f"category {name!r} conflicts but cannot be found")

    # -- subscriptions --------------------------------------------------------------------------

    def create_subscription(
        self,
        notification_url,
        lifecycle_url,
        client_state,
        expiration,
        resource=None,
        change_type="created,updated,deleted",
    ):
        """Subscribe to change notifications on the mailbox's events (or ``resource``)."""
        body = {
            "changeType": change_type,
            "notificationUrl": notification_url,
            "resource": resource or f"{self.root.lstrip('/')}/events",
            "expirationDateTime": _iso_z(expiration),
            "clientState": client_state,
        }
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        return self.request("POST", "/subscriptions", json=body)

    def renew_subscription(self, sub_id, expiration):
        return self.request(
            "PATCH",
            f"/subscriptions/{quote(sub_id, safe='')}",
            json={"expirationDateTime": _iso_z(expiration)},
        )

    def delete_subscription(self, sub_id):
        """Delete a subscription; one that is already gone counts as deleted (returns False)."""
        try:
            self.request("DELETE", f"/subscriptions/{quote(sub_id, safe='')}")
        except NotFound:
            return False
        return True


def _iso_z(value):
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + "%07dZ" % (value.microsecond * 10)


def _header(answer, name):
    headers = answer.get("headers") or {}
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _json_or_none(response):
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
