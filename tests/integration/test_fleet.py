"""The hybrid fleet end to end: activations, real keyward-agent hosts, documents, Run
Command and maintenance windows, driven with the aws CLI and boto3 (issue 4).

Hosts are real agent processes with their own machine-id and hostname (and, where the
machine allows, their own network namespace and address): see fleet.py.
"""
import json
import os
import shutil
import time

import pytest

from conftest import Server, run_aws, run_keyward
from fleet import Agent, Host, Network, can_isolate_hosts, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_DOCUMENT = os.path.join(HERE, "seed", "document.json")
SEED_SCRIPT = os.path.join(HERE, "seed", "overwrite-secret-value.sh")
SEED_SCRIPT_PATH = "/home/hoshihaya/scripts/overwrite-secret-value.sh"  # as the seed's document says
ROLE = "KeywardFleetRole"


def final(status):
    return status in ("Success", "Failed", "TimedOut", "Cancelled", "DeliveryTimedOut")


class Fleet:
    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.net = Network.create()
        self.server = Server(os.path.join(root, "data"), listen_host="0.0.0.0")
        self.hosts = []
        self.agents = []
        self.ssm = self.server.client("ssm")
        self.iam = self.server.client("iam")

    def endpoint_for(self, host):
        if host.netns:
            return f"http://{self.net.server_ip}:{self.server.port}"
        return self.server.endpoint

    def host(self, name):
        index = len(self.hosts) + 1
        # The seed's document runs the seed's script from the path it names; each host
        # has it there, in a /home of its own.
        setup = ["mount -t tmpfs tmpfs /home", f"mkdir -p {os.path.dirname(SEED_SCRIPT_PATH)}",
                 f"cp {SEED_SCRIPT} {SEED_SCRIPT_PATH}"]
        if self.net:
            ns, ip = self.net.add_host(index)
            h = Host(self.root, name, netns=ns, ip=ip, setup=setup)
        else:
            h = Host(self.root, name, setup=setup)
        self.hosts.append(h)
        return h

    def agent(self, host, state_dir=None, env=None):
        a = Agent(host, self.endpoint_for(host), state_dir=state_dir, env=env)
        self.agents.append(a)
        return a

    def close(self):
        for a in self.agents:
            a.kill()
        self.server.stop()
        if self.net:
            self.net.destroy()


@pytest.fixture(scope="module")
def fleet(tmp_root):
    if not os.path.exists(os.environ.get("KEYWARD_AGENT_BIN", "")):
        pytest.fail("keyward-agent is not built")
    if not can_isolate_hosts():
        # Several hosts on one machine need their own machine-id and hostname; without
        # namespaces every "host" would be the same one, and the tests would prove nothing.
        pytest.skip("this machine does not allow mount/UTS namespaces (unshare), needed to "
                    "run several agent hosts on one machine")
    f = Fleet(os.path.join(tmp_root, "fleet"))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    f.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    yield f
    f.close()


def online(fleet, instance_ids):
    info = fleet.ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": list(instance_ids)}])["InstanceInformationList"]
    return len(info) == len(instance_ids) and all(i["PingStatus"] == "Online" for i in info)


def wait_command(fleet, command_id, count, timeout=60):
    def done():
        invs = fleet.ssm.list_command_invocations(CommandId=command_id, Details=True)["CommandInvocations"]
        return invs if len(invs) == count and all(final(i["Status"]) for i in invs) else None
    return wait_for(done, timeout=timeout, what=f"command {command_id}")


