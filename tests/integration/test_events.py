"""The event log: `aws cloudtrail lookup-events` reads it, refused signatures are in it
with the key that was presented, no secret ever reaches it, `keyward events verify`
catches an edited, a deleted and a reordered record, and `keyward events export` writes
CloudTrail files."""
import base64
import datetime
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import urllib.request

import botocore.exceptions
import pytest

import event_blocks
from conftest import BIN, Server, run_aws

SECRETS = []  # every secret value a test created: none may appear in a stored event


@pytest.fixture(scope="module")
def ev(tmp_root):
    s = Server(os.path.join(tmp_root, "events-data"))
    yield s
    s.stop()


def lookup_all(server, *args):
    """Every event the aws CLI returns (it follows NextToken itself)."""
    out = run_aws(server, "cloudtrail", "lookup-events", *args).stdout
    return json.loads(out)["Events"]


def test_lookup_events_filters_by_attribute_time_range_and_pages(ev):
    sm = ev.client("secretsmanager")
    value = "s3cret-" + base64.b32encode(os.urandom(10)).decode()
    SECRETS.append(value)
    sm.create_secret(Name="ev/app", SecretString=value)
    for _ in range(5):
        assert sm.get_secret_value(SecretId="ev/app")["SecretString"] == value

    # Attribute filter, with 2-event pages the CLI follows to the end.
    events = lookup_all(ev, "--lookup-attributes",
                        "AttributeKey=EventName,AttributeValue=GetSecretValue", "--page-size", "2")
    assert len(events) == 5
    times = [e["EventTime"] for e in events]
    assert times == sorted(times, reverse=True)
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventVersion"] == "1.08"
    assert record["eventSource"] == "secretsmanager.amazonaws.com"
    assert record["eventName"] == "GetSecretValue"
    assert record["userIdentity"]["type"] == "IAMUser"
    assert record["userIdentity"]["userName"] == "admin"
    assert record["userIdentity"]["accessKeyId"] == ev.admin_key
    assert record["requestParameters"] == {"SecretId": "ev/app"}
    assert record["responseElements"] is None
    assert record["readOnly"] is True
    assert events[0]["Username"] == "admin"
    assert {"ResourceType": "AWS::SecretsManager::Secret", "ResourceName": "ev/app"} in \
        events[0]["Resources"]

    by_resource = lookup_all(ev, "--lookup-attributes",
                             "AttributeKey=ResourceName,AttributeValue=ev/app")
    assert {e["EventName"] for e in by_resource} == {"CreateSecret", "GetSecretValue"}

    # Explicit pages with boto3: MaxResults and NextToken.
    ct = ev.client("cloudtrail")
    attrs = [{"AttributeKey": "EventSource", "AttributeValue": "secretsmanager.amazonaws.com"}]
    first = ct.lookup_events(LookupAttributes=attrs, MaxResults=4)
    assert len(first["Events"]) == 4 and "NextToken" in first
    second = ct.lookup_events(LookupAttributes=attrs, MaxResults=4, NextToken=first["NextToken"])
    assert len(second["Events"]) == 2 and "NextToken" not in second
    ids = [e["EventId"] for e in first["Events"] + second["Events"]]
    assert len(set(ids)) == 6

    # A time range that ends before the first call finds nothing of it; one around it does.
    created = min(e["EventTime"] for e in first["Events"] + second["Events"])
    before = ct.lookup_events(LookupAttributes=attrs, EndTime=created - datetime.timedelta(hours=1))
    assert before["Events"] == []
    around = ct.lookup_events(LookupAttributes=attrs,
                              StartTime=created - datetime.timedelta(minutes=1),
                              EndTime=created + datetime.timedelta(hours=1))
    assert len(around["Events"]) == 6

    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.lookup_events(LookupAttributes=attrs, StartTime=created, EndTime=created - datetime.timedelta(1))
    assert e.value.response["Error"]["Code"] == "InvalidTimeRangeException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "Colour", "AttributeValue": "x"}])
    assert e.value.response["Error"]["Code"] == "InvalidLookupAttributesException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.lookup_events(NextToken="bm90IGEgdG9rZW4=")
    assert e.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_refused_signatures_are_recorded_with_the_presented_key(ev):
    iam = ev.client("iam")
    iam.create_user(UserName="ev-mallory")
    key = iam.create_access_key(UserName="ev-mallory")["AccessKey"]
    SECRETS.append(key["SecretAccessKey"])
    wrong = ev.client("secretsmanager", key=key["AccessKeyId"], secret="x" * 40)
    for _ in range(3):
        with pytest.raises(botocore.exceptions.ClientError):
            wrong.get_secret_value(SecretId="ev/app")
    unknown = ev.client("sts", key="AKIAEVENTSUNKNOWN000", secret="y" * 40)
    with pytest.raises(botocore.exceptions.ClientError):
        unknown.get_caller_identity()

    events = lookup_all(ev, "--lookup-attributes",
                        f"AttributeKey=AccessKeyId,AttributeValue={key['AccessKeyId']}")
    refused = [json.loads(e["CloudTrailEvent"]) for e in events]
    assert len(refused) == 3
    for r in refused:
        assert r["errorCode"] == "SignatureDoesNotMatch"
        assert r["userIdentity"]["accessKeyId"] == key["AccessKeyId"]
        assert r["sourceIPAddress"] == "127.0.0.1"

    events = lookup_all(ev, "--lookup-attributes",
                        "AttributeKey=AccessKeyId,AttributeValue=AKIAEVENTSUNKNOWN000")
    assert len(events) == 1
    assert json.loads(events[0]["CloudTrailEvent"])["errorCode"] == "InvalidClientTokenId"


