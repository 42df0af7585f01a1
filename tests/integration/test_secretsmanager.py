"""The Secrets Manager-compatible API against a real server, held to AWS's documented behaviour.

boto3 drives most of it; the aws CLI covers what an operator types. Secret values are
random per test, so the security test can look for them in the data directory and the log.
"""
import base64
import datetime
import http.client
import json
import os
import re
import sqlite3
import time
import uuid

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION, Server, run_aws

PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def error_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def error_message(exc_info):
    return exc_info.value.response["Error"].get("Message", "")


def token():
    """A ClientRequestToken (AWS wants 32 to 64 characters; a UUID is what the SDKs send)."""
    return str(uuid.uuid4())


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def arn_pattern(name):
    return rf"arn:aws:secretsmanager:{REGION}:\d{{12}}:secret:{re.escape(name)}-[A-Za-z0-9]{{6}}"


def stages(sm, secret_id):
    """VersionIdsToStages with the labels as sets, so order does not matter."""
    d = sm.describe_secret(SecretId=secret_id)
    return {v: set(s) for v, s in d.get("VersionIdsToStages", {}).items()}


def send_json(server, target, body, key=None, secret=None):
    """POSTs a signed JSON 1.1 request (body as text); returns (status, parsed body or text)."""
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": f"secretsmanager.{target}"})
    SigV4Auth(Credentials(key or server.admin_key, secret or server.admin_secret),
              "secretsmanager", REGION).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    conn.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


def json_error_code(parsed):
    """The error name from a JSON 1.1 error body (`__type` may carry a `namespace#` prefix)."""
    assert isinstance(parsed, dict), parsed
    return parsed.get("__type", "").split("#")[-1]


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


@pytest.fixture
def account(sts):
    return sts.get_caller_identity()["Account"]


# --- versions and staging labels ------------------------------------------------------------


def test_version_and_staging_life_cycle(sm, unique):
    name = unique + "/db"
    t1, t2, t3, t4 = token(), token(), token(), token()
    created = sm.create_secret(Name=name, SecretString="v1", ClientRequestToken=t1)
    assert created["Name"] == name and created["VersionId"] == t1
    assert re.fullmatch(arn_pattern(name), created["ARN"]), created["ARN"]

    got = sm.get_secret_value(SecretId=name)
    assert got["SecretString"] == "v1" and got["VersionId"] == t1
    assert got["VersionStages"] == ["AWSCURRENT"]
    assert got["ARN"] == created["ARN"] and got["Name"] == name
    assert "SecretBinary" not in got
    assert abs((now() - got["CreatedDate"]).total_seconds()) < 300

    put = sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=t2)
    assert put["VersionId"] == t2 and put["VersionStages"] == ["AWSCURRENT"]
    assert put["ARN"] == created["ARN"]
    assert stages(sm, name) == {t1: {"AWSPREVIOUS"}, t2: {"AWSCURRENT"}}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v2"
    prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert prev["SecretString"] == "v1" and prev["VersionId"] == t1
    assert sm.get_secret_value(SecretId=name, VersionId=t1)["SecretString"] == "v1"
    both = sm.get_secret_value(SecretId=name, VersionId=t2, VersionStage="AWSCURRENT")
    assert both["SecretString"] == "v2"

    # The same token with the same value is a no-op: no new version, labels stay put.
    again = sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=t2)
    assert again["VersionId"] == t2
    assert stages(sm, name) == {t1: {"AWSPREVIOUS"}, t2: {"AWSCURRENT"}}
    # The same token with another value would rewrite a version: refused.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.put_secret_value(SecretId=name, SecretString="v2-changed", ClientRequestToken=t2)
    assert error_code(e) == "ResourceExistsException"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v2"

    sm.put_secret_value(SecretId=name, SecretString="v3", ClientRequestToken=t3)
    # t1 lost its last label: deprecated, listed only with IncludeDeprecated.
    assert stages(sm, name) == {t2: {"AWSPREVIOUS"}, t3: {"AWSCURRENT"}}
    listed = sm.list_secret_version_ids(SecretId=name)
    assert listed["ARN"] == created["ARN"] and listed["Name"] == name
    assert {v["VersionId"]: set(v["VersionStages"]) for v in listed["Versions"]} == {
        t2: {"AWSPREVIOUS"}, t3: {"AWSCURRENT"}}
    for v in listed["Versions"]:
        assert isinstance(v["CreatedDate"], datetime.datetime)
    with_deprecated = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)
    assert {v["VersionId"]: set(v.get("VersionStages", [])) for v in
            with_deprecated["Versions"]} == {t1: set(), t2: {"AWSPREVIOUS"}, t3: {"AWSCURRENT"}}

    # A version staged explicitly does not take AWSCURRENT.
    pending = sm.put_secret_value(SecretId=name, SecretString="v4", ClientRequestToken=t4,
                                  VersionStages=["AWSPENDING"])
    assert pending["VersionStages"] == ["AWSPENDING"]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v3"
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPENDING")["SecretString"] == "v4"

    # Moving AWSCURRENT: the old current becomes AWSPREVIOUS; t2 is left without labels.
    out = sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                         MoveToVersionId=t4, RemoveFromVersionId=t3)
    assert out["ARN"] == created["ARN"] and out["Name"] == name
    assert stages(sm, name) == {t3: {"AWSPREVIOUS"}, t4: {"AWSPENDING", "AWSCURRENT"}}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v4"

    # A label attached elsewhere cannot be moved without naming where it is removed from.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                       MoveToVersionId=t3)
    assert error_code(e) == "InvalidParameterException"
    # ... nor when RemoveFromVersionId names a version that does not hold it.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                       MoveToVersionId=t3, RemoveFromVersionId=t2)
    assert error_code(e) in ("InvalidParameterException", "InvalidRequestException")
    assert sm.get_secret_value(SecretId=name)["VersionId"] == t4
    assert stages(sm, name) == {t3: {"AWSPREVIOUS"}, t4: {"AWSPENDING", "AWSCURRENT"}}

    # Removing a label.
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING",
                                   RemoveFromVersionId=t4)
    assert stages(sm, name) == {t3: {"AWSPREVIOUS"}, t4: {"AWSCURRENT"}}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId=name, VersionStage="AWSPENDING")
    assert error_code(e) == "ResourceNotFoundException"

    # A deprecated version is still there (far below the pruning limit) and can be current again.
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                   MoveToVersionId=t1, RemoveFromVersionId=t4)
    assert stages(sm, name) == {t1: {"AWSCURRENT"}, t4: {"AWSPREVIOUS"}}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v1"

    # A custom label, then unknown versions and labels.
    sm.update_secret_version_stage(SecretId=name, VersionStage="blue", MoveToVersionId=t3)
    assert sm.get_secret_value(SecretId=name, VersionStage="blue")["SecretString"] == "v3"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId=name, VersionId=token())
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId=name, VersionStage="green")
    assert error_code(e) == "ResourceNotFoundException"


