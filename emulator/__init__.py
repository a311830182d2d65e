"""Local Microsoft Graph emulator (calendar subset) used by tests, benchmarks and the demo.

In-process use (tests)::

    from emulator import GraphEmulator

    with GraphEmulator(latency=0.0) as emu:            # https://127.0.0.1:<random port>
        box = emu.add_mailbox("alice@example.com")
        emu.register_app("client-id", "secret", ["https://odoo.local/callback"])
        tokens = emu.issue_tokens("alice@example.com", "client-id")
        session = requests.Session()
        session.verify = emu.ca_path                    # self-signed certificate made at start
        session.get(emu.base_url + "/me/events",
                    headers={"Authorization": "Bearer " + tokens["access_token"]}, timeout=10)
        box.create_event({...})                         # a change made by the user in Outlook
        emu.faults.add("throttle", count=2, retry_after=1)
        emu.counters["POST /$batch"]

``authority`` (``https://127.0.0.1:PORT/organizations``) works as an msal authority with
``instance_discovery=False`` and an ``http_client`` that trusts ``ca_path``; any tenant
segment is accepted. The identity endpoints are the v2.0 ones: ``/{tenant}/v2.0/.well-known/
openid-configuration``, ``/{tenant}/oauth2/v2.0/authorize`` (redirects with a code for
``login_hint`` or the first mailbox) and ``/{tenant}/oauth2/v2.0/token`` (authorization_code
with PKCE, rotating refresh_token, client_credentials).

Command line (demo, benchmarks)::

    python -m emulator --port 8765 --mailboxes a@example.com,b@example.com \\
        --client-id X --client-secret Y --latency 0.02 [--write-latency 0.15] \\
        [--mailbox-concurrency 4] [--state-file state.json]

prints ``base_url``, ``authority`` and ``ca_path`` and serves until interrupted; with
``--state-file`` mailboxes, events, apps and tokens survive a restart.

Faults (``emu.faults.add(kind, count=1, path_contains=None, mailbox=None, retry_after=1,
delay=0.0, probability=None, code=None)``; ``emu.faults.injected`` counts what fired):
``throttle`` 429 + Retry-After, ``unavailable`` 503, ``gateway_timeout`` 504, ``slow``
(sleeps ``delay``), ``drop`` (closes the connection; whole requests only, never batch items),
``expire_delta`` (next delta call carrying a token answers 410 ``SyncStateNotFound``, or
``code``), ``revoke_refresh`` (refresh tokens the mailbox holds now answer ``invalid_grant``),
``expire_access`` (access tokens issued so far to the mailbox answer 401
``InvalidAuthenticationToken``; tokens issued afterwards work). Request faults match Graph
paths and batch item urls; OAuth paths only when ``path_contains`` names them.
``count=None, probability=0.1`` fires on ~10% of matching requests (``faults.seed(n)``).

Webhooks: ``emu.send_validation(url)`` -> ValidationResult(status, headers, body, token, ok);
``emu.notify(url, items)``, ``emu.post_change_notifications(sub_id, change_type, event_id)``
and ``emu.post_lifecycle(sub_id, event)`` POST at once and return (status, headers, body);
with ``auto_notify=True`` every event change is POSTed to matching subscriptions from a
background thread (``emu.wait_notifications()``, ``emu.notifications_sent``).

Note for clients: ``REQUESTS_CA_BUNDLE`` in the environment overrides a Session's
``verify``; pass ``verify=emu.ca_path`` per request or set ``session.trust_env = False``.

Differences from Microsoft Graph worth knowing:

- ``http://`` notification URLs are accepted on localhost (Graph requires https).
- Access tokens are unsigned JWTs, also checked server-side (expiry, fault injection).
- Refresh tokens rotate strictly: a used refresh token answers ``invalid_grant``.
- ``calendarView/delta`` refuses ``$expand``, ``$filter``, ``$orderby``, ``$search`` and
  ``$select`` (400 ``ErrorInvalidUrlQuery``), which Graph documents as unsupported there; its
  default page size is 10.
- A repeated create with a known ``transactionId`` returns the existing event (201) when
  subject, start and end are the same, else 400 ``ErrorDuplicateTransactionId``.
- ``$batch`` responses come back shuffled (``emu.shuffle_batch = False`` keeps order).
- Outlook's limit of 4 concurrent requests per app and mailbox applies to requests and to
  ``$batch`` items (``emulator/throttling.py``): items whose ``dependsOn`` are done start
  together, and those finding no free slot of their mailbox fail alone with 429
  ``ApplicationThrottled`` and ``Retry-After: 1``; each write holds its slot for
  ``write_latency`` seconds (``GraphEmulator(write_latency=0.002)``, ``--write-latency``).
  ``emu.throttling.peak`` / ``.refused`` count per mailbox; ``mailbox_concurrency=None``
  (``--mailbox-concurrency 0``) is the lenient switch.
- Meetings between mailboxes of the emulator behave as in a tenant (``invitations.py``): each
  internal attendee gets their own copy, answers reach the organizer's copy, updates and
  cancellations reach the copies (``emu.invitations.enabled = False`` turns this off).
- ``counters`` count HTTP requests under ``"total"``, and every request (batch items
  included) under ``"METHOD /normalized/path"``; ``counters["batch_items"]`` counts items.

Where each part lives:

- ``server.py``: the HTTP layer (threaded TLS server, ``GraphEmulator``, the front door every
  request passes); ``protocol.py``: ``GraphRequest``, ``Response``, ``GraphError``;
  ``routing.py``: which module answers a Graph URL (and the user, mailbox settings, calendar).
- One module per resource: ``events.py`` (events, instances, invitation answers,
  calendarView), ``delta.py`` (calendarView delta; ``recurrence_delta.py``: Microsoft 365's
  shapes of a round), ``categories.py``, ``batch.py``, ``subscriptions.py`` (``webhooks.py``:
  the POSTs to notification URLs), ``auth.py`` (identity platform: apps, codes, tokens and
  their endpoints), ``persistence.py`` (the state file).
- The mailbox: ``store.py`` (events stored, series expanded, views, rendering),
  ``validation.py`` (what a client may write and how Graph checks it), ``invitations.py``
  (meetings between mailboxes), ``odata.py`` (``$filter``), ``timeutil.py`` (time zones,
  recurrence rules).
- Service behaviour: ``throttling.py`` (mailbox concurrency, write time), ``faults.py`` (fault
  injection), ``tls.py`` (the certificate made at start).
"""

from .faults import FaultInjector
from .server import GraphEmulator
from .protocol import GraphError
from .store import Mailbox

__all__ = ["FaultInjector", "GraphEmulator", "GraphError", "Mailbox"]
