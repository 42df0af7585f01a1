"""The credential-report findings of `keyward audit` (issue 6): key older than the
policy, unused for 45 or 90 days, never used, two active keys, an activation that is
unused and still valid; each beside the matching clean case, with exemptions by tag
(every rule, or a list of types) and by the server's --audit-exempt list, the finding
states (active, resolved, active again) and the findings served by keyward's own API.

Ages are real ages of the stored data: the keys, their last uses and the activations are
created through the API, then the stopped server's database file is aged (the dates in
its records moved back, as if the data had been written weeks ago) and the server is
started again on it. Nothing else is faked: the audit reads the records the server
itself wrote and judges them by the clock of the machine.
"""
import base64
import json
import os
import sqlite3
import time
import urllib.request

import pytest

from conftest import Server, run_keyward
from rotation_client import json_call

DAY_MS = 86_400_000
CREDENTIAL_TYPES = {"AccessKeyTooOld", "AccessKeyUnused45Days", "AccessKeyUnused90Days",
                    "AccessKeyNeverUsed", "UserHasTwoActiveKeys", "ActivationUnusedAndValid"}
ROLE = "CredRulesFleetRole"


def kw(server, *args, check=True):
    return run_keyward(server, *args, check=check)


def audit(server):
    """Runs an audit; {(type, resource): finding} of the active credential findings."""
    out = json.loads(kw(server, "audit", "--format", "json").stdout)["Findings"]
    return {(f["Type"], f["Resource"]): f for f in out if f["Type"] in CREDENTIAL_TYPES}


def types_of(findings, resource):
    return {t for t, r in findings if r == resource}


def keyward(server, target, payload, key=None, secret=None):
    status, body = json_call("127.0.0.1", server.port, key or server.admin_key,
                             secret or server.admin_secret, "keyward", target, payload)
    return status, json.loads(body or "{}")


