"""``python -m emulator``: run the Graph emulator in the foreground (see the package doc)."""

import argparse
import contextlib
import logging
import signal
import sys
import threading

from .server import GraphEmulator


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="Local Microsoft Graph calendar emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mailboxes", default="", help="comma-separated e-mail addresses")
    parser.add_argument("--client-id", help="register this application")
    parser.add_argument("--client-secret", help="its secret")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        help="allowed redirect URI (repeatable; none = any)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument(
        "--write-latency",
        type=float,
        default=0.002,
        help="seconds each write (request or batch item) holds its mailbox slot",
    )
    parser.add_argument(
        "--mailbox-concurrency",
        type=int,
        default=4,
        help="concurrent requests per app and mailbox, batch items included (0: no limit)",
    )
    parser.add_argument("--state-file", help="load at start, save at exit")
    parser.add_argument(
        "--auto-notify",
        action="store_true",
        help="POST change notifications to subscriptions on every change",
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="full occurrences in delta and no @removed for changes outside the window",
    )
    parser.add_argument("--no-tls", action="store_true", help="plain http (msal needs https)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    emu = GraphEmulator(
        host=args.host,
        port=args.port,
        latency=args.latency,
        write_latency=args.write_latency,
        mailbox_concurrency=args.mailbox_concurrency or None,
        tls=not args.no_tls,
        auto_notify=args.auto_notify,
        state_file=args.state_file,
        lenient=args.lenient,
    )
    for email in filter(None, (m.strip() for m in args.mailboxes.split(","))):
        emu.add_mailbox(email)
    if args.client_id:
        emu.register_app(args.client_id, args.client_secret, args.redirect_uri or None)
    emu.start()
    sys.stdout.write(f"base_url={emu.base_url}\nauthority={emu.authority}\n")
    sys.stdout.write(f"ca_path={emu.ca_path or ''}\n")
    sys.stdout.flush()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while not done.wait(0.5):
                continue
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
