# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Body size limit of the public change-notification routes, enforced before any read.

Routes declaring ``office365_body_limit`` (bytes) get:

- a declared ``Content-Length`` above it refused with 413 before a byte is read;
- any body without a declared length (chunked) read through a stream that fails with 413 past
  the limit, for the form parser that Odoo runs before the controller as well as for the
  controller itself. Werkzeug 2.2 bounds declared lengths only (``max_content_length``), so a
  chunked body would otherwise be read whole into memory.
"""

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import models
from odoo.http import request

from ..services.bodylimit import CappedStream

ROUTING_KEY = "office365_body_limit"


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        limit = rule.endpoint.routing.get(ROUTING_KEY)
        if limit:
            _cap_request_body(limit)
        return super()._pre_dispatch(rule, args)


def _cap_request_body(limit):
    httprequest = request.httprequest
    declared = httprequest.content_length
    if declared is not None and declared > limit:
        raise RequestEntityTooLarge()
    httprequest.max_content_length = limit
    # Odoo's HTTPRequest forwards a fixed list of attributes to werkzeug's request, and
    # ``stream`` is not among them: the wrapped request is reached by its (mangled) name.
    wrapped = getattr(httprequest, "_HTTPRequest__wrapped", None)
    if wrapped is None or isinstance(wrapped.__dict__.get("stream"), CappedStream):
        return
    # ``stream`` is a cached property: replacing its cached value is what the form parser and
    # get_data() read from.
    wrapped.__dict__["stream"] = CappedStream(wrapped.stream, limit, RequestEntityTooLarge)
