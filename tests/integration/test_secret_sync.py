"""Agent secret sync end to end (issue 5, delivery "agent-sync"): rotations whose new key
keyward-agent installs itself (document Keyward-SyncSecret, action keyward:syncSecret),
with a real server and a real agent host.

Three rotations run at once to keep the wall time low: one into a shared-credentials
profile with a reload hook, one as credential_process output for a local user, and one
whose health check fails, which must hold the rotation with the old key active.
"""
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import REGION, Server, run_keyward
from fleet import AGENT_BIN, Agent, Host, Network, can_isolate_hosts, wait_for

ROLE = "KeywardSyncRole"
NOBODY = 65534


def keyward_call(server, operation, payload):
    """keyward's own JSON API (the rotation operations), signed as the admin."""
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


def kw_cli(server, *args):
    return run_keyward(server, *args).stdout


@pytest.fixture(scope="module")
def world(tmp_root):
    if not os.path.exists(os.environ.get("KEYWARD_AGENT_BIN", "")):
        pytest.fail("keyward-agent is not built")
    if not can_isolate_hosts():
        pytest.skip("this machine does not allow mount/UTS namespaces (unshare)")
    root = os.path.join(tmp_root, "secret-sync")
    os.makedirs(root, exist_ok=True)
    # Let the credential-process user reach the agent's tree (mkdtemp makes 0700).
    for d in (tmp_root, root):
        os.chmod(d, 0o755)
    net = Network.create()
    server = Server(os.path.join(root, "data"), listen_host="0.0.0.0")
    agent = None
    try:
        iam = server.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        if net:
            ns, ip = net.add_host(1)
            host = Host(root, "synchost", netns=ns, ip=ip)
            endpoint = f"http://{net.server_ip}:{server.port}"
        else:
            host = Host(root, "synchost")
            endpoint = server.endpoint
        os.chmod(host.dir, 0o755)
        agent = Agent(host, endpoint)
        act = server.client("ssm").create_activation(IamRole=ROLE, RegistrationLimit=1)
        agent.register(act["ActivationId"], act["ActivationCode"])
        agent.start()
        ssm = server.client("ssm")
        wait_for(lambda: any(i["PingStatus"] == "Online" for i in ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [agent.instance_id]}])["InstanceInformationList"]),
            timeout=60, what="the host online")
        yield {"server": server, "agent": agent, "host": host, "iam": iam,
               "sm": server.client("secretsmanager")}
    finally:
        if agent:
            agent.kill()
        server.stop()
        if net:
            net.destroy()


