# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sign-in with Microsoft: the authorization-code flow with PKCE (msal) and the admin consent.

The msal flow (state, PKCE verifier, nonce) stays server-side in the user's session between the
start and the callback; the browser only carries the state, checked before the code is redeemed.

- The identity platform answers with ``response_mode=form_post``: the code comes in a POST body,
  never in a URL, so it does not land in access logs, proxy logs or the browser history.
- That POST comes from login.microsoftonline.com: a cross-site POST, which browsers send without
  Odoo's session cookie (SameSite=Lax is their default). The callback then answers a page that
  re-posts the same fields to itself from Odoo's own origin, a same-site POST that carries the
  cookie. It is served to anonymous visitors and takes no CSRF token (a cross-site POST cannot
  have one); the ``state`` stands for it.
- The state is checked before anything else: a request with a wrong state (a forged link, a
  cross-site GET or POST) is refused and leaves the sign-in in progress untouched. The flow is
  dropped only when the state matches, so a code is redeemed at most once.
"""

import hmac
import logging
import secrets
from urllib.parse import urlencode

from markupsafe import Markup

from odoo import http
from odoo.http import request

from ..services.errors import GraphError

_logger = logging.getLogger(__name__)

FLOW_KEY = "office365_calendar_sync.flow"
CONSENT_KEY = "office365_calendar_sync.consent_state"
CALLBACK_PATH = "/office365_calendar_sync/oauth/callback"
CONSENT_PATH = "/office365_calendar_sync/oauth/adminconsent"
# Marks the same-site re-post of the identity platform's answer (see the module docstring).
RELAY_FIELD = "office365_relayed"
# A client action (static/src/preferences/signed_in_action.js): opens the user's preferences as
# the user menu does (the dialog, or the full profile form for an employee) on the Office 365
# Calendar tab, with "Connected as ..." in a notification.
PREFERENCES_ACTION = "office365_calendar_sync.res_users_action_o365_signed_in"
# Microsoft identity platform error: the account is not in the tenant's directory
# (https://learn.microsoft.com/entra/identity-platform/reference-error-codes, AADSTS50034).
UNKNOWN_ACCOUNT = "AADSTS50034"


def redirect_uri(env, path=CALLBACK_PATH):
    """The redirect URI registered in the Azure application: Odoo's public base URL (else
    ``web.base.url``) + ``path``."""
    get = env["ir.config_parameter"].sudo().get_param
    base = get("office365_calendar_sync.public_base_url") or get("web.base.url") or ""
    return base.rstrip("/") + path


def preferences_url(env):
    # The web client's classic address works whatever its path prefix (/odoo in Odoo 18).
    return f"/web#action={PREFERENCES_ACTION}"


def login_hint(env):
    """The account Microsoft is asked to sign in: the Odoo user's e-mail address."""
    return env.user.email or env.user.login or None


