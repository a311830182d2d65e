"""Outlook categories of a mailbox: ``/outlook/masterCategories`` and ``/{id}``.

Events may carry category names that are not in this list (see ``store``); the list gives
them their colour in Outlook.
"""

from .protocol import Response, method_not_allowed, only
from .validation import category_color


def handle(emu, request, mailbox, rest):
    """A request below ``outlook/masterCategories`` (``rest``: the segments after it)."""
    method, body = request.method, request.body
    context = "%s/$metadata#users('%s')/outlook/masterCategories" % (
        emu.base_url,
        mailbox.user_id,
    )
    if not rest:
        if method == "POST":
            category = mailbox.api_create_category(body)
            return Response(201, {"@odata.context": context + "/$entity", **category})
        only(method, "GET")
        return Response(
            200, {"@odata.context": context, "value": [dict(c) for c in mailbox.categories]}
        )
    category = mailbox.category(rest[0])
    if method == "GET":
        return Response(200, {"@odata.context": context + "/$entity", **category})
    if method == "PATCH":
        if isinstance(body, dict) and "color" in body:
            category["color"] = category_color(body["color"])
        return Response(200, {"@odata.context": context + "/$entity", **category})
    if method == "DELETE":
        mailbox.categories.remove(category)
        return Response(204)
    raise method_not_allowed()
