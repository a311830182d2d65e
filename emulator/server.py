"""The Microsoft Graph emulator: a threaded HTTPS server with Graph's calendar endpoints.

This module is the HTTP layer: the threaded server and its TLS certificate, the
``GraphEmulator`` that holds the tenant (mailboxes, apps and tokens, subscriptions, faults,
counters), and the front door every request passes: identity platform or Graph, access
token, faults, mailbox concurrency, counters. What a Graph URL answers is decided by
``routing`` and the resource module it names; the identity platform answers in ``auth``.
See the package docstring (``emulator/__init__.py``) for usage and the module map.
"""

import contextlib
import json
import logging
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import Counter, namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from . import delta, persistence, routing, subscriptions, webhooks
from .auth import DEFAULT_SCOPES, AuthServer
from .faults import DROP, FaultInjector
from .invitations import Invitations
from .protocol import (
    JSON_TYPE,
    GraphError,
    GraphRequest,
    Response,
    error_response,
    normalize_path,
)
from .store import Mailbox
from .throttling import MAILBOX_CONCURRENCY, MailboxThrottling
from .tls import make_certificate

_logger = logging.getLogger(__name__)

RequestRecord = namedtuple("RequestRecord", "method path status mailbox")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        _logger.debug("Connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GraphEmulator/1.0"
    timeout = 120

    def setup(self):
        result = super().setup()
        self.server.connections.add(self.connection)
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()
        return result

    def finish(self):
        try:
            return super().finish()
        finally:
            self.server.connections.discard(self.connection)

    def log_message(self, format, *args):
        _logger.debug("%s %s", self.address_string(), format % args)

    def _handle(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        except (OSError, ValueError):
            self.close_connection = True
            return
        self.server.emulator._serve(self, self.command, body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

    def send(self, response, request_id):
        body = response.body
        headers = dict(response.headers)
        if isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
            headers.setdefault("Content-Type", JSON_TYPE)
        elif isinstance(body, str):
            payload = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = body or b""
        self.send_response(response.status)
        headers["request-id"] = request_id
        headers["client-request-id"] = request_id
        headers["Content-Length"] = str(len(payload))
        for key, value in headers.items():
            self.send_header(key, str(value))
        # One write for headers and body (no Nagle / delayed-ACK stall between them).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    def drop(self):
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class GraphEmulator:
    """A local Microsoft Graph (v1.0 calendar subset) and identity platform.

    ``GraphEmulator(port=0).start()`` serves https on 127.0.0.1 with a certificate made at
    start (``ca_path``); ``base_url`` is the Graph root and ``authority`` the msal authority.
    """

    def __init__(
        self,
        host="127.0.0.1",
        port=0,
        latency=0.0,
        tls=True,
        auto_notify=False,
        state_file=None,
        seed=None,
        lenient=False,
        write_latency=0.002,
        mailbox_concurrency=MAILBOX_CONCURRENCY,
    ):
        self.host = host
        # Off: delta shapes as Microsoft 365 gives them (see recurrence_delta); on: the kinder,
        # older shapes, for the few tests that need them.
        self.lenient = lenient
        self.port = port
        self.latency = latency
        # Outlook's 4 concurrent requests per app and mailbox, batch items included, and the
        # service time of each write (see emulator/throttling.py for the sources).
        self.throttling = MailboxThrottling(mailbox_concurrency, write_latency)
        self.tls = tls
        self.auto_notify = auto_notify
        self.state_file = state_file
        self.tenant_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "graph-emulator-tenant"))
        self.default_user = None
        self.lock = threading.RLock()
        self.mailboxes = {}
        self.subscriptions = {}
        self.auth = AuthServer(self)
        self.faults = FaultInjector(self._state_fault, seed=seed)
        self.random = self.faults.random
        self.shuffle_batch = True
        self.counters = Counter()
        self.requests = []
        self.delta_page_default = delta.DEFAULT_PAGE
        self._server = None
        self._thread = None
        self._tmpdir = None
        self.ca_path = None
        self.webhook_ssl_context = None
        self.deliverer = webhooks.Deliverer()
        self.invitations = Invitations(self)

    # ----- lifecycle ----------------------------------------------------------------------

    def start(self):
        """Start serving in a background thread; returns self."""
        if self.state_file and os.path.exists(self.state_file):
            self.load_state(self.state_file)
        self._server = _Server((self.host, self.port), _Handler)
        self._server.emulator = self
        self._server.connections = set()
        self.port = self._server.server_address[1]
        if self.tls:
            self._tmpdir = tempfile.mkdtemp(prefix="graph-emulator-")
            cert, key = make_certificate(self._tmpdir, self.host)
            self.ca_path = cert
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="graph-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        for connection in list(self._server.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._server = None
        self.deliverer.stop()
        if self.state_file:
            self.save_state(self.state_file)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()

    @property
    def root_url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%s" % ("https" if self.tls else "http", host, self.port)

    @property
    def base_url(self):
        return self.root_url + "/v1.0"

    @property
    def authority(self):
        return self.root_url + "/organizations"

    # ----- setup API ----------------------------------------------------------------------

    def add_mailbox(self, email, display_name=None):
        with self.lock:
            existing = self.find_mailbox(email)
            if existing:
                return existing
            mailbox = Mailbox(self, email, display_name)
            self.mailboxes[mailbox.user_id] = mailbox
            if self.default_user is None:
                self.default_user = email
            return mailbox

    def mailbox(self, email):
        found = self.find_mailbox(email)
        if found is None:
            raise KeyError("no mailbox %s" % email)
        return found

    def find_mailbox(self, key):
        if not key:
            return None
        with self.lock:
            found = self.mailboxes.get(key)
            if found:
                return found
            for mailbox in self.mailboxes.values():
                if mailbox.email.lower() == key.lower():
                    return mailbox
        return None

    def mailbox_by_id(self, user_id):
        return self.mailboxes[user_id]

    def target_mailbox(self, rel, principal):
        """The mailbox a Graph URL addresses, for faults and throttling (access unchecked)."""
        segments = [unquote(s) for s in urlsplit(rel).path.split("/") if s]
        if not segments:
            return None
        if segments[0].lower() == "me" and principal.user_id:
            return self.mailboxes.get(principal.user_id)
        if segments[0].lower() == "users" and len(segments) > 1:
            return self.find_mailbox(segments[1])
        return None

    def register_app(self, client_id, client_secret, redirect_uris=None):
        with self.lock:
            self.auth.register_app(client_id, client_secret, redirect_uris)

    def issue_tokens(self, email, client_id, scopes=DEFAULT_SCOPES):
        """A valid token response (access_token, refresh_token, id_token, client_info...)."""
        with self.lock:
            return self.auth.issue(self.mailbox(email), client_id, scopes)

    def authorize_code(
        self,
        email,
        client_id,
        redirect_uri,
        code_challenge,
        code_challenge_method="S256",
        scope=DEFAULT_SCOPES,
        state=None,
        nonce=None,
    ):
        """What the authorize page would hand back for ``email``: a one-time code."""
        with self.lock:
            return self.auth.authorize_code(
                self.mailbox(email),
                client_id,
                redirect_uri,
                code_challenge,
                code_challenge_method,
                scope,
                nonce,
            )

    def reset_counters(self):
        with self.lock:
            self.counters.clear()
            self.requests.clear()
        self.throttling.reset()

    @property
    def write_latency(self):
        return self.throttling.write_latency

    @write_latency.setter
    def write_latency(self, seconds):
        self.throttling.write_latency = seconds

    @property
    def mailbox_concurrency(self):
        return self.throttling.limit

    @mailbox_concurrency.setter
    def mailbox_concurrency(self, limit):
        self.throttling.limit = limit

    def _state_fault(self, fault):
        with self.lock:
            mailbox = self.find_mailbox(fault.mailbox) if fault.mailbox else None
            user_id = mailbox.user_id if mailbox else None
            if fault.kind == "revoke_refresh":
                self.auth.revoke_refresh(user_id)
            else:
                self.auth.expire_access(user_id)

    # ----- the front door: every request passes here --------------------------------------

    def record(self, method, path, status, mailbox, count_total=True):
        """Count a request (``counters``) and keep it (``requests``); status 0: dropped."""
        with self.lock:
            if count_total:
                self.counters["total"] += 1
            self.counters["%s %s" % (method, normalize_path(path))] += 1
            self.requests.append(RequestRecord(method, urlsplit(path).path, status, mailbox))

    def _serve(self, handler, method, raw_body):
        request_id = handler.headers.get("client-request-id") or str(uuid.uuid4())
        path = handler.path
        url_path = urlsplit(path).path
        graph = url_path == "/v1.0" or url_path.startswith("/v1.0/")
        if self.latency and not graph:
            # A Graph request spends its latency inside its mailbox's slot (_serve_graph).
            time.sleep(self.latency)
        if graph:
            response, mailbox = self._serve_graph(handler, method, path, raw_body, request_id)
        else:
            response, mailbox = self._serve_identity(method, path, raw_body), None
        if response is None:
            self.record(method, path, 0, mailbox)
            handler.drop()
            return
        self.record(method, path, response.status, mailbox)
        handler.send(response, request_id)

    def _serve_graph(self, handler, method, path, raw_body, request_id):
        with self.lock:
            try:
                principal = self.auth.check_access(handler.headers.get("Authorization"))
            except PermissionError as exc:
                return Response(
                    401,
                    GraphError(401, "InvalidAuthenticationToken", str(exc)).body(request_id),
                    {"WWW-Authenticate": 'Bearer realm=""'},
                ), None
            target = self.target_mailbox(path[len("/v1.0") :], principal)
        fault = self.faults.answer(path, target.email if target else None)
        if fault == DROP:
            return None, target.email if target else None
        if fault is not None:
            return fault, target.email if target else None
        body = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                return Response(
                    400,
                    GraphError(
                        400,
                        "BadRequest",
                        "Unable to read JSON request "
                        "payload. Please ensure Content-Type header is set and payload "
                        "is of valid JSON format.",
                    ).body(request_id),
                ), None
        request = GraphRequest(
            method, path[len("/v1.0") :], handler.headers, body, principal, request_id
        )
        with self.throttling.request(target, principal, method, self.latency) as refused:
            if refused is not None:
                return error_response(refused, request_id), target.email
            response = self.dispatch(request)
        return response, target.email if target else None

    def _serve_identity(self, method, path, raw_body):
        fault = self.faults.answer(path, oauth=True)
        if fault is not None:
            return None if fault == DROP else fault
        with self.lock:
            return self.auth.serve(method, path, raw_body)

    def dispatch(self, request):
        """Answer one Graph request (a GraphRequest) through the routing table; returns
        Response. Whole requests and ``$batch`` items come here."""
        return routing.dispatch(self, request)

    # ----- notifications (see subscriptions.py) -------------------------------------------

    def event_changed(self, mailbox, change_type, event_id):
        """Called by the store on every event write (under the lock)."""
        self.invitations.changed(mailbox, change_type, event_id)
        if self.auto_notify:
            subscriptions.notify_change(self, mailbox, change_type, event_id)

    def send_validation(self, url, token=None):
        """POST the validation handshake to ``url``; returns a ValidationResult."""
        return subscriptions.send_validation(self, url, token)

    def notify(self, url, notifications):
        """POST ``{"value": notifications}`` to ``url`` now; returns the WebhookResponse."""
        return subscriptions.notify(self, url, notifications)

    def post_change_notifications(self, subscription_id, change_type, event_id):
        """POST a Graph-shaped change notification for one event to the subscription."""
        return subscriptions.post_change_notifications(self, subscription_id, change_type, event_id)

    def post_lifecycle(self, subscription_id, event):
        """POST a lifecycle notification (reauthorizationRequired, subscriptionRemoved,
        missed) to the subscription's lifecycleNotificationUrl."""
        return subscriptions.post_lifecycle(self, subscription_id, event)

    def wait_notifications(self, timeout=5.0):
        """Wait until auto-notifications queued so far were delivered."""
        return self.deliverer.wait_idle(timeout)

    @property
    def notifications_sent(self):
        """(url, payload, status) of every auto-notification delivered."""
        return list(self.deliverer.sent)

    # ----- persistence (see persistence.py) ----------------------------------------------

    def save_state(self, path):
        persistence.save(self, path)

    def load_state(self, path):
        persistence.load(self, path)