def test_generated_version_ids_and_update_secret_value(sm, unique):
    created = sm.create_secret(Name=unique, SecretString="a")
    v1 = created["VersionId"]
    assert 32 <= len(v1) <= 64
    v2 = sm.put_secret_value(SecretId=unique, SecretString="b")["VersionId"]
    assert v2 != v1 and 32 <= len(v2) <= 64
    # UpdateSecret with a value is a new version that takes AWSCURRENT, like PutSecretValue.
    upd = sm.update_secret(SecretId=unique, SecretString="c", Description="changed")
    assert upd["VersionId"] not in (v1, v2) and upd["Name"] == unique
    assert sm.get_secret_value(SecretId=unique)["SecretString"] == "c"
    assert stages(sm, unique) == {v2: {"AWSPREVIOUS"}, upd["VersionId"]: {"AWSCURRENT"}}
    # UpdateSecret without a value changes metadata only.
    upd2 = sm.update_secret(SecretId=unique, Description="again")
    assert "VersionId" not in upd2
    assert sm.describe_secret(SecretId=unique)["Description"] == "again"
    assert sm.get_secret_value(SecretId=unique)["VersionId"] == upd["VersionId"]


def test_secret_without_value_has_no_current_version(sm, unique):
    created = sm.create_secret(Name=unique, Description="empty for now")
    assert "VersionId" not in created
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId=unique)
    assert error_code(e) == "ResourceNotFoundException"
    assert not sm.describe_secret(SecretId=unique).get("VersionIdsToStages")
    first = sm.put_secret_value(SecretId=unique, SecretString="first")
    assert first["VersionStages"] == ["AWSCURRENT"]
    assert stages(sm, unique) == {first["VersionId"]: {"AWSCURRENT"}}


def test_create_existing_name_is_resource_exists(sm, unique):
    sm.create_secret(Name=unique, SecretString="x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name=unique, SecretString="y")
    assert error_code(e) == "ResourceExistsException"
    assert sm.get_secret_value(SecretId=unique)["SecretString"] == "x"


def test_binary_secret_round_trip(server, sm, unique, tmp_path):
    data = bytes(range(256)) * 4 + b"\x00end"
    created = sm.create_secret(Name=unique, SecretBinary=data)
    got = sm.get_secret_value(SecretId=unique)
    assert got["SecretBinary"] == data and "SecretString" not in got
    assert got["VersionId"] == created["VersionId"]

    # Through the CLI: fileb:// in, base64 out.
    blob = os.urandom(512)
    path = tmp_path / "blob.bin"
    path.write_bytes(blob)
    run_aws(server, "secretsmanager", "put-secret-value", "--secret-id", unique,
            "--secret-binary", f"fileb://{path}")
    out = run_aws(server, "secretsmanager", "get-secret-value", "--secret-id", unique,
                  "--query", "SecretBinary", "--output", "text").stdout.strip()
    assert base64.b64decode(out) == blob
    assert sm.get_secret_value(SecretId=unique, VersionStage="AWSPREVIOUS")["SecretBinary"] == data


# --- identifiers ------------------------------------------------------------------------------


def test_lookup_by_name_full_arn_and_partial_arn(server, sm, unique):
    name = unique + "/svc"
    longer = name + "-extra"  # a name the partial ARN of `name` must not be confused with
    arn = sm.create_secret(Name=name, SecretString="short")["ARN"]
    arn2 = sm.create_secret(Name=longer, SecretString="long")["ARN"]
    assert re.fullmatch(arn_pattern(name), arn) and re.fullmatch(arn_pattern(longer), arn2)
    partial = arn[:-7]
    assert partial.endswith(":secret:" + name)
    for sid in (name, arn, partial):
        got = sm.get_secret_value(SecretId=sid)
        assert got["SecretString"] == "short" and got["ARN"] == arn and got["Name"] == name, sid
        assert sm.describe_secret(SecretId=sid)["ARN"] == arn, sid
    for sid in (longer, arn2, arn2[:-7]):
        assert sm.get_secret_value(SecretId=sid)["SecretString"] == "long", sid

    # A full ARN with the wrong suffix names no secret.
    wrong = arn[:-6] + ("AAAAAA" if arn[-6:] != "AAAAAA" else "BBBBBB")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId=wrong)
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId=unique + "/nothing-here")
    assert error_code(e) == "ResourceNotFoundException"

    out = run_aws(server, "secretsmanager", "get-secret-value", "--secret-id", partial,
                  "--query", "SecretString", "--output", "text").stdout
    assert out == "short\n"


