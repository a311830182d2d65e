"""The emulator's state file (``--state-file``): saved at ``stop()``, loaded at ``start()``.

One JSON document: the mailboxes (``Mailbox.dump``: events, categories, transaction ids,
change sequence), the delta sync states of each mailbox, the identity platform's apps and
tokens (``AuthServer.dump``), the subscriptions and the default user. Written to a temporary
file first, so a crash never leaves half a state.
"""

import json
import os

from .store import Mailbox


def save(emu, path):
    with emu.lock:
        data = {
            "mailboxes": [m.dump() for m in emu.mailboxes.values()],
            "auth": emu.auth.dump(),
            "subscriptions": emu.subscriptions,
            "sync_states": {m.user_id: m.sync_states for m in emu.mailboxes.values()},
            "default_user": emu.default_user,
        }
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def load(emu, path):
    with open(path) as handle:
        data = json.load(handle)
    with emu.lock:
        for item in data.get("mailboxes", []):
            mailbox = Mailbox(emu, item["email"], item["display_name"], item["user_id"])
            mailbox.load(item)
            emu.mailboxes[mailbox.user_id] = mailbox
        for user_id, states in data.get("sync_states", {}).items():
            if user_id in emu.mailboxes:
                # JSON made the (round key, offset) of each skiptoken a list.
                emu.mailboxes[user_id].sync_states = {
                    k: tuple(v) if k.startswith("s:") else v for k, v in states.items()
                }
        emu.auth.load(data.get("auth", {}))
        emu.subscriptions.update(data.get("subscriptions", {}))
        emu.default_user = emu.default_user or data.get("default_user")
        emu.invitations.rebuild()
