"""What webhooks carry (issue 6, Notifications): a real server with a Slack-format and a
JSON webhook announces new findings and a failed rotation; the Slack one gets a single
`{"text": ...}` line, both are HMAC-signed, and no body or header holds any secret the
test created (access-key secrets, the secret's value, the webhook secret)."""
import hashlib
import hmac
import json
import os
import time

import pytest

from conftest import Server
from rotation_client import json_call
from webhook_receiver import SimpleReceiver

HOOK_SECRET = b"payload-test-hook-secret"


def signed_ok(headers, body):
    ts = headers["X-Keyward-Timestamp"]
    expected = "sha256=" + hmac.new(HOOK_SECRET, ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Keyward-Signature"]) and \
        abs(time.time() - int(ts)) < 300


def keyward(server, target, payload):
    status, body = json_call("127.0.0.1", server.port, server.admin_key, server.admin_secret,
                             "keyward", target, payload)
    assert status == 200, body
    return json.loads(body or "{}")


def wait(predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    return predicate()


@pytest.fixture(scope="module")
def hooked(tmp_path_factory):
    root = tmp_path_factory.mktemp("hook-payloads")
    secret_file = root / "hook.secret"
    secret_file.write_bytes(HOOK_SECRET + b"\n")
    os.chmod(secret_file, 0o600)
    config = root / "keyward.yaml"
    config.write_text("rotation_tick_ms: 100\n")
    slack, plain = SimpleReceiver(), SimpleReceiver()
    server = Server(str(root / "data"), extra_args=(
        "--config", str(config),
        "--webhook", f"{slack.url},format=slack,secret-file={secret_file},timeout=5",
        "--webhook", f"{plain.url},secret-file={secret_file},timeout=5"))
    yield server, slack, plain
    server.stop()
    slack.stop()
    plain.stop()


def test_findings_and_a_failed_rotation_reach_both_formats_without_secrets(hooked):
    server, slack, plain = hooked
    secrets = [HOOK_SECRET.decode(), server.admin_secret]
    iam = server.client("iam")
    # A user with no owner tag and two active keys: two findings. The secret of one key
    # is stored in a secret whose rotation must fail (no free key slot).
    iam.create_user(UserName="hook-two")
    keys = [iam.create_access_key(UserName="hook-two")["AccessKey"] for _ in range(2)]
    secrets += [k["SecretAccessKey"] for k in keys]
    value = json.dumps({"aws_access_key_id": keys[0]["AccessKeyId"],
                        "aws_secret_access_key": keys[0]["SecretAccessKey"]})
    secrets.append(value)
    server.client("secretsmanager").create_secret(Name="hook-two/creds", SecretString=value)
    keyward(server, "RunAudit", {})

    policy = keyward(server, "CreateRotationPolicy", {
        "UserName": "hook-two", "SecretId": "hook-two/creds", "Delivery": {"Type": "none"},
        "AutomaticallyAfterDays": 90})["RotationPolicy"]
    rid = keyward(server, "RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]

    arn = iam.get_user(UserName="hook-two")["User"]["Arn"]

    def events(receiver):
        return [(h, b, json.loads(b)) for _, h, b in receiver.received()]

    def plain_done():
        got = events(plain)
        kinds = {(e.get("finding_type"), e.get("resource")) for _, _, e in got} | {
            (e["type"], e.get("rotation_id")) for _, _, e in got}
        wanted = {("OwnerMissing", arn), ("UserHasTwoActiveKeys", arn), ("rotation_failed", rid)}
        return got if wanted <= kinds else None

    def slack_done():
        got = events(slack)
        texts = [e.get("text", "") for _, _, e in got]
        wanted = [f"keyward finding [HIGH] OwnerMissing on {arn}: ",
                  f"keyward finding [MEDIUM] UserHasTwoActiveKeys on {arn}: ",
                  f"keyward rotation {rid} of user hook-two failed: "]
        return got if all(any(t.startswith(w) for t in texts) for w in wanted) else None

    got_plain = wait(plain_done)
    got_slack = wait(slack_done)
    assert got_plain, (plain.received(), server.output())
    assert got_slack, (slack.received(), server.output())

    # JSON: the events themselves.
    by_type = {}
    for h, b, e in got_plain:
        by_type.setdefault(e.get("finding_type") or e["type"], []).append(e)
    assert {"OwnerMissing", "UserHasTwoActiveKeys", "rotation_failed"} <= set(by_type)
    failed = by_type["rotation_failed"][0]
    assert failed["rotation_id"] == rid and failed["user_name"] == "hook-two"
    assert "no free access-key slot" in failed["failure_reason"], failed
    two = by_type["UserHasTwoActiveKeys"][0]
    assert set(two["evidence"]["AccessKeyIds"].split(",")) == {k["AccessKeyId"] for k in keys}

    # Slack: one "text" member, a line naming what happened.
    for h, b, e in got_slack:
        assert set(e) == {"text"} and isinstance(e["text"], str) and e["text"], e
        assert "\n" not in e["text"]

    # Every request of both, signed; and no secret anywhere in them.
    for h, b, _ in got_plain + got_slack:
        assert signed_ok(h, b), h
        wire = json.dumps(h) + b.decode()
        for s in secrets:
            assert s not in wire
    assert HOOK_SECRET.decode() not in server.output()