@pytest.fixture(scope="module")
def hosts(fleet):
    """Three registered, running hosts (an activation with limit 2, and one with limit 1)."""
    act = json.loads(run_aws(fleet.server, "ssm", "create-activation", "--iam-role", ROLE,
                             "--registration-limit", "2", "--default-instance-name", "web").stdout)
    agents = []
    for i in range(1, 4):
        host = fleet.host(f"host{i}")
        # Where the seed's script writes the key it fetched (it honours CREDENTIALS_PATH;
        # the agent passes its environment on to the commands it runs).
        agents.append(fleet.agent(host, env={"CREDENTIALS_PATH": os.path.join(host.dir, "credentials")}))
    agents[0].register(act["ActivationId"], act["ActivationCode"])
    agents[1].register(act["ActivationId"], act["ActivationCode"])
    third = agents[2].register(act["ActivationId"], act["ActivationCode"], check=False)
    refused = (third.returncode, third.stdout + third.stderr)
    desc = fleet.ssm.describe_activations(
        Filters=[{"FilterKey": "ActivationIds", "FilterValues": [act["ActivationId"]]}])
    count = desc["ActivationList"][0]["RegistrationsCount"]
    act2 = fleet.ssm.create_activation(IamRole=ROLE, RegistrationLimit=1)
    agents[2].register(act2["ActivationId"], act2["ActivationCode"])
    for a in agents:
        a.start()
    ids = [a.instance_id for a in agents]
    wait_for(lambda: online(fleet, ids), timeout=60, what="three hosts online")
    return {"agents": agents, "ids": ids, "refused": refused, "count_after_two": count}


def test_activation_limit_registers_two_hosts_and_refuses_a_third(hosts):
    code, output = hosts["refused"]
    assert code != 0
    assert "InvalidActivation" in output or "limit" in output.lower()
    assert hosts["count_after_two"] == 2
    assert all(i.startswith("mi-") and len(i) == 20 for i in hosts["ids"])
    assert len(set(hosts["ids"])) == 3


def test_describe_instance_information_reports_each_host(fleet, hosts):
    info = {i["InstanceId"]: i for i in fleet.ssm.describe_instance_information()["InstanceInformationList"]}
    for agent in hosts["agents"]:
        item = info[agent.instance_id]
        assert item["PingStatus"] == "Online"
        assert item["ComputerName"] == agent.host.name
        assert item["IamRole"] == ROLE
        assert item["PlatformType"] == "Linux"
        assert item["ResourceType"] == "ManagedInstance"
        if agent.host.netns:
            assert item["IPAddress"] == agent.host.ip


def test_seed_document_runs_the_seed_script_on_every_host_from_a_maintenance_window(fleet, hosts):
    """The seed's flow: the user's key in a secret, the instance role allowed to read only
    that secret, the seed's document (verbatim) run by a rate() maintenance window; each
    host ends with the key in its credentials file, fetched with its instance credentials."""
    user = "test001"
    fleet.iam.create_user(UserName=user)
    key = fleet.iam.create_access_key(UserName=user)["AccessKey"]
    sm = fleet.server.client("secretsmanager")
    arn = sm.create_secret(Name="iam-user-test001", SecretString=json.dumps({
        "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}))["ARN"]
    fleet.iam.put_role_policy(RoleName=ROLE, PolicyName="read-the-one-secret", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}]}))
    run_aws(fleet.server, "ssm", "create-document", "--name", "OverwriteSecretValue",
            "--document-type", "Command", "--content", f"file://{SEED_DOCUMENT}")
    window = fleet.ssm.create_maintenance_window(
        Name="rotate-keys", Schedule="rate(1 minute)", Duration=1, Cutoff=0,
        AllowUnassociatedTargets=False)["WindowId"]
    target = fleet.ssm.register_target_with_maintenance_window(
        WindowId=window, ResourceType="INSTANCE",
        Targets=[{"Key": "InstanceIds", "Values": hosts["ids"]}])["WindowTargetId"]
    fleet.ssm.register_task_with_maintenance_window(
        WindowId=window, TaskArn="OverwriteSecretValue", TaskType="RUN_COMMAND",
        Targets=[{"Key": "WindowTargetIds", "Values": [target]}], MaxConcurrency="3", MaxErrors="0")

    def window_command():
        cmds = fleet.ssm.list_commands(Filters=[{"key": "DocumentName", "value": "OverwriteSecretValue"}])["Commands"]
        return cmds[0]["CommandId"] if cmds else None
    cid = wait_for(window_command, timeout=150, interval=1, what="the window's command")
    invs = wait_command(fleet, cid, 3)
    for agent in hosts["agents"]:
        got = fleet.ssm.get_command_invocation(CommandId=cid, InstanceId=agent.instance_id)
        assert got["Status"] == "Success", got
        with open(os.path.join(agent.host.dir, "credentials")) as f:
            assert f.read() == (f"aws_access_key_id={key['AccessKeyId']}\n"
                                f"aws_secret_access_key={key['SecretAccessKey']}\n")
    executions = fleet.ssm.describe_maintenance_window_executions(WindowId=window)["WindowExecutions"]
    assert executions, "the window's execution is recorded"
    fleet.ssm.update_maintenance_window(WindowId=window, Enabled=False)