class World:
    """Users, keys and activations made through the API; `age` records what to move back."""

    def __init__(self, server):
        self.server = server
        self.iam = server.client("iam")
        self.ssm = server.client("ssm")
        self.key_ages = {}    # access key ID -> days to move its creation back
        self.use_ages = {}    # access key ID -> days to move its last use back
        self.activation_ages = {}  # activation ID -> (days back created, days back expiry)
        self.users = {}       # name -> (arn, [(key ID, secret)])

    def user(self, name, keys=1, tags=(), use=True):
        tags = [{"Key": "owner", "Value": "team-a"}, *tags]
        arn = self.iam.create_user(UserName=name, Tags=tags)["User"]["Arn"]
        made = []
        for _ in range(keys):
            k = self.iam.create_access_key(UserName=name)["AccessKey"]
            made.append((k["AccessKeyId"], k["SecretAccessKey"]))
            if use:
                self.server.client("sts", k["AccessKeyId"], k["SecretAccessKey"]) \
                    .get_caller_identity()
        self.users[name] = (arn, made)
        return made

    def key(self, name, i=0):
        return self.users[name][1][i][0]

    def activation(self, tags=()):
        return self.ssm.create_activation(IamRole=ROLE, RegistrationLimit=1,
                                          Tags=list(tags))

    def register(self, activation):
        """Registers a host as keyward-agent does (the agent's HTTP endpoint)."""
        body = json.dumps({"ActivationId": activation["ActivationId"],
                           "ActivationCode": activation["ActivationCode"],
                           "PublicKey": base64.b64encode(os.urandom(32)).decode(),
                           "Fingerprint": {"machine-id": "cred-rules-host"},
                           "ComputerName": "cred-rules-host", "IPAddress": "127.0.0.1",
                           "AgentVersion": "1.0",
                           "Platform": {"Name": "Debian", "Version": "12",
                                        "Type": "Linux"}}).encode()
        req = urllib.request.Request(self.server.endpoint + "/v1/agent/register", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["InstanceId"].startswith("mi-")


def age_records(data_dir, key_ages, use_ages, activation_ages):
    """Moves dates back in the stopped server's database: key creation and last use (ms),
    activation creation and expiry (s). Each record is matched by the ID it holds."""
    db = sqlite3.connect(os.path.join(data_dir, "keyward.db"))
    seen = set()
    try:
        def rewrite(table, fn):
            rows = db.execute("SELECT key, value FROM kv WHERE tbl = ?", (table,)).fetchall()
            for key, value in rows:
                raw = bytes(value) if isinstance(value, (bytes, memoryview)) else value.encode()
                record = json.loads(raw)
                if fn(key, record):
                    text = json.dumps(record, separators=(",", ":"))
                    new = text.encode() if isinstance(value, (bytes, memoryview)) else text
                    db.execute("UPDATE kv SET value = ? WHERE tbl = ? AND key = ?",
                               (new, table, key))

        def keys(_, r):
            if r.get("id") not in key_ages:
                return False
            r["created"] -= key_ages[r["id"]] * DAY_MS
            seen.add(("key", r["id"]))
            return True

        def usage(key, r):
            if key not in use_ages:
                return False
            r["when"] -= use_ages[key] * DAY_MS
            seen.add(("use", key))
            return True

        def activations(_, r):
            if r.get("id") not in activation_ages:
                return False
            created_back, expires_back = activation_ages[r["id"]]
            r["created"] -= created_back * 86_400
            r["expires"] -= expires_back * 86_400
            seen.add(("activation", r["id"]))
            return True

        rewrite("iam_access_keys", keys)
        rewrite("iam_key_usage", usage)
        rewrite("fleet_activations", activations)
        db.commit()
    finally:
        db.close()
    wanted = ({("key", k) for k in key_ages} | {("use", k) for k in use_ages}
              | {("activation", a) for a in activation_ages})
    assert seen == wanted, f"records not found: {wanted - seen}"


@pytest.fixture(scope="module")
def aged(tmp_path_factory):
    root = tmp_path_factory.mktemp("cred-rules")
    data = str(root / "data")
    first = Server(data)
    w = World(first)
    try:
        w.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}))
        # Causing cases.
        w.user("cr-old")                      # created 120 days ago, used today
        w.user("cr-idle45")                   # created 80 days ago, last used 50 days ago
        w.user("cr-idle90")                   # created 200 days ago, last used 100 days ago
        w.user("cr-never", use=False)         # created 10 days ago, never used
        w.user("cr-two", keys=2)              # two active keys
        # Clean cases.
        w.user("cr-young")                    # created 60 days ago, used today
        w.user("cr-idle40")                   # created 80 days ago, last used 40 days ago
        w.user("cr-fresh", use=False)         # created today, not used yet: in its grace
        rotating = w.user("cr-rotating", keys=2)  # one of two keys inactive
        w.iam.update_access_key(UserName="cr-rotating", AccessKeyId=rotating[0][0],
                                Status="Inactive")
        # Exemptions: a list of types by tag, every rule by tag, every rule by the server's list.
        w.user("cr-exempt-two", keys=2,
               tags=[{"Key": "keyward:audit-exempt", "Value": "UserHasTwoActiveKeys"}])
        w.user("cr-exempt-all", keys=2,
               tags=[{"Key": "keyward:audit-exempt", "Value": "true"}])
        w.user("cr-exempt-listed", keys=2)

        for name, days in (("cr-old", 120), ("cr-idle45", 80), ("cr-idle90", 200),
                           ("cr-never", 10), ("cr-young", 60), ("cr-idle40", 80),
                           ("cr-exempt-two", 120), ("cr-exempt-all", 120),
                           ("cr-exempt-listed", 120)):
            w.key_ages[w.key(name)] = days
        w.use_ages.update({w.key("cr-idle45"): 50, w.key("cr-idle90"): 100,
                           w.key("cr-idle40"): 40})

        unused = w.activation()
        fresh = w.activation()
        used = w.activation()
        w.register(used)
        expired = w.activation()
        exempt = w.activation(tags=[{"Key": "keyward:audit-exempt", "Value": "all"}])
        w.activation_ages.update({unused["ActivationId"]: (2, 0), used["ActivationId"]: (2, 0),
                                  expired["ActivationId"]: (3, 30),
                                  exempt["ActivationId"]: (2, 0)})
        w.activations = {"unused": unused["ActivationId"], "fresh": fresh["ActivationId"],
                         "used": used["ActivationId"], "expired": expired["ActivationId"],
                         "exempt": exempt["ActivationId"]}
    finally:
        assert first.stop() == 0, first.output()
    age_records(data, w.key_ages, w.use_ages, w.activation_ages)

    second = Server(data, extra_args=("--audit-exempt", "admin,cr-exempt-listed"))
    w.server = second
    w.iam = second.client("iam")
    try:
        yield w
    finally:
        second.stop()