# --- metadata ----------------------------------------------------------------------------------


def test_describe_secret_fields(sm, unique):
    tags = [{"Key": "team", "Value": "infra"}, {"Key": "env", "Value": "prod"}]
    created = sm.create_secret(Name=unique, SecretString="d", Description="db password",
                               Tags=tags)
    d = sm.describe_secret(SecretId=unique)
    assert d["ARN"] == created["ARN"] and d["Name"] == unique
    assert d["Description"] == "db password"
    assert sorted(d["Tags"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    assert d["VersionIdsToStages"] == {created["VersionId"]: ["AWSCURRENT"]}
    assert abs((now() - d["CreatedDate"]).total_seconds()) < 300
    assert abs((now() - d["LastChangedDate"]).total_seconds()) < 300
    assert "LastAccessedDate" not in d  # never read yet
    assert "DeletedDate" not in d
    assert not d.get("RotationEnabled", False)

    sm.get_secret_value(SecretId=unique)
    d2 = sm.describe_secret(SecretId=unique)
    # AWS reports the access date truncated to the day.
    assert "LastAccessedDate" in d2
    age = (now() - d2["LastAccessedDate"]).total_seconds()
    assert 0 <= age < 86400 + 300, d2["LastAccessedDate"]

    time.sleep(1.1)
    sm.put_secret_value(SecretId=unique, SecretString="d2")
    d3 = sm.describe_secret(SecretId=unique)
    assert d3["LastChangedDate"] > d["LastChangedDate"]
    assert len(d3["VersionIdsToStages"]) == 2


def test_tag_and_untag(server, sm, unique):
    sm.create_secret(Name=unique, SecretString="t", Tags=[{"Key": "a", "Value": "1"}])
    sm.tag_resource(SecretId=unique, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "9"}])
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=unique)["Tags"]}
    assert tags == {"a": "9", "b": "2"}
    sm.untag_resource(SecretId=unique, TagKeys=["a", "not-there"])
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=unique).get("Tags", [])}
    assert tags == {"b": "2"}

    run_aws(server, "secretsmanager", "tag-resource", "--secret-id", unique,
            "--tags", "Key=owner,Value=alice")
    out = json.loads(run_aws(server, "secretsmanager", "describe-secret", "--secret-id",
                             unique).stdout)
    assert {"Key": "owner", "Value": "alice"} in out["Tags"]

    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.tag_resource(SecretId=unique, Tags=too_many)
    assert error_code(e) in ("InvalidParameterException", "ValidationException",
                             "LimitExceededException")
    assert len(sm.describe_secret(SecretId=unique)["Tags"]) == 2

    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.tag_resource(SecretId=unique + "-missing", Tags=[{"Key": "x", "Value": "y"}])
    assert error_code(e) == "ResourceNotFoundException"


# --- listing ----------------------------------------------------------------------------------


def list_names(sm, filters, **kwargs):
    pages = sm.get_paginator("list_secrets").paginate(Filters=filters, **kwargs)
    return [s["Name"] for page in pages for s in page["SecretList"]]


def test_list_secrets_filters(server, sm, unique):
    p = unique
    sm.create_secret(Name=f"{p}/alpha", SecretString="1", Description="Primary database",
                     Tags=[{"Key": "team", "Value": "infra"}])
    sm.create_secret(Name=f"{p}/beta", SecretString="2", Description="cache for prod",
                     Tags=[{"Key": "team", "Value": "web"}, {"Key": "env", "Value": "prod"}])
    sm.create_secret(Name=f"{p}/gamma", SecretString="3", Description="primary queue",
                     Tags=[{"Key": "owner", "Value": "bob"}])
    mine = {"Key": "name", "Values": [p + "/"]}

    def names(*filters):
        return sorted(list_names(sm, [mine, *filters]))

    assert names() == [f"{p}/alpha", f"{p}/beta", f"{p}/gamma"]
    assert sorted(list_names(sm, [{"Key": "name", "Values": [f"{p}/al"]}])) == [f"{p}/alpha"]
    # Several values in one filter: any of them.
    assert sorted(list_names(sm, [{"Key": "name", "Values": [f"{p}/alpha", f"{p}/gamma"]}])) == [
        f"{p}/alpha", f"{p}/gamma"]
    # name is case-sensitive.
    assert list_names(sm, [{"Key": "name", "Values": [p.upper() + "/"]}]) == []
    assert names({"Key": "tag-key", "Values": ["env"]}) == [f"{p}/beta"]
    assert names({"Key": "tag-value", "Values": ["infra"]}) == [f"{p}/alpha"]
    # description is not case-sensitive.
    assert names({"Key": "description", "Values": ["primary"]}) == [f"{p}/alpha", f"{p}/gamma"]
    # Negation.
    assert names({"Key": "description", "Values": ["!primary"]}) == [f"{p}/beta"]
    assert names({"Key": "tag-key", "Values": ["!team"]}) == [f"{p}/gamma"]

    listed = sm.list_secrets(Filters=[mine])["SecretList"]
    alpha = next(s for s in listed if s["Name"] == f"{p}/alpha")
    assert re.fullmatch(arn_pattern(f"{p}/alpha"), alpha["ARN"])
    assert alpha["Description"] == "Primary database"
    assert alpha["Tags"] == [{"Key": "team", "Value": "infra"}]
    assert "SecretString" not in json.dumps(alpha, default=str)

    # SortBy is newer than Debian's botocore: sent raw.
    for order, expected in (("desc", [f"{p}/gamma", f"{p}/beta", f"{p}/alpha"]),
                            ("asc", [f"{p}/alpha", f"{p}/beta", f"{p}/gamma"])):
        status, body = send_json(server, "ListSecrets", json.dumps(
            {"Filters": [mine], "SortBy": "name", "SortOrder": order}))
        assert status == 200, body
        assert [s["Name"] for s in body["SecretList"]] == expected

    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.list_secrets(Filters=[{"Key": "colour", "Values": ["blue"]}])
    assert error_code(e) in ("InvalidParameterException", "ValidationException")


