"""Webhooks: a real server with --webhook posts new findings to a receiver that first
answers 500, then hangs past the per-attempt timeout, then accepts; every delivery is
signed with HMAC-SHA256 over "timestamp.body" (docs/notifications.md), and nothing is
lost or delivered twice. A receiver that never answers does not delay another one, and
`keyward rotate --once` delivers the rotation_failed event of the rotation it failed."""
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import BIN, Server, free_port, run_keyward
from rotation_client import json_call
from webhook_receiver import SimpleReceiver

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
    return run_keyward(server, *args)


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


def secret_file_at(tmp_path):
    path = tmp_path / "hook.secret"
    path.write_bytes(SECRET + b"\n")
    os.chmod(path, 0o600)
    return path


def test_hanging_receiver_does_not_delay_another(tmp_path):
    secret_file = secret_file_at(tmp_path)
    hung, healthy = SimpleReceiver(hang=True), SimpleReceiver()
    timeout = 20  # the hung receiver's per-attempt timeout: far beyond the bound below
    server = Server(str(tmp_path / "data"), extra_args=(
        # The hung receiver first: with sequential deliveries it would go first every time.
        "--webhook", f"{hung.url},secret-file={secret_file},timeout={timeout}",
        "--webhook", f"{healthy.url},secret-file={secret_file},timeout={timeout}"))
    try:
        arn = server.client("iam").create_user(UserName="hook-orphan")["User"]["Arn"]
        start = time.time()
        kw(server, "audit", "--format", "json")

        def ours(requests):
            return [(t, json.loads(b)) for t, _, b in requests
                    if json.loads(b).get("resource") == arn
                    and json.loads(b).get("finding_type") == "OwnerMissing"]

        deadline = start + timeout
        while time.time() < deadline and not ours(healthy.received()):
            time.sleep(0.05)
        got = ours(healthy.received())
        assert got, (healthy.received(), server.output())
        # Received well before the hung receiver's first attempt could have timed out.
        assert got[0][0] - start < 5, got[0][0] - start
        for _, headers, body in healthy.received():
            assert verify(headers, body)
        # The hung receiver was asked too (and is still waiting), so it was not skipped.
        deadline = time.time() + 5
        while time.time() < deadline and not hung.received():
            time.sleep(0.05)
        assert hung.received()
        assert time.time() - start < timeout
    finally:
        hung.release.set()  # lets the server's attempt end so that it stops at once
        server.stop()
        hung.stop()
        healthy.stop()


def keyward_call(server, target, payload):
    host, port = "127.0.0.1", server.port
    status, body = json_call(host, port, server.admin_key, server.admin_secret, "keyward",
                             target, payload)
    assert status == 200, body
    return json.loads(body)


def rotate_once(data_dir, *args):
    return subprocess.run([BIN, "rotate", "--once", "--data-dir", data_dir, *args],
                          capture_output=True, text=True, timeout=60)


def test_rotate_once_delivers_the_rotation_failed_event(tmp_path):
    secret_file = secret_file_at(tmp_path)
    data = str(tmp_path / "data")
    # The server's engine ticks once a minute, so the rotation queued below is left for
    # `rotate --once` to run (and fail: the secret lacks the key fields).
    config = tmp_path / "keyward.yaml"
    config.write_text("rotation_tick_ms: 60000\n")
    server = Server(data, extra_args=("--config", str(config)))
    try:
        server.client("iam").create_user(UserName="rot-fail")
        server.client("secretsmanager").create_secret(
            Name="rot-fail/creds", SecretString=json.dumps({"username": "rot-fail",
                                                            "password": "p"}))
        policy = keyward_call(server, "CreateRotationPolicy", {
            "UserName": "rot-fail", "SecretId": "rot-fail/creds", "Delivery": {"Type": "none"},
            "AutomaticallyAfterDays": 90})["RotationPolicy"]
        rid = keyward_call(server, "RotateNow", {"PolicyId": policy["PolicyId"]})[
            "Rotation"]["RotationId"]
    finally:
        server.stop()

    # First run: the receiver is down. The failure is reported, the event kept.
    p = rotate_once(data, "--webhook", f"http://127.0.0.1:{free_port()}/down,timeout=1",
                    "--notify-timeout", "2s")
    assert p.returncode == 4, p.stdout + p.stderr
    assert rid in p.stdout and "aws_access_key_id" in p.stdout, p.stdout
    assert "notifications: 0 sent" in p.stdout and "1 left in the outbox" in p.stdout, p.stdout

    # Next run: nothing left to rotate, and the pending event reaches the receiver.
    receiver = SimpleReceiver()
    try:
        p = rotate_once(data, "--webhook", f"{receiver.url},secret-file={secret_file}")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "notifications: 1 sent" in p.stdout and "0 left in the outbox" in p.stdout, \
            p.stdout
        got = receiver.received()
        assert len(got) == 1, got
        _, headers, body = got[0]
        assert headers["X-Keyward-Event"] == "rotation_failed"
        assert verify(headers, body), headers
        event = json.loads(body)
        assert event["type"] == "rotation_failed"
        assert event["rotation_id"] == rid
        assert event["policy_id"] == policy["PolicyId"]
        assert "aws_access_key_id" in event["failure_reason"]
        assert SECRET.decode() not in p.stdout + p.stderr

        # Delivered once: a third run sends nothing.
        p = rotate_once(data, "--webhook", f"{receiver.url},secret-file={secret_file}")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "notifications: 0 sent" in p.stdout and "0 left in the outbox" in p.stdout
        assert len(receiver.received()) == 1
    finally:
        receiver.stop()