def test_rotation_delivers_the_new_key_with_the_seeds_document_and_retires_the_old(fleet, hosts):
    """What the seed's Lambda does, by keyward's rotation engine: a new key for test001,
    stored as the secret's new version, delivered by the seed's document to every host,
    then the old key deactivated and deleted once unused."""
    user, secret = "test001", "iam-user-test001"
    old = fleet.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert len(old) == 1
    policy = json.loads(kw(fleet, "rotation", "create", "--user", user, "--secret", secret,
                           "--document", "OverwriteSecretValue", "--targets", ",".join(hosts["ids"]),
                           "--after-days", "90", "--quiet-period", "2s", "--ack-timeout", "120s",
                           "--grace-period", "2s",
                           "--output", "json"))["RotationPolicy"]
    rotation = json.loads(kw(fleet, "rotation", "rotate", policy["PolicyId"], "--output", "json"))["Rotation"]

    def step():
        r = json.loads(kw(fleet, "rotation", "status", rotation["RotationId"], "--output", "json"))
        return r["Rotations"][0]["Step"]
    wait_for(lambda: step() in ("done", "failed"), timeout=180, interval=1, what="the rotation to end")
    assert step() == "done", kw(fleet, "rotation", "status", rotation["RotationId"])
    keys = fleet.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert len(keys) == 1 and keys[0]["Status"] == "Active"
    new_key = keys[0]["AccessKeyId"]
    assert new_key != old[0]["AccessKeyId"]
    value = json.loads(fleet.server.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])
    assert value["aws_access_key_id"] == new_key
    for agent in hosts["agents"]:
        with open(os.path.join(agent.host.dir, "credentials")) as f:
            assert f.read().startswith(f"aws_access_key_id={new_key}\n")


def test_source_ip_conditions_see_each_hosts_own_address(fleet, hosts):
    """With a network namespace per host, the server sees each host's own address, so a
    policy bound to one host's IP (the seed's aws:SourceIp restriction) lets that host
    read the secret and refuses the others."""
    if not fleet.net:
        pytest.skip("network namespaces are not available here (needs root and iproute2)")
    allowed, refused = hosts["agents"][0], hosts["agents"][1]
    sm = fleet.server.client("secretsmanager")
    arn = sm.create_secret(Name="ip-bound", SecretString="only-from-host1")["ARN"]
    fleet.iam.put_role_policy(RoleName=ROLE, PolicyName="ip-bound", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn,
            "Condition": {"IpAddress": {"aws:SourceIp": f"{allowed.host.ip}/32"}}}]}))
    out = fleet.ssm.send_command(
        InstanceIds=[allowed.instance_id, refused.instance_id], DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["aws secretsmanager get-secret-value --secret-id ip-bound "
                                 "--query SecretString --output text"]})
    cid = out["Command"]["CommandId"]
    wait_command(fleet, cid, 2)
    ok = fleet.ssm.get_command_invocation(CommandId=cid, InstanceId=allowed.instance_id)
    assert ok["Status"] == "Success", ok
    assert ok["StandardOutputContent"].strip() == "only-from-host1"
    no = fleet.ssm.get_command_invocation(CommandId=cid, InstanceId=refused.instance_id)
    assert no["Status"] == "Failed"
    assert "AccessDenied" in no["StandardErrorContent"]
    fleet.iam.delete_role_policy(RoleName=ROLE, PolicyName="ip-bound")


