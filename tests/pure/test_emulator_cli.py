"""Emulator: ``python -m emulator`` and the state file."""

import os
import signal
import socket
import subprocess
import sys

from conftest import GraphSession

from emulator import GraphEmulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_line_serves_and_prints_its_urls(tmp_path):
    port = _free_port()
    state = tmp_path / "state.json"
    command = [
        sys.executable,
        "-m",
        "emulator",
        "--port",
        str(port),
        "--mailboxes",
        "a@example.com,b@example.com",
        "--client-id",
        "X",
        "--client-secret",
        "Y",
        "--latency",
        "0.01",
        "--state-file",
        str(state),
    ]
    env = dict(os.environ, PYTHONPATH=ROOT)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        printed = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        assert printed["base_url"] == "https://127.0.0.1:%d/v1.0" % port
        assert printed["authority"] == "https://127.0.0.1:%d/organizations" % port
        assert os.path.exists(printed["ca_path"])
        with GraphSession(_Stub(printed)) as session:
            token = session.post(
                printed["authority"] + "/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "X",
                    "client_secret": "Y",
                    "scope": "https://graph.microsoft.com/.default",
                },
            ).json()["access_token"]
            session.headers["Authorization"] = "Bearer " + token
            created = session.post(
                "/users/b@example.com/events",
                json={
                    "subject": "kept",
                    "start": {"dateTime": "2026-05-01T09:00:00", "timeZone": "UTC"},
                    "end": {"dateTime": "2026-05-01T10:00:00", "timeZone": "UTC"},
                },
            )
            assert created.status_code == 201
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert process.returncode == 0
    # The state file brings mailboxes, events and the app back.
    with GraphEmulator(state_file=str(state)) as emu:
        box = emu.mailbox("b@example.com")
        assert [e["subject"] for e in box.events.values()] == ["kept"]
        assert "X" in emu.auth.apps


class _Stub:
    def __init__(self, printed):
        self.ca_path = printed["ca_path"]
        self.base_url = printed["base_url"]
