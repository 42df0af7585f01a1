"""Webhooks: a real server with --webhook posts new findings to a receiver that first
answers 500, then hangs past the per-attempt timeout, then accepts; every delivery is
signed with HMAC-SHA256 over "timestamp.body" (docs/notifications.md), and nothing is
lost or delivered twice."""
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import BIN, Server, free_port

SECRET = b"webhook-test-secret"


class Receiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []   # (outcome, headers, body) in arrival order
        self.delivered = []  # bodies answered 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    n = len(receiver.requests)
                    outcome = "500" if n == 0 else "hang" if n == 1 else "200"
                    receiver.requests.append((outcome, dict(self.headers), body))
                if outcome == "hang":
                    time.sleep(3)  # past the webhook's 1 s timeout: keyward has given up
                    return
                code = 500 if outcome == "500" else 200
                if code == 200:
                    with receiver.lock:
                        receiver.delivered.append((dict(self.headers), body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def verify(headers, body):
    timestamp = headers["X-Keyward-Timestamp"]
    expected = "sha256=" + hmac.new(SECRET, timestamp.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Keyward-Signature"])


def kw(server, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": os.path.join(server.data_dir, "admin-credentials"),
                "AWS_CONFIG_FILE": "/dev/null", "KEYWARD_ENDPOINT": server.endpoint})
    p = subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p


def test_finding_is_delivered_signed_after_500_and_hang(tmp_path):
    secret_file = tmp_path / "hook.secret"
    secret_file.write_bytes(SECRET + b"\n")
    os.chmod(secret_file, 0o600)
    receiver = Receiver()
    server = Server(str(tmp_path / "data"),
                    extra_args=("--webhook", f"{receiver.url},secret-file={secret_file},timeout=1"))
    try:
        iam = server.client("iam")
        arn = iam.create_user(UserName="webhook-orphan")["User"]["Arn"]  # no owner tag
        kw(server, "audit", "--format", "json")

        def ours(bodies):
            return [json.loads(b) for _, b in bodies
                    if json.loads(b).get("resource") == arn
                    and json.loads(b).get("finding_type") == "OwnerMissing"]

        def settled():
            with receiver.lock:
                bodies = [b for _, b in receiver.delivered]
                failed = [b for _, _, b in receiver.requests[:2]]
                return ours(receiver.delivered) and len(failed) == 2 and all(
                    b in bodies for b in failed)

        deadline = time.time() + 20
        while time.time() < deadline and not settled():
            time.sleep(0.1)
        with receiver.lock:
            requests = list(receiver.requests)
            delivered = list(receiver.delivered)
        got = ours(delivered)
        assert len(got) == 1, (requests, server.output())
        assert got[0]["type"] == "finding"
        assert got[0]["severity"] == "HIGH"
        # The failures happened and were retried: whatever the 500 and the hang carried
        # was delivered later, exactly once each.
        assert [o for o, _, _ in requests[:2]] == ["500", "hang"]
        bodies = [b for _, b in delivered]
        assert len(bodies) == len(set(bodies))
        for _, _, failed_body in requests[:2]:
            assert failed_body in bodies
        # Every request, failed or not, carries a valid signature over timestamp.body.
        for _, headers, body in requests:
            assert verify(headers, body), headers
        # A wrong secret does not verify (the check above can fail).
        h, b = delivered[0]
        assert not hmac.compare_digest(
            h["X-Keyward-Signature"],
            "sha256=" + hmac.new(b"other", h["X-Keyward-Timestamp"].encode() + b"." + b,
                                 hashlib.sha256).hexdigest())
        # The secret never appears in the server's log.
        assert SECRET.decode() not in server.output()
    finally:
        server.stop()
        receiver.stop()


def test_world_readable_secret_file_refuses_to_start(tmp_path):
    secret_file = tmp_path / "hook.secret"
    secret_file.write_bytes(SECRET)
    os.chmod(secret_file, 0o644)
    p = subprocess.run([BIN, "server", "--data-dir", str(tmp_path / "data"), "--listen",
                        f"127.0.0.1:{free_port()}", "--webhook",
                        f"http://127.0.0.1:1/x,secret-file={secret_file}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "chmod 600" in p.stdout + p.stderr
    assert SECRET.decode() not in p.stdout + p.stderr