class Office365OAuth(http.Controller):
    @http.route("/office365_calendar_sync/oauth/start", type="http", auth="user")
    def oauth_start(self, **kwargs):
        env = request.env
        account = env.user._o365_account()
        try:
            provider = account.browse()._o365_token_provider()
            flow = provider.start_auth(
                redirect_uri(env),
                login_hint=login_hint(env),
                response_mode="form_post",
            )
        except GraphError as exc:
            _logger.warning("Office 365 sign-in of user %s cannot start: %s", env.uid, exc)
            return _error_page(env, env._("The sign-in with Microsoft cannot start: %s", exc))
        request.session[FLOW_KEY] = flow
        return request.redirect(flow["auth_uri"], local=False)

    @http.route(
        CALLBACK_PATH,
        type="http",
        auth="public",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
    )
    def oauth_callback(self, **params):
        env = request.env
        relayed = params.pop(RELAY_FIELD, None)
        if env.user._is_public():
            # No session is saved here: a new session cookie in the answer to the cross-site
            # POST would replace the user's own in the browser and log them out.
            if relayed or request.httprequest.method != "POST":
                return _error_page(
                    env, env._("Sign in to Odoo first, then connect your mailbox again.")
                )
            return _relay_page(params)
        # The user's own session: saved as usual (the flow is dropped from it below).
        request.session.can_save = True
        flow = request.session.get(FLOW_KEY)
        if not flow:
            return _error_page(env, env._("No sign-in with Microsoft is in progress."))
        state = params.get("state")
        if (
            not state
            or not isinstance(state, str)
            or not hmac.compare_digest(state.encode(), str(flow.get("state") or "").encode())
        ):
            # The sign-in in progress stays: a forged request must not be able to cancel it.
            _logger.warning("Office 365 sign-in of user %s refused: state mismatch", env.uid)
            return _error_page(
                env, env._("The sign-in was refused: its state does not match (possible forgery).")
            )
        request.session.pop(FLOW_KEY, None)
        if params.get("error"):
            message = params.get("error_description") or params["error"]
            _logger.warning("Office 365 sign-in of user %s refused: %s", env.uid, message)
            if UNKNOWN_ACCOUNT in str(message):
                account_name = login_hint(env) or ""
                return _error_page(
                    env,
                    env._(
                        "Microsoft 365 has no account %s in your organization's directory.",
                        account_name,
                    ),
                    hint=env._(
                        "Odoo asks Microsoft to sign in the e-mail address of your Odoo user "
                        "(%(account)s). Set your Microsoft 365 address as your e-mail address "
                        "in your preferences, or ask your Microsoft 365 administrator to add "
                        "this account to the tenant. Microsoft said: %(answer)s",
                        account=account_name,
                        answer=message,
                    ),
                )
            return _error_page(env, env._("Microsoft refused the sign-in: %s", message))
        account = env.user._o365_account()
        try:
            provider = account.browse()._o365_token_provider()
            info = provider.finish_auth(flow, dict(params))
        except GraphError as exc:
            _logger.warning("Office 365 sign-in of user %s failed: %s", env.uid, exc)
            return _error_page(env, env._("The sign-in with Microsoft failed: %s", exc))
        # The mailbox is the signed-in identity (the id token's claims), never res.users.email.
        account._o365_bind_mailbox(info.get("email"), "signed_in")
        account._o365_store_token_cache(provider.serialize())
        _logger.info("Office 365 mailbox connected for user %s", env.uid)
        return request.redirect(preferences_url(env))

    @http.route("/office365_calendar_sync/oauth/adminconsent/start", type="http", auth="user")
    def admin_consent_start(self, **kwargs):
        env = request.env
        if not env.user.has_group("base.group_system"):
            return _error_page(env, env._("Only an administrator can grant the consent."))
        config = env["office365.account"].sudo()._o365_config()
        state = secrets.token_urlsafe(24)
        request.session[CONSENT_KEY] = state
        query = urlencode(
            {
                "client_id": config["client_id"],
                "scope": "https://graph.microsoft.com/.default",
                "redirect_uri": redirect_uri(env, CONSENT_PATH),
                "state": state,
            }
        )
        return request.redirect(
            f"{config['login_url']}/{config['tenant']}/v2.0/adminconsent?{query}", local=False
        )

    @http.route(CONSENT_PATH, type="http", auth="user")
    def admin_consent(self, **params):
        env = request.env
        expected = request.session.pop(CONSENT_KEY, None)
        if not env.user.has_group("base.group_system"):
            return _error_page(env, env._("Only an administrator can grant the consent."))
        if not expected or params.get("state") != expected:
            return _error_page(env, env._("The consent was refused: its state does not match."))
        if params.get("admin_consent") != "True":
            message = params.get("error_description") or params.get("error") or "no consent"
            return _error_page(env, env._("The administrator consent was not given: %s", message))
        params_model = env["ir.config_parameter"].sudo()
        params_model.set_param("office365_calendar_sync.admin_consent", "True")
        if params.get("tenant"):
            params_model.set_param("office365_calendar_sync.tenant", params["tenant"])
        return request.redirect("/web#action=office365_calendar_sync.res_config_settings_action")


def _relay_page(params):
    """Re-post the identity platform's answer to the callback from Odoo's own origin, so the
    browser sends the session cookie it left out of the cross-site POST."""
    inputs = Markup("").join(
        Markup('<input type="hidden" name="{name}" value="{value}"/>').format(
            name=name, value=value
        )
        for name, value in params.items()
        if isinstance(value, str)
    )
    body = Markup(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Office 365</title></head>"
        "<body><form method='post' action='{action}'>{inputs}"
        "<input type='hidden' name='{relay}' value='1'/>"
        "<noscript><button type='submit'>Continue</button></noscript></form>"
        "<script>document.forms[0].submit();</script></body></html>"
    ).format(action=CALLBACK_PATH, inputs=inputs, relay=RELAY_FIELD)
    return request.make_response(
        str(body),
        headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
        ],
    )


def _error_page(env, message, hint=None):
    """The refusal in Odoo's own page layout (status 400: the request is not fulfilled)."""
    public = env.user._is_public()
    return request.render(
        "office365_calendar_sync.oauth_message",
        {
            "message": message,
            "hint": hint,
            "back_url": "/web/login" if public else preferences_url(env),
            "back_label": (
                env._("Sign in to Odoo")
                if public
                else env._("Back to the Office 365 Calendar preferences")
            ),
        },
        headers=[("Cache-Control", "no-store")],
        status=400,
    )