def user_with_secret(w, name):
    w["iam"].create_user(UserName=name)
    key = w["iam"].create_access_key(UserName=name)["AccessKey"]
    arn = w["sm"].create_secret(Name=f"{name}-key", SecretString=json.dumps({
        "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}))["ARN"]
    return key, arn


def start(w, user, parameters):
    policy = keyward_call(w["server"], "CreateRotationPolicy", {
        "UserName": user, "SecretId": f"{user}-key",
        "Delivery": {"Type": "agent-sync", "Parameters": parameters},
        "Targets": [{"Key": "InstanceIds", "Values": [w["agent"].instance_id]}],
        "AutomaticallyAfterDays": 90, "QuietPeriodSeconds": 1, "AckTimeoutSeconds": 300,
        "GracePeriodSeconds": 1})["RotationPolicy"]
    return keyward_call(w["server"], "RotateNow", {"PolicyId": policy["PolicyId"]})["Rotation"]["RotationId"]


def rotation(w, rid):
    return keyward_call(w["server"], "GetRotation", {"RotationId": rid})["Rotation"]


def test_agent_sync_installs_reloads_serves_credential_process_and_holds_on_failed_health(world):
    w = world
    host_dir = w["host"].dir
    iid = w["agent"].instance_id
    app_key, app_arn = user_with_secret(w, "syncapp")
    cp_key, cp_arn = user_with_secret(w, "syncproc")
    bad_key, bad_arn = user_with_secret(w, "syncbad")
    # The seed's shape: the instance role may read exactly these secrets.
    w["iam"].put_role_policy(RoleName=ROLE, PolicyName="read-synced", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": [app_arn, cp_arn, bad_arn]}]}))

    aws_dir = os.path.join(host_dir, "aws")
    os.makedirs(aws_dir)
    credentials = os.path.join(aws_dir, "credentials")
    with open(credentials, "w") as f:
        f.write("# kept by hand\n[default]\naws_access_key_id = AKIAKEEPME\n"
                "aws_secret_access_key = keep-me\n\n; the application's profile\n[app]\n"
                f"region = us-east-1\naws_access_key_id = {app_key['AccessKeyId']}\n"
                f"aws_secret_access_key = {app_key['SecretAccessKey']}\n")
    reloads = os.path.join(host_dir, "reloads")
    env_file = os.path.join(host_dir, "bad.env")
    old_env = (f"APP_MODE=prod\nAWS_ACCESS_KEY_ID={bad_key['AccessKeyId']}\n"
               f"AWS_SECRET_ACCESS_KEY={bad_key['SecretAccessKey']}\n")
    with open(env_file, "w") as f:
        f.write(old_env)

    good = start(w, "syncapp", {
        "format": "credentials", "path": credentials, "profile": "app", "mode": "0640",
        "reload": f"command:echo reloaded >> {reloads}",
        "health_check": f"grep -q '^\\[app\\]' {credentials}"})
    proc = start(w, "syncproc", {"format": "credential-process", "user": str(NOBODY)})
    bad = start(w, "syncbad", {"format": "env", "path": env_file, "health_check": "exit 7",
                               "health_timeout_seconds": "5"})

    def ended(rid):
        return rotation(w, rid)["Step"] in ("done", "failed")
    wait_for(lambda: ended(good) and ended(proc), timeout=120, interval=0.5,
             what="the two healthy rotations to end")

    # 1. The profile got the new key; everything else in the file is as it was.
    r = rotation(w, good)
    assert r["Step"] == "done", r
    keys = w["iam"].list_access_keys(UserName="syncapp")["AccessKeyMetadata"]
    assert [k["Status"] for k in keys] == ["Active"] and keys[0]["AccessKeyId"] != app_key["AccessKeyId"]
    new = json.loads(w["sm"].get_secret_value(SecretId="syncapp-key")["SecretString"])
    assert new["aws_access_key_id"] == keys[0]["AccessKeyId"]
    with open(credentials) as f:
        assert f.read() == (
            "# kept by hand\n[default]\naws_access_key_id = AKIAKEEPME\n"
            "aws_secret_access_key = keep-me\n\n; the application's profile\n[app]\n"
            f"aws_access_key_id = {new['aws_access_key_id']}\n"
            f"aws_secret_access_key = {new['aws_secret_access_key']}\nregion = us-east-1\n")
    assert os.stat(credentials).st_mode & 0o7777 == 0o640
    assert sorted(os.listdir(aws_dir)) == [".credentials.keyward-lock", "credentials"]  # no temp, no backup
    with open(reloads) as f:
        assert f.read() == "reloaded\n"
    # The command that delivered it never carried the key.
    cmds = w["server"].client("ssm").list_commands()["Commands"]
    sync_cmds = [c for c in cmds if c["DocumentName"] == "Keyward-SyncSecret"]
    assert sync_cmds and not any(new["aws_secret_access_key"] in json.dumps(c, default=str) for c in sync_cmds)

    # 2. credential_process output for the configured user, refused to anyone else.
    r = rotation(w, proc)
    assert r["Step"] == "done", r
    newp = json.loads(w["sm"].get_secret_value(SecretId="syncproc-key")["SecretString"])
    state_dir = w["agent"].state_dir

    def as_user(uid):
        return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                               AGENT_BIN, "credential-process",
                               "--secret-id", "syncproc-key", "--state-dir", state_dir],
                              capture_output=True, text=True, timeout=30)
    ok = as_user(NOBODY)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"Version": 1, "AccessKeyId": newp["aws_access_key_id"],
                                     "SecretAccessKey": newp["aws_secret_access_key"]}
    refused = as_user(12345)
    assert refused.returncode != 0
    assert "Permission denied" in refused.stderr and newp["aws_secret_access_key"] not in refused.stdout

    # 3. The failing health check holds the rotation, names the host, keeps the old key.
    def held():
        r = rotation(w, bad)
        hosts = {h["InstanceId"]: h for h in r.get("Hosts", [])}
        return r if hosts.get(iid, {}).get("Status") == "failed" else None
    r = wait_for(held, timeout=60, interval=0.5, what="the failed host to be reported")
    assert r["Step"] == "distribute", r
    assert iid in r["WaitingReason"] and "failed" in r["WaitingReason"]
    status = kw_cli(w["server"], "rotation", "status", bad)
    assert iid in status
    keys = {k["AccessKeyId"]: k["Status"] for k in
            w["iam"].list_access_keys(UserName="syncbad")["AccessKeyMetadata"]}
    assert keys[bad_key["AccessKeyId"]] == "Active"
    with open(env_file) as f:
        assert f.read() == old_env  # the previous key is back
    failed = [c for c in w["server"].client("ssm").list_commands()["Commands"]
              if c["DocumentName"] == "Keyward-SyncSecret" and c["Status"] == "Failed"]
    assert failed, "the failed sync is visible as a failed command"
    out = w["server"].client("ssm").get_command_invocation(
        CommandId=failed[0]["CommandId"], InstanceId=iid)
    assert "health check exited with 7" in out["StandardErrorContent"]