def test_agent_status_reports_instance_and_connection(hosts):
    agent = hosts["agents"][0]
    p = agent.run_cli("status")
    assert p.returncode == 0, p.stderr
    assert agent.instance_id in p.stdout
    assert "connected" in p.stdout.lower()


def test_run_shell_script_on_all_hosts_by_tag(fleet, hosts):
    for iid in hosts["ids"]:
        fleet.ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=iid,
                                       Tags=[{"Key": "tier", "Value": "web"}])
    out = json.loads(run_aws(fleet.server, "ssm", "send-command", "--document-name", "AWS-RunShellScript",
                             "--targets", "Key=tag:tier,Values=web",
                             "--parameters", 'commands=["hostname","echo err >&2"]').stdout)
    invs = wait_command(fleet, out["Command"]["CommandId"], 3)
    names = {a.instance_id: a.host.name for a in hosts["agents"]}
    for inv in invs:
        assert inv["Status"] == "Success", inv
        got = fleet.ssm.get_command_invocation(CommandId=out["Command"]["CommandId"], InstanceId=inv["InstanceId"])
        assert got["StandardOutputContent"].strip() == names[inv["InstanceId"]]
        assert got["StandardErrorContent"].strip() == "err"
        assert got["ResponseCode"] == 0


def test_timeout_and_cancel(fleet, hosts):
    iid = hosts["ids"][0]
    timed = fleet.ssm.send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript",
                                   Parameters={"commands": ["sleep 30"], "executionTimeout": ["2"]})
    inv = wait_command(fleet, timed["Command"]["CommandId"], 1, timeout=30)[0]
    assert inv["Status"] == "TimedOut"
    long = fleet.ssm.send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": ["sleep 60"]})
    cid = long["Command"]["CommandId"]
    wait_for(lambda: fleet.ssm.list_command_invocations(CommandId=cid)["CommandInvocations"][0]["Status"] == "InProgress",
             what="InProgress")
    fleet.ssm.cancel_command(CommandId=cid)
    inv = wait_command(fleet, cid, 1, timeout=30)[0]
    assert inv["Status"] == "Cancelled"


def test_max_concurrency_one_runs_hosts_one_after_another(fleet, hosts):
    out = fleet.ssm.send_command(InstanceIds=hosts["ids"], DocumentName="AWS-RunShellScript",
                                 MaxConcurrency="1", Parameters={"commands": ["date +%s.%N", "sleep 1", "date +%s.%N"]})
    cid = out["Command"]["CommandId"]
    wait_command(fleet, cid, 3)
    spans = []
    for iid in hosts["ids"]:
        lines = fleet.ssm.get_command_invocation(CommandId=cid, InstanceId=iid)["StandardOutputContent"].split()
        spans.append((float(lines[0]), float(lines[1])))
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, spans


def test_max_errors_zero_stops_after_first_failure(fleet, hosts):
    out = fleet.ssm.send_command(InstanceIds=hosts["ids"], DocumentName="AWS-RunShellScript",
                                 MaxConcurrency="1", MaxErrors="0", Parameters={"commands": ["exit 3"]})
    cid = out["Command"]["CommandId"]
    invs = wait_command(fleet, cid, 3)
    statuses = sorted(i["Status"] for i in invs)
    assert statuses.count("Failed") == 1, statuses
    assert fleet.ssm.list_commands(CommandId=cid)["Commands"][0]["Status"] == "Failed"


def test_agent_killed_and_restarted_receives_the_command_sent_while_away(fleet, hosts):
    agent = hosts["agents"][1]
    agent.kill()
    wait_for(lambda: not online(fleet, [agent.instance_id]), timeout=30, what="ConnectionLost")
    out = fleet.ssm.send_command(InstanceIds=[agent.instance_id], DocumentName="AWS-RunShellScript",
                                 Parameters={"commands": ["echo while-away"]})
    cid = out["Command"]["CommandId"]
    time.sleep(1)
    assert fleet.ssm.list_command_invocations(CommandId=cid)["CommandInvocations"][0]["Status"] == "Pending"
    agent.start()
    inv = wait_command(fleet, cid, 1)[0]
    assert inv["Status"] == "Success"
    got = fleet.ssm.get_command_invocation(CommandId=cid, InstanceId=agent.instance_id)
    assert got["StandardOutputContent"].strip() == "while-away"