def test_list_secrets_pagination(server, sm, unique):
    wanted = [f"{unique}/p{i:02d}" for i in range(7)]
    for n in wanted:
        sm.create_secret(Name=n, SecretString="x")
    flt = [{"Key": "name", "Values": [unique + "/"]}]
    first = sm.list_secrets(Filters=flt, MaxResults=3)
    assert len(first["SecretList"]) <= 3 and first.get("NextToken")
    pages = list(sm.get_paginator("list_secrets").paginate(
        Filters=flt, PaginationConfig={"PageSize": 3}))
    # AWS may return short pages with filters; never more than asked for.
    assert len(pages) >= 3 and all(len(page["SecretList"]) <= 3 for page in pages)
    assert "NextToken" not in pages[-1]
    got = [s["Name"] for page in pages for s in page["SecretList"]]
    assert sorted(got) == wanted and len(got) == len(set(got))

    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.list_secrets(Filters=flt, NextToken="not-a-token")
    assert error_code(e) in ("InvalidNextTokenException", "InvalidParameterException")

    # The CLI pages through everything on its own.
    out = run_aws(server, "secretsmanager", "list-secrets", "--filters",
                  f"Key=name,Values={unique}/", "--page-size", "2",
                  "--query", "SecretList[].Name").stdout
    assert sorted(json.loads(out)) == wanted


# --- deletion ---------------------------------------------------------------------------------


def listed_with_planned_deletion(server, filters):
    # IncludePlannedDeletion is newer than Debian's botocore: sent raw.
    status, body = send_json(server, "ListSecrets", json.dumps(
        {"Filters": filters, "IncludePlannedDeletion": True}))
    assert status == 200, body
    return [s["Name"] for s in body["SecretList"]]


