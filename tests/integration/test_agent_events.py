"""Agent-side events in the event log (issue 6): a real keyward-agent's registration,
connection, credential refreshes, a command run, a secret sync and, for a copy of its
state on another host, the hibernation, each read back with `aws cloudtrail
lookup-events` as an AwsServiceEvent naming the instance; the secret the sync installed,
the activation code and the command's output are in none of the events."""
import json
import os
import shutil

import pytest

from conftest import Server, run_aws
from fleet import Agent, Host, can_isolate_hosts, wait_for

ROLE = "AgentEventsRole"
OUTPUT_MARKER = "command-output-7f3a9c"


@pytest.fixture(scope="module")
def world(tmp_root):
    if not os.path.exists(os.environ.get("KEYWARD_AGENT_BIN", "")):
        pytest.fail("keyward-agent is not built")
    if not can_isolate_hosts():
        pytest.skip("this machine does not allow mount/UTS namespaces (unshare)")
    root = os.path.join(tmp_root, "agent-events")
    os.makedirs(root, exist_ok=True)
    server = Server(os.path.join(root, "data"))
    agents = []
    try:
        iam = server.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        act = server.client("ssm").create_activation(IamRole=ROLE, RegistrationLimit=1)
        host = Host(root, "evhost")
        agent = Agent(host, server.endpoint)
        agents.append(agent)
        agent.register(act["ActivationId"], act["ActivationCode"])
        agent.start()
        ssm = server.client("ssm")
        wait_for(lambda: any(i["PingStatus"] == "Online" for i in ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [agent.instance_id]}])[
                "InstanceInformationList"]), timeout=60, what="the host online")
        yield {"server": server, "agent": agent, "host": host, "root": root, "agents": agents,
               "activation": act, "secrets": [act["ActivationCode"]]}
    finally:
        for a in agents:
            a.kill()
        server.stop()


def records(server, event_name):
    out = json.loads(run_aws(server, "cloudtrail", "lookup-events", "--lookup-attributes",
                             f"AttributeKey=EventName,AttributeValue={event_name}").stdout)
    return [json.loads(e["CloudTrailEvent"]) for e in out["Events"]]


def of_instance(server, event_name, iid):
    return [r for r in records(server, event_name)
            if r["userIdentity"].get("instanceId") == iid]


def run_command(server, iid, document, parameters):
    ssm = server.client("ssm")
    cid = ssm.send_command(InstanceIds=[iid], DocumentName=document,
                           Parameters=parameters)["Command"]["CommandId"]

    def done():
        inv = ssm.list_command_invocations(CommandId=cid)["CommandInvocations"]
        return inv[0] if inv and inv[0]["Status"] in ("Success", "Failed", "TimedOut") else None
    inv = wait_for(done, timeout=60, what=f"command {cid}")
    assert inv["Status"] == "Success", ssm.get_command_invocation(CommandId=cid, InstanceId=iid)
    return cid


def test_registration_connection_and_refresh_are_recorded(world):
    server, iid = world["server"], world["agent"].instance_id
    [reg] = wait_for(lambda: of_instance(server, "RegisterManagedInstance", iid),
                     what="RegisterManagedInstance")
    assert reg["eventType"] == "AwsServiceEvent"
    assert reg["eventSource"] == "ssm.amazonaws.com"
    assert reg["requestParameters"]["ActivationId"] == world["activation"]["ActivationId"]
    assert "errorCode" not in reg

    connected = wait_for(lambda: of_instance(server, "AgentConnected", iid), what="AgentConnected")
    assert connected[0]["eventType"] == "AwsServiceEvent"

    refreshed = wait_for(lambda: of_instance(server, "RefreshInstanceCredentials", iid),
                         what="RefreshInstanceCredentials")
    assert all("errorCode" not in r for r in refreshed)
    assert refreshed[0]["sourceIPAddress"] == "127.0.0.1"