def test_copied_state_dir_on_another_host_hibernates(fleet, hosts):
    original = hosts["agents"][2]
    thief_host = fleet.host("thief")
    copy = os.path.join(thief_host.dir, "stolen-state")
    shutil.copytree(original.state_dir, copy)
    thief = fleet.agent(thief_host, state_dir=copy).start()
    wait_for(lambda: "hibernat" in thief.output().lower(), timeout=30, what="hibernation log line")
    assert "FingerprintMismatch" in thief.output() or "fingerprint" in thief.output().lower()
    # It never got credentials, so it never connected: the real host stays the one online.
    time.sleep(2)
    assert thief.proc.poll() is None, "a hibernating agent keeps running (and backing off)"
    thief.kill()
    assert online(fleet, [original.instance_id])


def test_instance_credentials_are_bounded_by_the_role_and_die_on_deregistration(fleet, hosts, tmp_root):
    agent = hosts["agents"][0]
    p = agent.run_cli("credential-process")
    assert p.returncode == 0, p.stderr
    creds = json.loads(p.stdout)
    assert creds["Version"] == 1 and creds["AccessKeyId"].startswith("ASIA")
    sts = fleet.server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    ident = sts.get_caller_identity()
    assert ident["Arn"].endswith(f"assumed-role/{ROLE}/{agent.instance_id}")
    iam = fleet.server.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    with pytest.raises(Exception) as denied:
        iam.list_users()
    assert "AccessDenied" in str(denied.value)


def signed_upgrade(endpoint, path, creds, region="us-east-1"):
    """Sends a SigV4-signed WebSocket upgrade request; returns the HTTP status."""
    import http.client
    import urllib.parse
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    url = endpoint + path
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    req = AWSRequest(method="GET", url=url, headers=headers)
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
              "ssm", region).add_auth(req)
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", path, headers=dict(req.headers.items()))
    status = conn.getresponse().status
    conn.close()
    return status


def test_control_channel_refuses_another_instances_channel(fleet, hosts):
    mine, other = hosts["agents"][0], hosts["agents"][1]
    creds = json.loads(mine.run_cli("credential-process").stdout)
    assert signed_upgrade(fleet.server.endpoint, f"/v1/control-channel/{other.instance_id}", creds) == 403
    assert signed_upgrade(fleet.server.endpoint, f"/v1/control-channel/{mine.instance_id}", creds) == 101
    admin = {"AccessKeyId": fleet.server.admin_key, "SecretAccessKey": fleet.server.admin_secret,
             "SessionToken": ""}
    # Not even the administrator may open an instance's channel: only that instance.
    assert signed_upgrade(fleet.server.endpoint, f"/v1/control-channel/{mine.instance_id}", admin) in (401, 403)


def kw(fleet, *args):
    return run_keyward(fleet.server, *args).stdout