def test_secret_bearing_calls_and_agent_registration_are_recorded_redacted(ev):
    sm = ev.client("secretsmanager")
    new_value = "rotated-" + base64.b32encode(os.urandom(10)).decode()
    SECRETS.append(new_value)
    sm.put_secret_value(SecretId="ev/app", SecretString=new_value)
    binary = os.urandom(24)
    SECRETS.append(base64.b64encode(binary).decode())
    sm.create_secret(Name="ev/bin", SecretBinary=binary)
    SECRETS.append(sm.get_random_password(PasswordLength=32)["RandomPassword"])
    session = ev.client("sts").get_session_token()["Credentials"]
    SECRETS.extend([session["SecretAccessKey"], session["SessionToken"]])

    ev.client("iam").create_role(RoleName="ev-fleet", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Principal": {"Service": "ssm.amazonaws.com"}}]}))
    activation = ev.client("ssm").create_activation(IamRole="ev-fleet", RegistrationLimit=2)
    SECRETS.append(activation["ActivationCode"])
    body = json.dumps({"ActivationId": activation["ActivationId"],
                       "ActivationCode": activation["ActivationCode"],
                       "PublicKey": base64.b64encode(os.urandom(32)).decode(),
                       "Fingerprint": {"machine-id": "ev-host"}, "ComputerName": "ev-host",
                       "IPAddress": "127.0.0.1", "AgentVersion": "1.0",
                       "Platform": {"Name": "Debian", "Version": "12", "Type": "Linux"}}).encode()
    req = urllib.request.Request(ev.endpoint + "/v1/agent/register", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        instance_id = json.loads(r.read())["InstanceId"]

    events = lookup_all(ev, "--lookup-attributes",
                        "AttributeKey=EventName,AttributeValue=RegisterManagedInstance")
    assert len(events) == 1
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventType"] == "AwsServiceEvent"
    assert record["userIdentity"]["instanceId"] == instance_id
    assert record["requestParameters"]["ActivationId"] == activation["ActivationId"]

    put = lookup_all(ev, "--lookup-attributes",
                     "AttributeKey=EventName,AttributeValue=PutSecretValue")
    record = json.loads(put[0]["CloudTrailEvent"])
    assert record["requestParameters"]["SecretString"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert record["responseElements"]["Name"] == "ev/app"
    created = lookup_all(ev, "--lookup-attributes",
                         "AttributeKey=EventName,AttributeValue=CreateActivation")
    record = json.loads(created[0]["CloudTrailEvent"])
    assert record["responseElements"]["ActivationCode"] == "HIDDEN_DUE_TO_SECURITY_REASONS"


def stored_blocks(data_dir):
    """The event blocks as (key, header, record lines) (event_blocks.py)."""
    return event_blocks.stored(data_dir)


def stored_events(data_dir):
    return [line for _, _, lines in stored_blocks(data_dir) for line in lines]


def write_block(db, key, header, lines):
    value = event_blocks.encode(header, lines)
    if lines:
        db.execute("UPDATE kv SET value = ? WHERE tbl = 'events' AND key = ?", (value, key))
    else:
        db.execute("DELETE FROM kv WHERE tbl = 'events' AND key = ?", (key,))


def seq_of(value):
    return json.loads(value)["seq"]


def verify(data_dir):
    return subprocess.run([BIN, "events", "verify", "--data-dir", data_dir],
                          capture_output=True, text=True, timeout=60)


def tampered_copy(tmp_root, data_dir, name, sql_fn):
    copy = os.path.join(tmp_root, name)
    shutil.copytree(data_dir, copy)
    db = sqlite3.connect(os.path.join(copy, "keyward.db"))
    try:
        sql_fn(db)
        db.commit()
    finally:
        db.close()
    return copy


def test_no_secret_is_stored_and_verify_catches_tampering(ev, tmp_root):
    assert ev.stop() == 0
    data_dir = ev.data_dir
    assert os.stat(os.path.join(data_dir, "events-signing.key")).st_mode & 0o777 == 0o600
    blocks = stored_blocks(data_dir)
    rows = stored_events(data_dir)
    assert len(rows) > 30
    everything = "\n".join(rows)
    assert len(SECRETS) >= 8
    for secret in SECRETS:
        assert secret not in everything, "a secret value reached the event log"
    # The admin's secret key signed every request: it must not be there either.
    assert ev.admin_secret not in everything

    ok = verify(data_dir)
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout

    # Where each record's line is: (block index, line index).
    at = {seq_of(line): (b, i) for b, (_, _, lines) in enumerate(blocks)
          for i, line in enumerate(lines)}
    target = sorted(at)[len(at) // 2]

    def changed(edits):
        """Applies {seq: new line or None (removed)} to copies of the blocks and writes
        the blocks that changed."""
        def apply(db):
            touched = {}
            for seq, line in edits.items():
                b, i = at[seq]
                touched.setdefault(b, list(blocks[b][2]))[i] = line
            for b, lines in touched.items():
                key, header, _ = blocks[b]
                write_block(db, key, header, [x for x in lines if x is not None])
        return apply

    line = rows[[seq_of(r) for r in rows].index(target)]
    edit = changed({target: line.replace('"awsRegion":"us-east-1"', '"awsRegion":"eu-west-1"')})
    edited = verify(tampered_copy(tmp_root, data_dir, "ev-edited", edit))
    assert edited.returncode == 1
    assert f"sequence {target}: record was changed" in edited.stderr

    deleted = verify(tampered_copy(tmp_root, data_dir, "ev-deleted", changed({target: None})))
    assert deleted.returncode == 1
    assert f"sequence {target}: records {target} to {target} were removed" in deleted.stderr

    by_seq = {seq_of(r): r for r in rows}
    swap = changed({target: by_seq[target + 1], target + 1: by_seq[target]})
    reordered = verify(tampered_copy(tmp_root, data_dir, "ev-reordered", swap))
    assert reordered.returncode == 1
    assert f"sequence {target}: holds the record of sequence {target + 1}" in reordered.stderr

    # A verifier holding only the public key, and a head signed by another key.
    pub = os.path.join(data_dir, "events-signing.key.pub")
    only_pub = subprocess.run([BIN, "events", "verify", "--data-dir", data_dir, "--public-key", pub],
                              capture_output=True, text=True, timeout=60)
    assert only_pub.returncode == 0, only_pub.stderr

    out = os.path.join(tmp_root, "ev-export")
    today = datetime.datetime.now(datetime.timezone.utc).date()
    exported = subprocess.run(
        [BIN, "events", "export", "--data-dir", data_dir, "--since", str(today - datetime.timedelta(1)),
         "--until", str(today + datetime.timedelta(1)), "--out", out],
        capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    files = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs]
    assert files and all(f.endswith(".json.gz") and "_CloudTrail_us-east-1_" in f for f in files)
    records = []
    for f in files:
        with gzip.open(f) as g:
            records.extend(json.load(g)["Records"])
    assert len(records) == len(rows)
    assert all(r["eventVersion"] == "1.08" for r in records)
