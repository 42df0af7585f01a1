"""Every field of an event record, as issue 6 lists them (eventVersion, eventTime,
eventSource, eventName, awsRegion, sourceIPAddress, userAgent, userIdentity with type,
ARN and access key ID, requestParameters and responseElements with secrets redacted,
errorCode, errorMessage, requestID, eventID, readOnly), for an allowed call, a call denied
by policy and a query-protocol write whose response holds a secret."""
import datetime
import json
import os
import re
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

import event_blocks
from conftest import REGION, Server, run_aws

AGENT_MARK = "kw-event-fields/1.0"


@pytest.fixture(scope="module")
def srv(tmp_root):
    s = Server(os.path.join(tmp_root, "event-fields-data"))
    yield s
    s.stop()


def client(server, service, key=None, secret=None):
    return boto3.client(
        service, endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=key or server.admin_key,
        aws_secret_access_key=secret or server.admin_secret,
        config=botocore.config.Config(retries={"max_attempts": 1}, user_agent_extra=AGENT_MARK))


def record_of(server, request_id, timeout=10):
    """The stored record of the request with this request ID (events reach the log in
    batches, so poll briefly)."""
    ct = server.client("cloudtrail")
    deadline = time.time() + timeout
    while True:
        pages = ct.get_paginator("lookup_events").paginate(
            StartTime=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
        for page in pages:
            for e in page["Events"]:
                r = json.loads(e["CloudTrailEvent"])
                if r.get("requestID") == request_id:
                    return r, e
        if time.time() > deadline:
            raise AssertionError(f"no event with requestID {request_id}")
        time.sleep(0.2)


def common_fields(r, before, source, name):
    assert r["eventVersion"] == "1.08"
    assert r["eventSource"] == source and r["eventName"] == name
    assert r["awsRegion"] == REGION
    assert r["sourceIPAddress"] == "127.0.0.1"
    assert AGENT_MARK in r["userAgent"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["eventTime"]), r["eventTime"]
    t = datetime.datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert before - 2 <= t <= time.time() + 2
    assert str(uuid.UUID(r["eventID"])) == r["eventID"]
    assert r["eventType"] == "AwsApiCall"


def test_allowed_call_has_every_field(srv):
    sm = client(srv, "secretsmanager")
    sm.create_secret(Name="fields/app", SecretString="fields-value-1")
    before = time.time()
    out = sm.get_secret_value(SecretId="fields/app")
    r, summary = record_of(srv, out["ResponseMetadata"]["RequestId"])
    common_fields(r, before, "secretsmanager.amazonaws.com", "GetSecretValue")
    ident = r["userIdentity"]
    assert ident["type"] == "IAMUser"
    assert ident["arn"].endswith(":user/admin")
    assert ident["accessKeyId"] == srv.admin_key
    assert r["requestParameters"] == {"SecretId": "fields/app"}
    assert r["responseElements"] is None  # a read's response (the value) is never kept
    assert r["readOnly"] is True
    assert "errorCode" not in r and "errorMessage" not in r
    assert summary["EventId"] == r["eventID"] and summary["ReadOnly"] == "true"
    assert "fields-value-1" not in json.dumps(r)


def test_call_denied_by_policy_has_error_code_and_message(srv):
    iam = srv.client("iam")
    iam.create_user(UserName="fields-denied", Tags=[{"Key": "owner", "Value": "team-a"}])
    k = iam.create_access_key(UserName="fields-denied")["AccessKey"]
    sm = client(srv, "secretsmanager", k["AccessKeyId"], k["SecretAccessKey"])
    before = time.time()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId="fields/app")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    r, _ = record_of(srv, e.value.response["ResponseMetadata"]["RequestId"])
    common_fields(r, before, "secretsmanager.amazonaws.com", "GetSecretValue")
    # The record keeps keyward's reason ("AccessDenied", as CloudTrail writes it for
    # most services); the JSON answer's __type is AccessDeniedException.
    assert r["errorCode"] in ("AccessDenied", "AccessDeniedException")
    assert "fields-denied" in r["errorMessage"] or "not authorized" in r["errorMessage"]
    assert r["userIdentity"]["arn"].endswith(":user/fields-denied")
    assert r["userIdentity"]["accessKeyId"] == k["AccessKeyId"]
    assert r["responseElements"] is None
    assert k["SecretAccessKey"] not in json.dumps(r)