def test_host_lifecycle_wrong_code_credentials_file_rebind_and_deregistration(fleet, hosts):
    act = fleet.ssm.create_activation(IamRole=ROLE, RegistrationLimit=1)
    host = fleet.host("host4")
    creds_file = os.path.join(host.dir, "aws-credentials")
    with open(creds_file, "w") as f:
        f.write("# the operator's own key stays untouched\n[default]\naws_access_key_id = AKIAOPERATOR\n"
                "aws_secret_access_key = operator-secret\n")
    agent = fleet.agent(host)

    wrong = agent.register(act["ActivationId"], "X" * 20, check=False)
    assert wrong.returncode != 0 and "InvalidActivation" in wrong.stdout + wrong.stderr
    agent.register(act["ActivationId"], act["ActivationCode"])
    iid = agent.instance_id
    agent.start("--credentials-file", creds_file, "--profile", "keyward-instance")
    wait_for(lambda: online(fleet, [iid]), timeout=30, what="host4 online")

    import configparser
    ini = configparser.ConfigParser()
    wait_for(lambda: ini.read(creds_file) and ini.has_section("keyward-instance"), what="the agent's profile")
    assert ini["default"]["aws_access_key_id"] == "AKIAOPERATOR"
    assert ini["keyward-instance"]["aws_access_key_id"].startswith("ASIA")
    with open(creds_file) as f:
        assert f.read().startswith("# the operator's own key stays untouched\n")
    assert os.stat(creds_file).st_mode & 0o777 == 0o600

    # A new motherboard: another machine-id. The agent hibernates until an operator approves.
    agent.stop()
    with open(host.machine_id_file, "w") as f:
        f.write("0" * 32 + "\n")
    agent.start()
    wait_for(lambda: "hibernat" in agent.output().lower(), timeout=30, what="hibernation")
    kw(fleet, "instance", "rebind", iid)
    wait_for(lambda: online(fleet, [iid]), timeout=120, interval=1, what="online again after rebind")
    assert agent.instance_id == iid

    # Deregistration: the instance's credentials stop working at once.
    creds = json.loads(agent.run_cli("credential-process").stdout)
    sts = fleet.server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert sts.get_caller_identity()["Arn"].endswith(iid)
    kw(fleet, "instance", "deregister", iid)
    with pytest.raises(Exception) as refused:
        sts.get_caller_identity()
    assert "InvalidClientTokenId" in str(refused.value) or "UnrecognizedClient" in str(refused.value)
    assert agent.run_cli("credential-process").returncode != 0
    # Its control channel was closed too; reconnecting, the agent learns it is gone and stops.
    wait_for(lambda: agent.proc.poll() is not None, timeout=30, what="the deregistered agent to exit")
    assert "deregistered" in agent.output()
    agent.kill()


def test_activation_bound_to_a_source_cidr(fleet, hosts):
    """`keyward activation create --cidr` refuses registrations from other addresses."""
    if not fleet.net:
        pytest.skip("network namespaces are not available here (needs root and iproute2)")
    host = fleet.host("host5")
    elsewhere = json.loads(kw(fleet, "activation", "create", "--role", ROLE, "--cidr",
                              "192.0.2.0/24", "--output", "json"))
    agent = fleet.agent(host)
    p = agent.register(elsewhere["ActivationId"], elsewhere["ActivationCode"], check=False)
    assert p.returncode != 0 and "InvalidActivation" in p.stdout + p.stderr
    here = json.loads(kw(fleet, "activation", "create", "--role", ROLE, "--cidr",
                         f"{host.ip}/32", "--output", "json"))
    agent.register(here["ActivationId"], here["ActivationCode"])
    assert agent.instance_id.startswith("mi-")


def test_command_sent_before_a_server_crash_is_delivered_after_restart(fleet, hosts):
    """Commands are on disk before SendCommand returns: SIGKILL the server with a command
    pending for an offline host, restart it on the same data, and the host still gets it."""
    import signal
    agent = hosts["agents"][0]
    agent.kill()
    cid = fleet.ssm.send_command(InstanceIds=[agent.instance_id], DocumentName="AWS-RunShellScript",
                                 Parameters={"commands": ["echo survived"]})["Command"]["CommandId"]
    fleet.server.proc.send_signal(signal.SIGKILL)
    fleet.server.proc.wait()
    fleet.server.log.close()
    fleet.server = Server(fleet.server.data_dir, listen_host="0.0.0.0", port=fleet.server.port)
    fleet.ssm = fleet.server.client("ssm")
    agent.start()
    inv = wait_command(fleet, cid, 1)[0]
    assert inv["Status"] == "Success"
    out = fleet.ssm.get_command_invocation(CommandId=cid, InstanceId=agent.instance_id)
    assert out["StandardOutputContent"].strip() == "survived"
    # The other hosts found their way back on their own (reconnect with back-off).
    wait_for(lambda: online(fleet, hosts["ids"]), timeout=90, interval=1, what="all hosts back online")