def test_delete_with_recovery_window_then_restore(server, sm, unique):
    arn = sm.create_secret(Name=unique, SecretString="keep me")["ARN"]
    out = sm.delete_secret(SecretId=unique, RecoveryWindowInDays=7)
    assert out["ARN"] == arn and out["Name"] == unique
    delta = out["DeletionDate"] - now()
    assert datetime.timedelta(days=7) - datetime.timedelta(minutes=10) < delta < \
        datetime.timedelta(days=7, minutes=10), delta

    for call in (lambda: sm.get_secret_value(SecretId=unique),
                 lambda: sm.put_secret_value(SecretId=unique, SecretString="new"),
                 lambda: sm.update_secret(SecretId=unique, Description="nope")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == "InvalidRequestException"
        assert "deletion" in error_message(e).lower() or "deleted" in error_message(e).lower()
    # Still described, with the date it was deleted.
    d = sm.describe_secret(SecretId=unique)
    assert abs((now() - d["DeletedDate"]).total_seconds()) < 300
    # The name stays taken while the secret can still be restored.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name=unique, SecretString="other")
    assert error_code(e) == "InvalidRequestException"
    flt = [{"Key": "name", "Values": [unique]}]
    assert unique not in list_names(sm, flt)
    assert unique in listed_with_planned_deletion(server, flt)

    restored = sm.restore_secret(SecretId=unique)
    assert restored["ARN"] == arn and restored["Name"] == unique
    assert sm.get_secret_value(SecretId=unique)["SecretString"] == "keep me"
    assert "DeletedDate" not in sm.describe_secret(SecretId=unique)
    assert unique in list_names(sm, flt)


def test_default_recovery_window_is_30_days(sm, unique):
    sm.create_secret(Name=unique, SecretString="x")
    out = sm.delete_secret(SecretId=unique)
    days = (out["DeletionDate"] - now()).total_seconds() / 86400
    assert 29.99 < days < 30.01, days


def test_force_delete_frees_the_name(sm, unique):
    old_arn = sm.create_secret(Name=unique, SecretString="old")["ARN"]
    out = sm.delete_secret(SecretId=unique, ForceDeleteWithoutRecovery=True)
    assert out["ARN"] == old_arn
    for call in (lambda: sm.get_secret_value(SecretId=unique),
                 lambda: sm.describe_secret(SecretId=unique),
                 lambda: sm.restore_secret(SecretId=unique)):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFoundException"
    new_arn = sm.create_secret(Name=unique, SecretString="new")["ARN"]
    assert new_arn != old_arn and re.fullmatch(arn_pattern(unique), new_arn)
    assert sm.get_secret_value(SecretId=unique)["SecretString"] == "new"
    # The old ARN does not reach the new secret.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId=old_arn)
    assert error_code(e) == "ResourceNotFoundException"


def test_force_delete_of_a_secret_scheduled_for_deletion(sm, unique):
    sm.create_secret(Name=unique, SecretString="x")
    sm.delete_secret(SecretId=unique, RecoveryWindowInDays=10)
    sm.delete_secret(SecretId=unique, ForceDeleteWithoutRecovery=True)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_secret(SecretId=unique)
    assert error_code(e) == "ResourceNotFoundException"


@pytest.mark.parametrize("kwargs", [
    {"RecoveryWindowInDays": 6},
    {"RecoveryWindowInDays": 31},
    {"RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": True},
])
def test_bad_delete_parameters(sm, unique, kwargs):
    sm.create_secret(Name=unique, SecretString="x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.delete_secret(SecretId=unique, **kwargs)
    assert error_code(e) == "InvalidParameterException"
    # Nothing was deleted.
    assert sm.get_secret_value(SecretId=unique)["SecretString"] == "x"


# --- random passwords -------------------------------------------------------------------------


def test_get_random_password(server, sm):
    pw = sm.get_random_password()["RandomPassword"]
    assert len(pw) == 32
    # RequireEachIncludedType defaults to true.
    assert any(c.isupper() for c in pw) and any(c.islower() for c in pw)
    assert any(c.isdigit() for c in pw) and any(c in PUNCTUATION for c in pw)
    assert " " not in pw
    assert sm.get_random_password()["RandomPassword"] != pw

    excluded = "abcdefABCDEF0123!@#"
    for _ in range(5):
        pw = sm.get_random_password(PasswordLength=64, ExcludeCharacters=excluded)["RandomPassword"]
        assert len(pw) == 64 and not set(pw) & set(excluded), pw
    pw = sm.get_random_password(PasswordLength=100, ExcludeNumbers=True,
                                ExcludePunctuation=True)["RandomPassword"]
    assert len(pw) == 100 and pw.isalpha() and pw.isascii()
    pw = sm.get_random_password(PasswordLength=50, ExcludeUppercase=True, ExcludeLowercase=True,
                                ExcludePunctuation=True)["RandomPassword"]
    assert len(pw) == 50 and pw.isdigit()
    pw = sm.get_random_password(PasswordLength=30, IncludeSpace=True)["RandomPassword"]
    assert " " in pw  # every included type, space too, appears when required
    assert len(sm.get_random_password(PasswordLength=4096)["RandomPassword"]) == 4096

    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_random_password(PasswordLength=4097)
    assert error_code(e) in ("InvalidParameterException", "ValidationException")

    out = run_aws(server, "secretsmanager", "get-random-password", "--password-length", "40",
                  "--exclude-punctuation", "--query", "RandomPassword", "--output", "text").stdout
    assert re.fullmatch(r"[A-Za-z0-9]{40}\n", out), out


# --- resource policies ------------------------------------------------------------------------


def policy_doc(principal, action="secretsmanager:GetSecretValue"):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": "*"}]})


def test_resource_policy_put_get_validate_delete(sm, unique, account):
    arn = sm.create_secret(Name=unique, SecretString="p")["ARN"]
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=unique)
    doc = policy_doc(f"arn:aws:iam::{account}:root")
    v = sm.validate_resource_policy(SecretId=unique, ResourcePolicy=doc)
    assert v["PolicyValidationPassed"] is True and not v.get("ValidationErrors")
    out = sm.put_resource_policy(SecretId=unique, ResourcePolicy=doc)
    assert out["ARN"] == arn and out["Name"] == unique
    got = sm.get_resource_policy(SecretId=arn)
    assert got["ARN"] == arn and json.loads(got["ResourcePolicy"]) == json.loads(doc)

    not_json = "{not json"
    bad_grammar = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Principal": {"AWS": account}, "Action": "secretsmanager:*",
         "Resource": "*"}]})
    for bad in (not_json, bad_grammar):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.put_resource_policy(SecretId=unique, ResourcePolicy=bad)
        assert error_code(e) == "MalformedPolicyDocumentException", bad
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.validate_resource_policy(ResourcePolicy=not_json)
    assert error_code(e) == "MalformedPolicyDocumentException"
    # Valid JSON that breaks the grammar: a failed validation (AWS lists the problems).
    try:
        v = sm.validate_resource_policy(ResourcePolicy=bad_grammar)
        assert v["PolicyValidationPassed"] is False and v["ValidationErrors"], v
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "MalformedPolicyDocumentException"
    # A refused policy left the stored one alone.
    assert json.loads(sm.get_resource_policy(SecretId=unique)["ResourcePolicy"]) == json.loads(doc)

    deleted = sm.delete_resource_policy(SecretId=unique)
    assert deleted["ARN"] == arn
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=unique)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_resource_policy(SecretId=unique + "-missing")
    assert error_code(e) == "ResourceNotFoundException"


# --- rotation configuration and replicas ------------------------------------------------------


def describe_raw(server, secret_id):
    # NextRotationDate is newer than Debian's botocore, which drops it: read the JSON.
    status, body = send_json(server, "DescribeSecret", json.dumps({"SecretId": secret_id}))
    assert status == 200, body
    return body