def test_key_age_and_use_findings_each_beside_its_clean_case(aged):
    w = aged
    f = audit(w.server)

    old = f[("AccessKeyTooOld", w.key("cr-old"))]
    assert old["Severity"] == "HIGH"
    assert old["Evidence"]["UserName"] == "cr-old"
    assert old["Evidence"]["MaxAgeDays"] == "90"
    assert int(old["Evidence"]["AgeDays"]) in (119, 120)
    assert types_of(f, w.key("cr-old")) == {"AccessKeyTooOld"}  # used today: not unused

    idle45 = f[("AccessKeyUnused45Days", w.key("cr-idle45"))]
    assert idle45["Severity"] == "MEDIUM"
    assert int(idle45["Evidence"]["UnusedDays"]) in (49, 50)
    assert types_of(f, w.key("cr-idle45")) == {"AccessKeyUnused45Days"}

    idle90 = f[("AccessKeyUnused90Days", w.key("cr-idle90"))]
    assert idle90["Severity"] == "HIGH"
    assert types_of(f, w.key("cr-idle90")) == {"AccessKeyUnused90Days", "AccessKeyTooOld"}

    never = f[("AccessKeyNeverUsed", w.key("cr-never"))]
    assert never["Evidence"]["LastUsedDate"] == "never"
    assert types_of(f, w.key("cr-never")) == {"AccessKeyNeverUsed"}

    # Clean: 60 days old and used today; last used 40 days ago; new and not used yet.
    for clean in ("cr-young", "cr-idle40", "cr-fresh"):
        assert types_of(f, w.key(clean)) == set(), (clean, types_of(f, w.key(clean)))

    # The last use the rules saw is the one GetAccessKeyLastUsed reports.
    last = w.iam.get_access_key_last_used(AccessKeyId=w.key("cr-idle45"))
    age = time.time() - last["AccessKeyLastUsed"]["LastUsedDate"].timestamp()
    assert 49 * 86400 < age < 51 * 86400


def test_two_active_keys_and_its_states(aged):
    w = aged
    arn_two = w.users["cr-two"][0]
    f = audit(w.server)
    two = f[("UserHasTwoActiveKeys", arn_two)]
    assert two["Severity"] == "MEDIUM"
    assert set(two["Evidence"]["AccessKeyIds"].split(",")) == {w.key("cr-two", 0),
                                                               w.key("cr-two", 1)}
    assert two["State"] == "ACTIVE"
    # Clean: one of the two keys inactive (as after a rotation).
    assert ("UserHasTwoActiveKeys", w.users["cr-rotating"][0]) not in f

    # The second key is deactivated: the next audit resolves the finding...
    w.iam.update_access_key(UserName="cr-two", AccessKeyId=w.key("cr-two", 1), Status="Inactive")
    assert ("UserHasTwoActiveKeys", arn_two) not in audit(w.server)
    resolved = json.loads(kw(w.server, "finding", "list", "--state", "RESOLVED", "--type",
                             "UserHasTwoActiveKeys", "--output", "json").stdout)["Findings"]
    assert [x["FindingId"] for x in resolved] == [two["FindingId"]]
    assert resolved[0]["State"] == "RESOLVED"
    # ...and one that sees it again makes the same finding active again.
    w.iam.update_access_key(UserName="cr-two", AccessKeyId=w.key("cr-two", 1), Status="Active")
    again = audit(w.server)[("UserHasTwoActiveKeys", arn_two)]
    assert again["FindingId"] == two["FindingId"]
    assert again["State"] == "ACTIVE"
    assert again["FirstSeen"] == two["FirstSeen"]
    assert again["Count"] == two["Count"] + 1


