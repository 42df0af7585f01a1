"""The external issuer: keyward rotating IAM users' keys at an AWS-compatible IAM endpoint
over SigV4 (issue 5, "Issuers"). The endpoint is played by moto's server with
authentication enforced, by moto behind a fault-injecting proxy, and by a second keyward
server. Delivery is "none" (no hosts): what is under test is the issuer path, the
orphan rule under faults, and that no key is ever leaked.

moto is not packaged by Debian 12; where it is not importable the moto tests skip.
"""
import contextlib
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request

import boto3
import botocore.config
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import aws_moto
from aws_moto import HAVE_MOTO
from conftest import REGION, Server, free_port
from fault_proxy import FaultProxy



needs_moto = pytest.mark.skipif(not HAVE_MOTO,
                                reason="moto is not installed (pip install 'moto[server]')")

# Faults as the issue asks: 20% of calls throttled, failed or delayed past the timeout.
CLIENT_TIMEOUT = 1
PROXY_DELAY = 1.6


def iam_client(endpoint, key, secret, service="iam"):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


class Moto(aws_moto.Moto):
    """moto with authentication enforced, bootstrapping only a least-privilege rotator:
    every later request must be signed by a known key and allowed."""

    def __init__(self, root):
        super().__init__(root, user="keyward-rotator", actions=[
            "iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey",
            "iam:DeleteAccessKey", "iam:GetAccessKeyLastUsed", "iam:CreateUser"])


@contextlib.contextmanager
def environment(**values):
    saved = {k: os.environ.get(k) for k in values}
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        saved.setdefault(k, os.environ[k])
        del os.environ[k]
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def world(tmp_root):
    """moto (when available), a fault proxy in front of it, a second keyward server, and
    the keyward server under test with one external issuer for each."""
    root = os.path.join(tmp_root, "external")
    os.makedirs(root, exist_ok=True)
    stack = contextlib.ExitStack()
    w = {"moto": None, "proxy": None}
    kw2 = Server(os.path.join(root, "kw2"))
    stack.callback(kw2.stop)
    w["kw2"] = kw2
    credentials = [f"[kw2]\naws_access_key_id = {kw2.admin_key}\n"
                   f"aws_secret_access_key = {kw2.admin_secret}\n"]
    issuers = {"keyward2": {"type": "aws-iam", "endpoint": kw2.endpoint, "sts_endpoint": kw2.endpoint,
                            "profile": "kw2", "calls_per_second": 50, "burst": 10,
                            "timeout_seconds": 5, "max_attempts": 4}}
    if HAVE_MOTO:
        m = Moto(root)
        stack.callback(m.stop)
        proxy = FaultProxy(m.endpoint, rate=0.2, seed=5, delay=PROXY_DELAY).start()
        stack.callback(proxy.stop)
        w["moto"], w["proxy"] = m, proxy
        credentials.append(f"[moto]\naws_access_key_id = {m.admin_key}\n"
                           f"aws_secret_access_key = {m.admin_secret}\n")
        issuers["moto"] = {"type": "aws-iam", "endpoint": m.endpoint, "sts_endpoint": m.endpoint,
                           "profile": "moto", "region": REGION, "calls_per_second": 50,
                           "burst": 10, "timeout_seconds": 5, "max_attempts": 4}
        issuers["moto-faulty"] = {"type": "aws-iam", "endpoint": proxy.endpoint,
                                  "sts_endpoint": proxy.endpoint, "profile": "moto",
                                  "calls_per_second": 100, "burst": 20,
                                  "timeout_seconds": CLIENT_TIMEOUT, "max_attempts": 10}
    cred_file = os.path.join(root, "credentials")
    with open(cred_file, "w") as f:
        f.write("\n".join(credentials))
    integrations = os.path.join(root, "integrations.yaml")
    with open(integrations, "w") as f:
        json.dump({"issuers": issuers}, f)  # JSON is YAML
    with environment(AWS_SHARED_CREDENTIALS_FILE=cred_file, AWS_CONFIG_FILE="/dev/null",
                     AWS_EC2_METADATA_DISABLED="true"):
        kw = Server(os.path.join(root, "kw"), extra_args=("--integrations", integrations))
    stack.callback(kw.stop)
    w["kw"] = kw
    w["cred_file"] = cred_file
    with stack:
        yield w