def test_query_protocol_write_is_redacted(srv):
    iam = client(srv, "iam")
    iam.create_user(UserName="fields-keyed", Tags=[{"Key": "owner", "Value": "team-a"}])
    before = time.time()
    out = iam.create_access_key(UserName="fields-keyed")
    secret = out["AccessKey"]["SecretAccessKey"]
    r, _ = record_of(srv, out["ResponseMetadata"]["RequestId"])
    common_fields(r, before, "iam.amazonaws.com", "CreateAccessKey")
    assert r["readOnly"] is False
    assert r["requestParameters"] == {"userName": "fields-keyed"}
    assert secret not in json.dumps(r)
    # The response as CloudTrail keeps it: the key's ID and status, never the secret.
    key = r["responseElements"]["accessKey"]
    assert key["accessKeyId"] == out["AccessKey"]["AccessKeyId"]
    assert key["status"] == "Active" and key["userName"] == "fields-keyed"
    assert key["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d\d:\d\d [AP]M",
                        key["createDate"]), key["createDate"]


def stored_records(data_dir):
    """Every record line in keyward.db, decompressed (docs/events.md, Storage)."""
    return ["\n".join(lines) for _, _, lines in event_blocks.stored(data_dir)]


def records_named(server, name):
    ct = server.client("cloudtrail")
    events = ct.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in events]


def test_query_writes_by_the_cli_keep_ids_and_never_secrets(srv):
    """A real `aws iam create-access-key` and `aws sts assume-role`: their records carry
    the key ID and status, the credentials' key ID and expiration and the assumed-role
    user, and no stored event holds the secret key or the session token."""
    run_aws(srv, "iam", "create-user", "--user-name", "fields-cli")
    key = json.loads(run_aws(srv, "iam", "create-access-key", "--user-name",
                             "fields-cli").stdout)["AccessKey"]
    account = srv.client("sts").get_caller_identity()["Account"]
    run_aws(srv, "iam", "create-role", "--role-name", "fields-cli-role",
            "--assume-role-policy-document", json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}))
    assumed = json.loads(run_aws(srv, "sts", "assume-role", "--role-arn",
                                 f"arn:aws:iam::{account}:role/fields-cli-role",
                                 "--role-session-name", "fields-session").stdout)
    creds = assumed["Credentials"]

    created = [r for r in records_named(srv, "CreateAccessKey")
               if (r["responseElements"] or {}).get("accessKey", {}).get("accessKeyId")
               == key["AccessKeyId"]]
    assert len(created) == 1, created
    elements = created[0]["responseElements"]["accessKey"]
    assert elements["status"] == "Active" and elements["userName"] == "fields-cli"
    assert elements["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"

    roles = [r for r in records_named(srv, "AssumeRole")
             if r["requestParameters"].get("roleSessionName") == "fields-session"]
    assert len(roles) == 1, roles
    r = roles[0]
    assert r["eventSource"] == "sts.amazonaws.com" and r["readOnly"] is False
    elements = r["responseElements"]
    assert elements["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert elements["credentials"]["expiration"]
    assert elements["credentials"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert elements["credentials"]["sessionToken"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert elements["assumedRoleUser"]["arn"] == assumed["AssumedRoleUser"]["Arn"]
    assert elements["assumedRoleUser"]["assumedRoleId"] == \
        assumed["AssumedRoleUser"]["AssumedRoleId"]
    create_role = [r for r in records_named(srv, "CreateRole")
                   if r["responseElements"]["role"]["roleName"] == "fields-cli-role"]
    assert len(create_role) == 1 and create_role[0]["responseElements"]["role"]["roleId"]

    # Every stored record (the lookups above waited for the writer), not only these.
    stored = stored_records(srv.data_dir)
    assert any(key["AccessKeyId"] in line for line in stored)
    for secret in (key["SecretAccessKey"], creds["SecretAccessKey"], creds["SessionToken"]):
        assert not [line for line in stored if secret in line]