def test_exemptions_by_tag_type_list_tag_and_server_list(aged):
    w = aged
    f = audit(w.server)
    # Tagged exempt from UserHasTwoActiveKeys only: the other rules still apply.
    assert ("UserHasTwoActiveKeys", w.users["cr-exempt-two"][0]) not in f
    assert ("AccessKeyTooOld", w.key("cr-exempt-two")) in f
    # Tagged exempt from everything, and listed in --audit-exempt: nothing at all.
    for name in ("cr-exempt-all", "cr-exempt-listed"):
        assert ("UserHasTwoActiveKeys", w.users[name][0]) not in f, name
        assert types_of(f, w.key(name)) == set(), name
    # The same facts without an exemption do give both findings (cr-old, cr-two above),
    # so the absence here is the exemption's doing.


def test_activation_unused_and_still_valid(aged):
    w = aged
    f = audit(w.server)
    a = w.activations
    found = f[("ActivationUnusedAndValid", a["unused"])]
    assert found["Severity"] == "MEDIUM"
    assert found["Evidence"]["IamRole"] == ROLE
    # Clean: within its first day, registered, expired, exempt by tag.
    for clean in ("fresh", "used", "expired", "exempt"):
        assert ("ActivationUnusedAndValid", a[clean]) not in f, clean


def test_findings_are_served_by_keywards_api(aged):
    w = aged
    audit(w.server)
    status, out = keyward(w.server, "ListFindings", {"Type": "AccessKeyTooOld"})
    assert status == 200, out
    resources = {x["Resource"] for x in out["Findings"]}
    assert w.key("cr-old") in resources and w.key("cr-young") not in resources
    assert all(x["Type"] == "AccessKeyTooOld" for x in out["Findings"])

    # Pages: one finding at a time, every one exactly once.
    seen, token = [], None
    while True:
        req = {"Type": "AccessKeyTooOld", "MaxResults": 1, **({"NextToken": token} if token else {})}
        status, page = keyward(w.server, "ListFindings", req)
        assert status == 200 and len(page["Findings"]) <= 1, page
        seen += [x["FindingId"] for x in page["Findings"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(x["FindingId"] for x in out["Findings"])

    old = next(x for x in out["Findings"] if x["Resource"] == w.key("cr-old"))
    status, got = keyward(w.server, "GetFinding", {"FindingId": old["FindingId"]})
    assert status == 200 and got["Finding"]["Evidence"]["UserName"] == "cr-old"

    status, high = keyward(w.server, "ListFindings", {"MinSeverity": "HIGH"})
    assert status == 200
    assert {x["Severity"] for x in high["Findings"]} <= {"HIGH", "CRITICAL"}
    assert ("AccessKeyNeverUsed", w.key("cr-never")) not in {
        (x["Type"], x["Resource"]) for x in high["Findings"]}

    status, err = keyward(w.server, "ListFindings", {"State": "BOGUS"})
    assert status == 400 and err["__type"] == "ValidationException"
    status, err = keyward(w.server, "GetFinding", {"FindingId": "f-0000000000000000"})
    assert status in (400, 404) and "NotFound" in err["__type"]

    # A user without a policy allowing it is refused.
    w.iam.create_user(UserName="cr-nobody", Tags=[{"Key": "owner", "Value": "team-a"}])
    k = w.iam.create_access_key(UserName="cr-nobody")["AccessKey"]
    status, err = keyward(w.server, "ListFindings", {}, k["AccessKeyId"], k["SecretAccessKey"])
    assert status in (400, 403) and "AccessDenied" in err["__type"], (status, err)