def test_rotate_secret_stores_configuration(server, sm, unique, account):
    sm.create_secret(Name=unique, SecretString="r")
    lam = f"arn:aws:lambda:{REGION}:{account}:function:rotate-{unique}"
    out = sm.rotate_secret(SecretId=unique, RotationLambdaARN=lam,
                           RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    assert out["Name"] == unique
    d = sm.describe_secret(SecretId=unique)
    assert d["RotationEnabled"] is True
    assert d["RotationLambdaARN"] == lam
    assert d["RotationRules"]["AutomaticallyAfterDays"] == 30
    raw = describe_raw(server, unique)
    days = (raw["NextRotationDate"] - time.time()) / 86400
    assert 28 < days <= 31, raw["NextRotationDate"]
    # Not rotated immediately: the value and its single version are untouched.
    assert sm.get_secret_value(SecretId=unique)["SecretString"] == "r"
    assert len(d["VersionIdsToStages"]) == 1

    sm.cancel_rotate_secret(SecretId=unique)
    d = sm.describe_secret(SecretId=unique)
    assert not d.get("RotationEnabled", False)
    assert "NextRotationDate" not in describe_raw(server, unique)


def assert_clear_unsupported(e):
    assert error_code(e) not in ("InternalServiceError", "InternalFailure")
    assert 400 <= e.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    msg = error_message(e).lower()
    assert "replica" in msg or "replication" in msg or "support" in msg, msg


def test_replica_operations_are_refused_clearly(sm, unique):
    sm.create_secret(Name=unique, SecretString="x")
    for call in (lambda: sm.replicate_secret_to_regions(
                     SecretId=unique, AddReplicaRegions=[{"Region": "eu-west-1"}]),
                 lambda: sm.remove_regions_from_replication(
                     SecretId=unique, RemoveReplicaRegions=["eu-west-1"]),
                 lambda: sm.stop_replication_to_replica(SecretId=unique)):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert_clear_unsupported(e)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name=unique + "-r", SecretString="x",
                         AddReplicaRegions=[{"Region": "eu-west-1"}])
    assert_clear_unsupported(e)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_secret(SecretId=unique + "-r")
    assert error_code(e) == "ResourceNotFoundException"


# --- bad input --------------------------------------------------------------------------------

VALIDATION = ("InvalidParameterException", "ValidationException")


@pytest.mark.parametrize("suffix", [" with space", "semi;colon", "star*", "q?", "x" * 513])
def test_bad_names_are_refused(sm, unique, suffix):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name=unique + suffix, SecretString="x")
    assert error_code(e) in VALIDATION
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_allowed_name_characters(sm, unique):
    name = unique + "/a_b+c=d.e@f-g"
    sm.create_secret(Name=name, SecretString="ok")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "ok"


def test_value_size_limits(sm, unique):
    ok = "s" * 65536
    sm.create_secret(Name=unique, SecretString=ok)
    assert sm.get_secret_value(SecretId=unique)["SecretString"] == ok
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.put_secret_value(SecretId=unique, SecretString="s" * 65537)
    assert error_code(e) in VALIDATION
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.put_secret_value(SecretId=unique, SecretBinary=b"b" * 65537)
    assert error_code(e) in VALIDATION
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name=unique + "-big", SecretString="s" * 65537)
    assert error_code(e) in VALIDATION
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_secret(SecretId=unique + "-big")
    assert error_code(e) == "ResourceNotFoundException"
    assert len(stages(sm, unique)) == 1


def test_description_too_long(sm, unique):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name=unique, SecretString="x", Description="d" * 2049)
    assert error_code(e) in VALIDATION