def test_command_run_is_recorded_without_its_output(world):
    server, iid = world["server"], world["agent"].instance_id
    cid = run_command(server, iid, "AWS-RunShellScript",
                      {"commands": [f"echo {OUTPUT_MARKER}"]})
    got = server.client("ssm").get_command_invocation(CommandId=cid, InstanceId=iid)
    assert OUTPUT_MARKER in got["StandardOutputContent"]  # the output exists...

    def completed():
        return [r for r in of_instance(server, "CommandInvocationCompleted", iid)
                if r["requestParameters"].get("CommandId") == cid]
    [record] = wait_for(completed, what="CommandInvocationCompleted")
    assert record["additionalEventData"]["status"] == "Success"
    assert record["additionalEventData"]["responseCode"] == 0
    assert OUTPUT_MARKER not in json.dumps(record)  # ...and is not in the event
    # The operator's SendCommand is an API call event of its own.
    sent = records(server, "SendCommand")
    assert sent and sent[0]["eventType"] == "AwsApiCall" and "errorCode" not in sent[0]


def test_secret_sync_is_recorded_and_its_secret_is_not(world):
    server, iid, host = world["server"], world["agent"].instance_id, world["host"]
    iam = server.client("iam")
    iam.create_user(UserName="ev-synced", Tags=[{"Key": "owner", "Value": "team-a"}])
    key = iam.create_access_key(UserName="ev-synced")["AccessKey"]
    world["secrets"].append(key["SecretAccessKey"])
    sm = server.client("secretsmanager")
    created = sm.create_secret(Name="ev-synced/creds", SecretString=json.dumps({
        "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}))
    iam.put_role_policy(RoleName=ROLE, PolicyName="read-synced", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                "Action": "secretsmanager:GetSecretValue",
                                                "Resource": created["ARN"]}]}))
    path = os.path.join(host.dir, "synced-credentials")
    cid = run_command(server, iid, "Keyward-SyncSecret", {
        "SecretId": ["ev-synced/creds"], "VersionId": [created["VersionId"]],
        "Format": ["credentials"], "Path": [path], "Profile": ["app"]})
    with open(path) as f:
        assert key["SecretAccessKey"] in f.read()  # installed on the host

    def completed():
        return [r for r in of_instance(server, "CommandInvocationCompleted", iid)
                if r["requestParameters"].get("CommandId") == cid]
    [record] = wait_for(completed, what="the sync's CommandInvocationCompleted")
    steps = record["additionalEventData"]["steps"]
    assert [(s["name"], s["status"]) for s in steps] == [("syncSecret", "Success")]

    # The agent's own read of the secret, with its instance credentials.
    reads = [r for r in records(server, "GetSecretValue")
             if r["userIdentity"].get("arn", "").endswith("/" + iid)]
    assert reads, records(server, "GetSecretValue")
    assert reads[0]["requestParameters"]["SecretId"] == "ev-synced/creds"
    assert reads[0]["responseElements"] is None
    assert "errorCode" not in reads[0]


def test_copied_state_hibernates_and_is_recorded(world):
    server, original = world["server"], world["agent"]
    thief_host = Host(world["root"], "evthief")
    copy = os.path.join(thief_host.dir, "stolen-state")
    shutil.copytree(original.state_dir, copy)
    thief = Agent(thief_host, server.endpoint, state_dir=copy)
    world["agents"].append(thief)
    thief.start()
    hibernated = wait_for(lambda: of_instance(server, "AgentHibernated", original.instance_id),
                          timeout=30, what="AgentHibernated")
    assert hibernated[0]["errorCode"] == "FingerprintMismatch"
    assert hibernated[0]["eventType"] == "AwsServiceEvent"
    thief.kill()
    # The genuine host's refreshes are not hibernations.
    assert all("errorCode" not in r
               for r in of_instance(server, "RefreshInstanceCredentials", original.instance_id))


def test_no_agent_event_holds_a_secret(world):
    server = world["server"]
    out = json.loads(run_aws(server, "cloudtrail", "lookup-events").stdout)
    everything = "\n".join(e["CloudTrailEvent"] for e in out["Events"])
    assert "RegisterManagedInstance" in everything and "CommandInvocationCompleted" in everything
    assert len(world["secrets"]) >= 2
    for secret in world["secrets"]:
        assert secret not in everything
    assert OUTPUT_MARKER not in everything.replace(f"echo {OUTPUT_MARKER}", "")
