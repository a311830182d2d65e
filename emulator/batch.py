"""JSON batching: ``POST /$batch`` with up to 20 requests, ``dependsOn`` honoured.

Each item is answered as a request of its own would be (faults, mailbox concurrency, counters
included) through ``GraphEmulator.dispatch``; an item whose dependency failed gets 424. The
responses come back shuffled unless ``emu.shuffle_batch`` is off: Graph documents no order.
"""

import base64
import json

from .faults import ITEM_KINDS
from .protocol import GraphError, GraphRequest, Response, error_response, header

# concepts/json-batching.md, "Batch size limitations": at most 20 requests in one batch.
MAX_REQUESTS = 20


def handle(emu, request):
    """Answer a ``$batch`` request; its items run in waves of those whose dependencies are done."""
    items = _checked_items(request.body)
    results = {}
    todo = list(items)
    while todo:
        # The items whose dependencies are done start together and run in parallel, each
        # in a slot of its mailbox (emulator/throttling.py); dependents wait for them.
        ready = [
            item
            for item in todo
            if all(str(d).lower() in results for d in item.get("dependsOn") or [])
        ]
        if not ready:
            raise GraphError(400, "BadRequest", "Batch request dependencies form a cycle.")
        wave = emu.throttling.wave()
        try:
            for item in ready:
                todo.remove(item)
                deps = [str(d).lower() for d in item.get("dependsOn") or []]
                if any(results[d]["status"] >= 400 for d in deps):
                    result = _item_error(
                        item, GraphError(424, "FailedDependency", "Failed dependency.")
                    )
                else:
                    result = _run_item(emu, item, request.principal, wave)
                results[item["id"].lower()] = result
        finally:
            wave.finish()
    responses = [results[item["id"].lower()] for item in items]
    if emu.shuffle_batch:
        emu.random.shuffle(responses)
    return Response(200, {"responses": responses})


def _checked_items(body):
    """The batch's requests, refused as a whole (400) when the payload is malformed."""
    items = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(items) > MAX_REQUESTS:
        raise GraphError(
            400, "BadRequest", "Number of requests exceeds the limit of %d." % MAX_REQUESTS
        )
    seen = set()
    for item in items:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item.get(k) for k in ("id", "method", "url")
        ):
            raise GraphError(
                400,
                "BadRequest",
                "Invalid batch payload format: every request needs id, method and url.",
            )
        if item["id"].lower() in seen:
            raise GraphError(
                400,
                "BadRequest",
                "Batch request contains duplicate request id '%s'." % item["id"],
            )
        seen.add(item["id"].lower())
    for item in items:
        for dep in item.get("dependsOn") or []:
            if str(dep).lower() not in seen:
                raise GraphError(
                    400,
                    "BadRequest",
                    "Request '%s' depends on unknown request '%s'." % (item["id"], dep),
                )
    return items


def _unpack(item):
    """(method, url relative to /v1.0, headers, body) of one item; GraphError if unreadable."""
    url = item["url"]
    if "://" in url:
        raise GraphError(400, "BadRequest", "The url of a batch request must be relative.")
    url = "/" + url.lstrip("/")
    if url.startswith("/v1.0/"):
        url = url[len("/v1.0") :]
    headers = {k: str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    if body is not None and not header(headers, "Content-Type"):
        raise GraphError(
            400, "BadRequest", "A Content-Type header is required when a body is present."
        )
    if isinstance(body, str):
        try:
            body = json.loads(base64.b64decode(body))
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Unable to read the request body.") from exc
    return item["method"].upper(), url, headers, body


def _run_item(emu, item, principal, wave):
    try:
        method, url, headers, body = _unpack(item)
    except GraphError as exc:
        return _item_error(item, exc)
    with emu.lock:
        target = emu.target_mailbox(url, principal)
    email = target.email if target else None
    fault = emu.faults.answer(url, email, kinds=ITEM_KINDS)
    if fault is not None:
        response = fault
    elif not wave.enter(target, principal, method):
        # Over the mailbox's concurrency limit: this item alone fails, with Retry-After.
        response = error_response(emu.throttling.refusal())
    else:
        response = emu.dispatch(GraphRequest(method, url, headers, body, principal, in_batch=True))
    emu.record(method, url, response.status, email, count_total=False)
    with emu.lock:
        emu.counters["batch_items"] += 1
    out_headers = {"Content-Type": "application/json"} if response.body is not None else {}
    out_headers.update(response.headers)
    result = {"id": item["id"], "status": response.status, "headers": out_headers}
    if response.body not in (None, b""):
        result["body"] = response.body
    return result


def _item_error(item, exc):
    return {
        "id": item["id"],
        "status": exc.status,
        "headers": {"Content-Type": "application/json"},
        "body": exc.body(),
    }