def test_string_and_binary_together(sm, unique):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name=unique, SecretString="x", SecretBinary=b"y")
    assert error_code(e) in ("InvalidParameterException", "InvalidRequestException")
    sm.create_secret(Name=unique, SecretString="x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.put_secret_value(SecretId=unique, SecretString="x2", SecretBinary=b"y")
    assert error_code(e) in ("InvalidParameterException", "InvalidRequestException")
    assert len(stages(sm, unique)) == 1


def test_raw_requests_missing_or_wrong_parameters(server):
    status, body = send_json(server, "GetSecretValue", "{}")
    assert status == 400 and json_error_code(body) in VALIDATION, body
    assert "SecretId" in json.dumps(body)
    status, body = send_json(server, "GetSecretValue", '{"SecretId": 5}')
    assert status == 400 and json_error_code(body) in (*VALIDATION, "SerializationException")
    status, body = send_json(server, "GetSecretValue", '{"SecretId": ')
    assert status == 400 and json_error_code(body) in (*VALIDATION, "SerializationException")
    status, body = send_json(server, "PutSecretValue", json.dumps(
        {"SecretId": "x", "SecretString": "y", "ClientRequestToken": "short"}))
    assert status == 400 and json_error_code(body) in VALIDATION
    status, body = send_json(server, "DoSomethingOdd", "{}")
    assert status == 400 and json_error_code(body) in ("UnknownOperationException",
                                                       "InvalidAction")
    # The server is still answering.
    assert server.client("secretsmanager").get_random_password(PasswordLength=8)


def test_cli_session(server, unique, tmp_path):
    """What an operator types, start to finish."""
    value = json.dumps({"username": "app", "password": "hunter2-" + unique})
    path = tmp_path / "secret.json"
    path.write_text(value)
    created = json.loads(run_aws(server, "secretsmanager", "create-secret", "--name", unique,
                                 "--description", "app db", "--secret-string",
                                 f"file://{path}").stdout)
    assert re.fullmatch(arn_pattern(unique), created["ARN"])
    out = run_aws(server, "secretsmanager", "get-secret-value", "--secret-id", unique,
                  "--query", "SecretString", "--output", "text").stdout
    assert json.loads(out) == json.loads(value)
    run_aws(server, "secretsmanager", "put-secret-value", "--secret-id", unique,
            "--secret-string", "second")
    versions = json.loads(run_aws(server, "secretsmanager", "list-secret-version-ids",
                                  "--secret-id", unique).stdout)["Versions"]
    assert sorted(tuple(v["VersionStages"]) for v in versions) == [("AWSCURRENT",),
                                                                   ("AWSPREVIOUS",)]
    prev = run_aws(server, "secretsmanager", "get-secret-value", "--secret-id", unique,
                   "--version-stage", "AWSPREVIOUS", "--query", "SecretString",
                   "--output", "text").stdout
    assert json.loads(prev) == json.loads(value)
    run_aws(server, "secretsmanager", "delete-secret", "--secret-id", unique,
            "--force-delete-without-recovery")
    gone = run_aws(server, "secretsmanager", "get-secret-value", "--secret-id", unique,
                   check=False)
    assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr


# --- authorization ----------------------------------------------------------------------------


def seed_policy(secret_arn):
    """The seed's policy, exactly as written there (Statement is an object, not a list)."""
    return ('{\n"Version": "2012-10-17",\n"Statement": {\n"Effect": "Allow",\n'
            '"Action": "secretsmanager:GetSecretValue",\n'
            f'"Resource": "{secret_arn}"\n}}\n}}')


def new_user(iam, name, policy=None):
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="seed", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def assert_denied(call, action):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    assert error_code(e) == "AccessDeniedException", error_code(e)
    assert f"secretsmanager:{action}" in error_message(e)


def check_seed_policy_grants_exactly_get(client, sm, name, arn, other):
    for sid in (name, arn, arn[:-7]):
        assert client.get_secret_value(SecretId=sid)["SecretString"] == "mine", sid
    assert_denied(lambda: client.get_secret_value(SecretId=other), "GetSecretValue")
    # A name that does not exist is denied too, so existence does not leak.
    assert_denied(lambda: client.get_secret_value(SecretId=name + "-nope"), "GetSecretValue")
    assert_denied(lambda: client.describe_secret(SecretId=name), "DescribeSecret")
    assert_denied(lambda: client.put_secret_value(SecretId=name, SecretString="theirs"),
                  "PutSecretValue")
    assert_denied(lambda: client.list_secrets(), "ListSecrets")
    assert_denied(lambda: client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True),
                  "DeleteSecret")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "mine"
    assert len(stages(sm, name)) == 1


def test_seed_policy_on_a_user(server, sm, iam, unique):
    name = "iam-user-" + unique
    arn = sm.create_secret(Name=name, SecretString="mine")["ARN"]
    sm.create_secret(Name=name + "-other", SecretString="not yours")
    key, secret = new_user(iam, unique, seed_policy(arn))
    client = server.client("secretsmanager", key, secret)
    check_seed_policy_grants_exactly_get(client, sm, name, arn, name + "-other")


def test_seed_policy_on_an_assumed_role(server, sm, iam, unique, account):
    name = "iam-role-" + unique
    arn = sm.create_secret(Name=name, SecretString="mine")["ARN"]
    sm.create_secret(Name=name + "-other", SecretString="not yours")
    key, secret = new_user(iam, unique, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    role = iam.create_role(RoleName=unique + "-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}))["Role"]
    iam.put_role_policy(RoleName=unique + "-role", PolicyName="seed",
                        PolicyDocument=seed_policy(arn))
    creds = server.client("sts", key, secret).assume_role(
        RoleArn=role["Arn"], RoleSessionName="ssm")["Credentials"]
    client = server.client("secretsmanager", creds["AccessKeyId"], creds["SecretAccessKey"],
                           creds["SessionToken"])
    check_seed_policy_grants_exactly_get(client, sm, name, arn, name + "-other")
    # The user itself (allowed only sts:AssumeRole) cannot read the secret.
    assert_denied(lambda: server.client("secretsmanager", key, secret).get_secret_value(
        SecretId=name), "GetSecretValue")


def test_resource_policy_lets_a_user_without_identity_policy_read(server, sm, iam, unique):
    arn = sm.create_secret(Name=unique, SecretString="shared")["ARN"]
    sm.create_secret(Name=unique + "-other", SecretString="private")
    key, secret = new_user(iam, unique)
    user_arn = iam.get_user(UserName=unique)["User"]["Arn"]
    client = server.client("secretsmanager", key, secret)
    assert_denied(lambda: client.get_secret_value(SecretId=arn), "GetSecretValue")

    sm.put_resource_policy(SecretId=unique, ResourcePolicy=policy_doc(user_arn))
    assert client.get_secret_value(SecretId=arn)["SecretString"] == "shared"
    assert client.get_secret_value(SecretId=unique)["SecretString"] == "shared"
    assert_denied(lambda: client.get_secret_value(SecretId=unique + "-other"), "GetSecretValue")
    assert_denied(lambda: client.describe_secret(SecretId=unique), "DescribeSecret")

    # An explicit deny in the identity policy still wins.
    iam.put_user_policy(UserName=unique, PolicyName="deny", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "secretsmanager:*",
                                                "Resource": "*"}]}))
    assert_denied(lambda: client.get_secret_value(SecretId=arn), "GetSecretValue")
    iam.delete_user_policy(UserName=unique, PolicyName="deny")
    assert client.get_secret_value(SecretId=arn)["SecretString"] == "shared"

    sm.delete_resource_policy(SecretId=unique)
    assert_denied(lambda: client.get_secret_value(SecretId=arn), "GetSecretValue")


