"""Outbound webhook calls of the emulator: validation handshake and change notifications.

Uses the standard library only. Graph requires https notification URLs; the emulator also
accepts ``http://`` URLs on localhost so tests and the demo can run a plain local receiver.
"""

import json
import logging
import queue
import secrets
import ssl
import threading
import urllib.error
import urllib.request
from collections import namedtuple
from urllib.parse import quote, urlsplit

_logger = logging.getLogger(__name__)

WebhookResponse = namedtuple("WebhookResponse", "status headers body")
VALIDATION_TIMEOUT = 10.0
NOTIFY_TIMEOUT = 3.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def url_allowed(url):
    """https anywhere, or http on localhost (documented emulator allowance)."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in LOCAL_HOSTS


def post(url, body, content_type, timeout, ssl_context=None):
    """POST ``body`` (bytes) and return a WebhookResponse; connection errors give status 0."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    context = ssl_context if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return WebhookResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return WebhookResponse(exc.code, dict(exc.headers or {}), exc.read() or b"")
    except (OSError, ssl.SSLError) as exc:
        _logger.info("Webhook POST to %s failed: %s", urlsplit(url).netloc, exc)
        return WebhookResponse(0, {}, str(exc).encode())


def send_validation(url, token=None, ssl_context=None):
    """The subscription validation handshake: POST ``?validationToken=...``.

    Returns (ok, WebhookResponse). ok needs 200, a text/plain content type and the token
    echoed as the body, within 10 seconds.
    """
    token = (
        token
        or "Validation: Testing client application reachability for subscription Request-Id: "
        + secrets.token_hex(16)
    )
    sep = "&" if "?" in url else "?"
    response = post(
        url + sep + "validationToken=" + quote(token, safe=""),
        b"",
        "text/plain; charset=utf-8",
        VALIDATION_TIMEOUT,
        ssl_context,
    )
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
    ok = (
        response.status == 200
        and content_type.lower().startswith("text/plain")
        and response.body.decode("utf-8", "replace") == token
    )
    return ok, response


class Deliverer:
    """Delivers notifications on a background thread so requests never wait on them."""

    def __init__(self, ssl_context=None):
        self.ssl_context = ssl_context
        self.sent = []
        self._queue = queue.Queue()
        self._thread = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def submit(self, url, payload):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="graph-emulator-notify", daemon=True
                )
                self._thread.start()
        self._idle.clear()
        self._queue.put((url, payload))

    def _run(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            url, payload = item
            try:
                response = post(
                    url,
                    json.dumps(payload).encode(),
                    "application/json",
                    NOTIFY_TIMEOUT,
                    self.ssl_context,
                )
                self.sent.append((url, payload, response.status))
            except Exception:  # the delivery thread must survive any receiver behaviour
                _logger.exception("Notification delivery to %s failed", urlsplit(url).netloc)
            finally:
                self._queue.task_done()
                if self._queue.unfinished_tasks == 0:
                    self._idle.set()

    def wait_idle(self, timeout=5.0):
        """Block until every queued notification was delivered (tests use this)."""
        return self._idle.wait(timeout)

    def stop(self):
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