def keyward_call(server, operation, payload):
    """A call to keyward's own JSON API (the rotation operations), signed as the admin."""
    body = json.dumps(payload)
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Keyward." + operation})
    SigV4Auth(Credentials(server.admin_key, server.admin_secret), "keyward", REGION).add_auth(req)
    http_req = urllib.request.Request(server.endpoint + "/", data=body.encode(), method="POST",
                                      headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(http_req, timeout=30) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{operation}: HTTP {e.code} {e.read().decode(errors='replace')}")


def start_rotation(kw, issuer, user, secret_name, key):
    sm = kw.client("secretsmanager")
    sm.create_secret(Name=secret_name, SecretString=json.dumps({
        "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}))
    policy = keyward_call(kw, "CreateRotationPolicy", {
        "UserName": user, "SecretId": secret_name, "Issuer": issuer, "Delivery": {"Type": "none"},
        "AutomaticallyAfterDays": 90, "QuietPeriodSeconds": 1, "AckTimeoutSeconds": 60,
        "GracePeriodSeconds": 1})["RotationPolicy"]
    return keyward_call(kw, "RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]


def wait_done(kw, rotation_ids, timeout):
    deadline = time.time() + timeout
    pending = set(rotation_ids)
    last = {}
    while pending and time.time() < deadline:
        for rid in list(pending):
            r = keyward_call(kw, "GetRotation", {"RotationId": rid})["Rotation"]
            last[rid] = r
            if r["Step"] in ("done", "failed"):
                pending.discard(rid)
        time.sleep(0.5)
    assert not pending, f"rotations still running: {[last[r] for r in pending]}"
    for rid, r in last.items():
        assert r["Step"] == "done", r
    return last


def assert_rotated(kw, target_iam, user, secret_name, old_key_id):
    """Exactly one key left at the issuer, Active, the one in AWSCURRENT; the old one gone."""
    keys = target_iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert len(keys) == 1, f"leaked keys for {user}: {keys}"
    assert keys[0]["Status"] == "Active"
    assert keys[0]["AccessKeyId"] != old_key_id
    value = json.loads(kw.client("secretsmanager").get_secret_value(
        SecretId=secret_name, VersionStage="AWSCURRENT")["SecretString"])
    assert value["aws_access_key_id"] == keys[0]["AccessKeyId"]
    return value


@needs_moto
def test_rotation_against_moto_with_authentication_enforced(world):
    m, kw = world["moto"], world["kw"]
    # Authentication really is enforced: an unknown key is refused.
    with pytest.raises(Exception) as refused:
        iam_client(m.endpoint, "AKIANOBODY", "nothing").list_users()
    assert "InvalidClientTokenId" in str(refused.value)
    m.iam.create_user(UserName="app-direct")
    old = m.iam.create_access_key(UserName="app-direct")["AccessKey"]
    rid = start_rotation(kw, "moto", "app-direct", "app-direct-key", old)
    wait_done(kw, [rid], timeout=60)
    value = assert_rotated(kw, m.iam, "app-direct", "app-direct-key", old["AccessKeyId"])
    # The new key works at moto (it signs a request that moto verifies).
    ident = iam_client(m.endpoint, value["aws_access_key_id"], value["aws_secret_access_key"],
                       service="sts").get_caller_identity()
    assert ident["Arn"].endswith(":user/app-direct")
    # No secret reached the log.
    assert value["aws_secret_access_key"] not in kw.output()
    assert old["SecretAccessKey"] not in kw.output()


@needs_moto
def test_rotations_complete_through_throttling_errors_and_timeouts_without_leaking(world):
    m, kw, proxy = world["moto"], world["kw"], world["proxy"]
    users = [f"app-faulty-{i}" for i in range(4)]
    olds, rids = {}, []
    for u in users:
        m.iam.create_user(UserName=u)
        olds[u] = m.iam.create_access_key(UserName=u)["AccessKey"]
        rids.append(start_rotation(kw, "moto-faulty", u, f"{u}-key", olds[u]))
    wait_done(kw, rids, timeout=150)
    for u in users:
        assert_rotated(kw, m.iam, u, f"{u}-key", olds[u]["AccessKeyId"])
    # The faults really happened, of every kind.
    assert proxy.counts["throttle"] > 0 and proxy.counts["error"] > 0 and proxy.counts["delay"] > 0, \
        proxy.counts
    total = sum(proxy.counts.values())
    faults = total - proxy.counts["forwarded"]
    assert 0.1 < faults / total < 0.35, proxy.counts


def test_rotation_against_a_second_keyward_server(world):
    kw, kw2 = world["kw"], world["kw2"]
    iam2 = kw2.client("iam")
    iam2.create_user(UserName="app-kw2")
    old = iam2.create_access_key(UserName="app-kw2")["AccessKey"]
    rid = start_rotation(kw, "keyward2", "app-kw2", "app-kw2-key", old)
    r = wait_done(kw, [rid], timeout=60)[rid]
    assert r["Issuer"] == "keyward2"
    value = assert_rotated(kw, iam2, "app-kw2", "app-kw2-key", old["AccessKeyId"])
    ident = kw2.client("sts", key=value["aws_access_key_id"],
                       secret=value["aws_secret_access_key"]).get_caller_identity()
    assert ident["Arn"].endswith(":user/app-kw2")


def test_an_issuer_without_credentials_holds_the_rotation_and_names_the_providers(world, tmp_root):
    """A missing credential is not a crash: the rotation waits, and its reason names the
    providers the chain tried (and no secret)."""
    kw2 = world["kw2"]
    root = os.path.join(tmp_root, "external-nocreds")
    os.makedirs(root, exist_ok=True)
    integrations = os.path.join(root, "integrations.yaml")
    with open(integrations, "w") as f:
        f.write(f"issuers:\n  orphaned:\n    type: aws-iam\n    endpoint: {kw2.endpoint}\n"
                f"    profile: nobody\n    max_attempts: 1\n")
    with environment(AWS_SHARED_CREDENTIALS_FILE=os.path.join(root, "none"),
                     AWS_CONFIG_FILE=os.path.join(root, "none"), AWS_EC2_METADATA_DISABLED="true"):
        kw = Server(os.path.join(root, "kw"), extra_args=("--integrations", integrations))
    try:
        iam2 = kw2.client("iam")
        iam2.create_user(UserName="app-nocreds")
        old = iam2.create_access_key(UserName="app-nocreds")["AccessKey"]
        rid = start_rotation(kw, "orphaned", "app-nocreds", "app-nocreds-key", old)
        deadline = time.time() + 20
        reason = ""
        while time.time() < deadline and "no credentials" not in reason:
            reason = keyward_call(kw, "GetRotation", {"RotationId": rid})["Rotation"].get("WaitingReason", "")
            time.sleep(0.3)
        for provider in ("environment", "shared credentials file", "config file", "web identity",
                         "credential_process", "instance metadata"):
            assert provider in reason, reason
        keys = iam2.list_access_keys(UserName="app-nocreds")["AccessKeyMetadata"]
        assert [k["AccessKeyId"] for k in keys] == [old["AccessKeyId"]]
    finally:
        kw.stop()


def test_an_issuer_whose_credentials_expired_holds_the_rotation_and_names_the_provider(
        world, tmp_root):
    """A credential_process that hands out credentials already expired: nothing is signed
    with them, the rotation waits, and its reason names the provider and says expired (no
    secret of the process's output in the reason or the log)."""
    kw2 = world["kw2"]
    root = os.path.join(tmp_root, "external-expired")
    os.makedirs(root, exist_ok=True)
    stale = os.path.join(root, "stale.json")
    with open(stale, "w") as f:
        json.dump({"Version": 1, "AccessKeyId": kw2.admin_key,
                   "SecretAccessKey": "stale-secret-material", "SessionToken": "stale-token",
                   "Expiration": "2020-01-01T00:00:00Z"}, f)
    config = os.path.join(root, "config")
    with open(config, "w") as f:
        f.write(f"[profile stale]\ncredential_process = cat {stale}\n")
    integrations = os.path.join(root, "integrations.yaml")
    with open(integrations, "w") as f:
        f.write(f"issuers:\n  stale:\n    type: aws-iam\n    endpoint: {kw2.endpoint}\n"
                f"    sts_endpoint: {kw2.endpoint}\n    profile: stale\n    max_attempts: 1\n")
    with environment(AWS_SHARED_CREDENTIALS_FILE=os.path.join(root, "none"),
                     AWS_CONFIG_FILE=config, AWS_EC2_METADATA_DISABLED="true"):
        kw = Server(os.path.join(root, "kw"), extra_args=("--integrations", integrations))
    try:
        iam2 = kw2.client("iam")
        iam2.create_user(UserName="app-expired")
        old = iam2.create_access_key(UserName="app-expired")["AccessKey"]
        rid = start_rotation(kw, "stale", "app-expired", "app-expired-key", old)
        deadline = time.time() + 20
        r = {}
        while time.time() < deadline and "expired" not in r.get("WaitingReason", ""):
            r = keyward_call(kw, "GetRotation", {"RotationId": rid})["Rotation"]
            time.sleep(0.3)
        reason = r.get("WaitingReason", "")
        assert "credential_process (profile 'stale')" in reason, r
        assert "expired at 2020-01-01T00:00:00Z" in reason, r
        assert r["Step"] not in ("done", "failed"), r
        assert "NewAccessKeyId" not in r, r
        for secret in ("stale-secret-material", "stale-token"):
            assert secret not in reason and secret not in kw.output()
        keys = iam2.list_access_keys(UserName="app-expired")["AccessKeyMetadata"]
        assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(old["AccessKeyId"], "Active")]
    finally:
        kw.stop()


class CredentialEndpoint:
    """A stand-in for the instance metadata service (IMDSv2) or for STS's
    AssumeRoleWithWebIdentity, handing out `key` as an instance's or container's role
    credentials; it records what it was asked."""

    TOKEN = "imds-session-token-1"
    ROLE = "keyward-instance-role"

    def __init__(self, key, secret):
        import http.server
        import threading
        outer = self
        self.requests = []
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def record(self, what):
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.command, what, headers))

            def reply(self, status, body, content_type="text/plain"):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                self.record(self.path)
                if (self.path == "/latest/api/token"
                        and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")):
                    return self.reply(200, CredentialEndpoint.TOKEN)
                return self.reply(400, "")

            def do_GET(self):
                self.record(self.path)
                if self.headers.get("X-aws-ec2-metadata-token") != CredentialEndpoint.TOKEN:
                    return self.reply(401, "")  # IMDSv2 only: no token, no answer
                prefix = "/latest/meta-data/iam/security-credentials/"
                if self.path == prefix:
                    return self.reply(200, CredentialEndpoint.ROLE)
                if self.path == prefix + CredentialEndpoint.ROLE:
                    return self.reply(200, json.dumps({
                        "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": key,
                        "SecretAccessKey": secret, "Expiration": expires}), "application/json")
                return self.reply(404, "")

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                self.record(body)
                if "Action=AssumeRoleWithWebIdentity" not in body:
                    return self.reply(400, "")
                self.reply(200,
                           "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                           f"<Credentials><AccessKeyId>{key}</AccessKeyId>"
                           f"<SecretAccessKey>{secret}</SecretAccessKey>"
                           f"<Expiration>{expires}</Expiration></Credentials>"
                           "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
                           "text/xml")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def rotate_with_role_credentials(world, tmp_root, name, env):
    """A server whose only credentials are a role's (`env` says where from), rotating a
    key at the second keyward server; returns the endpoint's requests."""
    kw2 = world["kw2"]
    root = os.path.join(tmp_root, f"external-{name}")
    os.makedirs(root, exist_ok=True)
    endpoint = CredentialEndpoint(kw2.admin_key, kw2.admin_secret)
    integrations = os.path.join(root, "integrations.yaml")
    with open(integrations, "w") as f:
        f.write(f"issuers:\n  role:\n    type: aws-iam\n    endpoint: {kw2.endpoint}\n"
                f"    sts_endpoint: {kw2.endpoint}\n    max_attempts: 2\n")
    kw = None
    try:
        with environment(AWS_SHARED_CREDENTIALS_FILE=os.path.join(root, "none"),
                         AWS_CONFIG_FILE=os.path.join(root, "none"),
                         **{k: v.replace("ENDPOINT", endpoint.endpoint) for k, v in env.items()}):
            kw = Server(os.path.join(root, "kw"), extra_args=("--integrations", integrations))
        user = f"app-{name}"
        iam2 = kw2.client("iam")
        iam2.create_user(UserName=user)
        old = iam2.create_access_key(UserName=user)["AccessKey"]
        rid = start_rotation(kw, "role", user, f"{user}-key", old)
        wait_done(kw, [rid], timeout=60)
        assert_rotated(kw, iam2, user, f"{user}-key", old["AccessKeyId"])
        assert kw2.admin_secret not in kw.output()
        return endpoint.requests
    finally:
        if kw:
            kw.stop()
        endpoint.stop()


def test_a_host_with_an_instance_role_needs_no_key_of_its_own(world, tmp_root):
    """No environment keys, no files: the chain reaches IMDSv2 (a session token first,
    then the role's credentials with that token) and the rotation completes with them."""
    requests = rotate_with_role_credentials(world, tmp_root, "imds", {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": "ENDPOINT"})
    assert requests and requests[0][0] == "PUT" and requests[0][1] == "/latest/api/token", requests
    gets = [r for r in requests if r[0] == "GET"]
    assert gets and all(r[2].get("x-aws-ec2-metadata-token") == CredentialEndpoint.TOKEN
                        for r in gets), gets
    assert ("GET", f"/latest/meta-data/iam/security-credentials/{CredentialEndpoint.ROLE}") in \
        [(r[0], r[1]) for r in requests]


def test_a_container_with_web_identity_needs_no_key_of_its_own(world, tmp_root):
    """The EKS/ECS form: a projected token file and a role ARN; keyward assumes the role
    with an unsigned AssumeRoleWithWebIdentity and rotates with what it returns."""
    token_file = os.path.join(tmp_root, "web-identity-token")
    with open(token_file, "w") as f:
        f.write("eyJhbGciOiJSUzI1NiJ9.container-token\n")
    requests = rotate_with_role_credentials(world, tmp_root, "webid", {
        "AWS_WEB_IDENTITY_TOKEN_FILE": token_file,
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/keyward",
        "AWS_ENDPOINT_URL_STS": "ENDPOINT", "AWS_EC2_METADATA_DISABLED": "true"})
    posts = [r for r in requests if r[0] == "POST"]
    assert posts, requests
    body = urllib.parse.unquote_plus(posts[0][1])
    assert "WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.container-token" in body, body
    assert "RoleArn=arn:aws:iam::123456789012:role/keyward" in body, body
    assert all("authorization" not in r[2] for r in posts), posts
    assert not [r for r in requests if r[0] != "POST"], requests


def test_a_bad_integrations_file_refuses_to_start(tmp_root):
    root = os.path.join(tmp_root, "external-bad")
    os.makedirs(root, exist_ok=True)
    integrations = os.path.join(root, "integrations.yaml")
    with open(integrations, "w") as f:
        f.write("issuers:\n  aws-prod:\n    type: aws-iam\n    calls_per_secnd: 10\n")
    from conftest import BIN
    p = subprocess.run([BIN, "server", "--data-dir", os.path.join(root, "data"), "--listen",
                        f"127.0.0.1:{free_port()}", "--integrations", integrations],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "issuers.aws-prod.calls_per_secnd" in p.stderr + p.stdout