# --- no secret value at rest in clear, in the log, or in errors -------------------------------


def forms(value: bytes):
    """The value as stored by a careless implementation: raw, hex, base64."""
    return [value, value.hex().encode(), value.hex().upper().encode(),
            base64.b64encode(value), base64.b64encode(value).rstrip(b"=")]


def test_no_secret_value_in_database_log_or_errors(server, sm, unique):
    s1 = f"sv1-{uuid.uuid4().hex}"
    s2 = f"sv2-{uuid.uuid4().hex}"
    s3 = f"sv3-{uuid.uuid4().hex}"
    refused = f"sv4-{uuid.uuid4().hex}"
    b1 = b"bin-" + uuid.uuid4().bytes + uuid.uuid4().bytes
    secrets = [s1.encode(), s2.encode(), s3.encode(), refused.encode(), b1]
    errors = []

    t = token()
    sm.create_secret(Name=unique, SecretString=s1, ClientRequestToken=t)
    sm.put_secret_value(SecretId=unique, SecretString=s2)
    sm.update_secret(SecretId=unique, SecretString=s3)
    sm.create_secret(Name=unique + "-bin", SecretBinary=b1)
    sm.create_secret(Name=unique + "-json",
                     SecretString=json.dumps({"aws_secret_access_key": s2}))
    for call in (
            lambda: sm.put_secret_value(SecretId=unique, SecretString=refused,
                                        ClientRequestToken=t),
            lambda: sm.put_secret_value(SecretId=unique, SecretString=refused * 2000),
            lambda: sm.put_secret_value(SecretId=unique, SecretString=refused,
                                        SecretBinary=b1),
            lambda: sm.create_secret(Name=unique + " bad", SecretString=refused),
            lambda: sm.create_secret(Name=unique, SecretString=refused),
            lambda: sm.put_secret_value(SecretId=unique + "-missing", SecretString=refused),
            lambda: server.client("secretsmanager", server.admin_key, "x" * 40).put_secret_value(
                SecretId=unique, SecretString=refused)):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        errors.append(json.dumps(e.value.response, default=str))
    assert sm.get_secret_value(SecretId=unique)["SecretString"] == s3
    assert sm.get_secret_value(SecretId=unique, VersionStage="AWSPREVIOUS")["SecretString"] == s2
    assert sm.get_secret_value(SecretId=unique + "-bin")["SecretBinary"] == b1
    status, body = send_json(server, "PutSecretValue", json.dumps(
        {"SecretId": unique, "SecretString": refused, "SecretBinary": 7}))
    assert status == 400
    errors.append(json.dumps(body))

    db_files = [f for f in os.listdir(server.data_dir) if f.startswith("keyward.db")]
    assert db_files, os.listdir(server.data_dir)
    stored = b""
    for root, _, files in os.walk(server.data_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                stored += fh.read()
    log = server.output().encode()
    for value in secrets:
        for form in forms(value):
            assert form not in stored, f"a secret value ({form[:12]!r}...) is in the data dir"
            assert form not in log, f"a secret value ({form[:12]!r}...) is in the log"
            for text in errors:
                assert form.decode(errors="replace") not in text, text[:500]


def test_ciphertext_moved_to_another_row_is_refused(tmp_root):
    """Values are sealed with their secret and version as associated data: swapping two
    ciphertexts in the database gives DecryptionFailure, never the other secret's value."""
    data = os.path.join(tmp_root, "swap")
    first = Server(data)
    sm = first.client("secretsmanager")
    va = sm.create_secret(Name="swap-a", SecretString="value-of-a")["VersionId"]
    vb = sm.create_secret(Name="swap-b", SecretString="value-of-b")["VersionId"]
    sm.create_secret(Name="swap-c", SecretString="value-of-c")
    assert first.stop() == 0

    db = sqlite3.connect(os.path.join(data, "keyward.db"))
    rows = {}
    for vid in (va, vb):
        found = db.execute("SELECT tbl, key, value FROM kv WHERE key LIKE ?",
                           ("%/" + vid,)).fetchall()
        assert len(found) == 1, found
        rows[vid] = found[0]
    (ta, ka, a), (tb, kb, b) = rows[va], rows[vb]
    db.execute("UPDATE kv SET value = ? WHERE tbl = ? AND key = ?", (b, ta, ka))
    db.execute("UPDATE kv SET value = ? WHERE tbl = ? AND key = ?", (a, tb, kb))
    db.commit()
    db.close()

    second = Server(data)
    try:
        sm = second.client("secretsmanager")
        for name in ("swap-a", "swap-b"):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                sm.get_secret_value(SecretId=name)
            assert error_code(e) == "DecryptionFailure"
            assert "value-of" not in json.dumps(e.value.response, default=str)
        assert sm.get_secret_value(SecretId="swap-c")["SecretString"] == "value-of-c"
        # Metadata is unaffected.
        assert sm.describe_secret(SecretId="swap-a")["VersionIdsToStages"] == {va: ["AWSCURRENT"]}
    finally:
        second.stop()
