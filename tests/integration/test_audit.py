"""Owners, the directory, offboarding and findings: the real keyward CLI against a real
server whose directory is a real slapd (started on a loopback port with a temporary
config) or an export file, changed between syncs."""
import json
import os
import shutil
import subprocess
import time

import botocore.exceptions
import pytest

from conftest import Server, free_port, run_keyward
from rotation_client import json_call

SUFFIX = "dc=example,dc=org"
ADMIN_DN = "cn=admin," + SUFFIX
PEOPLE = "ou=people," + SUFFIX
LDAP_PASSWORD = "it-secret"

pytestmark = pytest.mark.skipif(shutil.which("slapd") is None and not os.path.exists("/usr/sbin/slapd"),
                                reason="slapd is not installed (scripts/install-deps.sh)")


def slapd_bin():
    return shutil.which("slapd") or "/usr/sbin/slapd"


class Slapd:
    """A throwaway OpenLDAP server: mdb database in a temp dir, no system service."""

    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "db"))
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        conf = os.path.join(root, "slapd.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "include /etc/ldap/schema/core.schema",
                "include /etc/ldap/schema/cosine.schema",
                "include /etc/ldap/schema/inetorgperson.schema",
                "modulepath /usr/lib/ldap",
                "moduleload back_mdb",
                f"pidfile {root}/slapd.pid",
                "database mdb",
                "maxsize 10485760",
                f'suffix "{SUFFIX}"',
                f'rootdn "{ADMIN_DN}"',
                f"rootpw {LDAP_PASSWORD}",
                f"directory {root}/db", ""]))
        self.log = open(os.path.join(root, "slapd.log"), "wb")
        # -d keeps slapd in the foreground, so the test owns the process.
        self.proc = subprocess.Popen([slapd_bin(), "-h", self.url + "/", "-f", conf, "-d", "0"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            p = subprocess.run(["ldapsearch", "-x", "-H", self.url, "-b", "", "-s", "base", "-LLL"],
                               capture_output=True)
            if p.returncode == 0:
                break
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("slapd did not start")
            time.sleep(0.05)

    def _tool(self, tool, ldif):
        p = subprocess.run([tool, "-x", "-H", self.url, "-D", ADMIN_DN, "-w", LDAP_PASSWORD],
                           input=ldif, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr

    def add(self, ldif):
        self._tool("ldapadd", ldif)

    def modify(self, ldif):
        self._tool("ldapmodify", ldif)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def person(uid, dept, status="active"):
    return (f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid.title()}\n"
            f"sn: {uid}\nmail: {uid}@example.org\ndepartmentNumber: {dept}\n"
            f"employeeType: {status}\n\n")


def kw(server, *args, check=True):
    return run_keyward(server, *args, check=check)


def offboardings(server):
    status, body = json_call("127.0.0.1", server.port, server.admin_key, server.admin_secret,
                             "keyward", "ListOffboardings", {})
    assert status == 200, body
    return json.loads(body)["Offboardings"]


def audit_json(server):
    p = kw(server, "audit", "--format", "json")
    return {(f["Type"], f["Resource"]): f for f in json.loads(p.stdout)["Findings"]}


def make_user(iam, name, owner=None):
    tags = [{"Key": "owner", "Value": owner}] if owner else []
    iam.create_user(UserName=name, Tags=tags)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    s = Slapd(str(tmp_path_factory.mktemp("slapd")))
    s.add(f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n"
          f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n"
          + person("alice", "eng") + person("bob", "eng") + person("carol", "ops"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ldap_server(tmp_path_factory, slapd):
    root = tmp_path_factory.mktemp("kw-ldap")
    pw = root / "ldap-password"
    pw.write_text(LDAP_PASSWORD + "\n")
    s = Server(str(root / "data"), extra_args=(
        "--directory-source", f"{slapd.url}/{PEOPLE}", "--directory-bind-dn", ADMIN_DN,
        "--directory-password-file", str(pw), "--audit-exempt", "admin"))
    yield s
    s.stop()


def test_ldap_departure_transfer_offboard_and_audit_exit_codes(ldap_server, slapd):
    iam = ldap_server.client("iam")
    alice_key, alice_secret = make_user(iam, "svc-alice", "alice")
    make_user(iam, "svc-bob", "bob@example.org")  # owners by email match too
    make_user(iam, "svc-carol", "carol")
    iam.put_user_policy(UserName="svc-alice", PolicyName="sessions", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:GetSessionToken", "Resource": "*"}]}))
    session = ldap_server.client("sts", key=alice_key, secret=alice_secret).get_session_token()
    creds = session["Credentials"]
    as_alice = ldap_server.client("sts", key=alice_key, secret=alice_secret)
    as_session = ldap_server.client("sts", key=creds["AccessKeyId"],
                                    secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    as_alice.get_caller_identity()
    as_session.get_caller_identity()

    first = json.loads(kw(ldap_server, "directory", "sync", "--output", "json").stdout)
    assert first["People"] == 3 and first["Changes"] == []

    # Clean: everyone has an active owner, keys are fresh: nothing to report.
    assert kw(ldap_server, "audit", "--fail-on", "low").returncode == 0
    assert not any(t.startswith("Owner") for t, _ in audit_json(ldap_server))

    # alice leaves, bob moves to sales.
    slapd.modify(f"dn: uid=alice,{PEOPLE}\nchangetype: modify\nreplace: employeeType\n"
                 f"employeeType: departed\n\n"
                 f"dn: uid=bob,{PEOPLE}\nchangetype: modify\nreplace: departmentNumber\n"
                 f"departmentNumber: sales\n")
    second = json.loads(kw(ldap_server, "directory", "sync", "--output", "json").stdout)
    changes = {(c["PersonId"], c["Change"]) for c in second["Changes"]}
    assert changes == {("alice", "departed"), ("bob", "transferred")}
    assert second["Offboardings"] == []  # not without --directory-auto-offboard

    findings = audit_json(ldap_server)
    departed = [f for (t, _), f in findings.items() if t == "OwnerDeparted"]
    assert [f["Evidence"]["UserName"] for f in departed] == ["svc-alice"]
    assert departed[0]["Severity"] == "CRITICAL"
    assert [f["Evidence"]["UserName"] for (t, _), f in findings.items()
            if t == "OwnerTransferred"] == ["svc-bob"]
    p = kw(ldap_server, "audit", "--fail-on", "critical", check=False)
    assert p.returncode == 1 and "at or above CRITICAL" in p.stderr
    assert "OwnerDeparted" in p.stdout

    # Repeated audits (the --fail-on one and this) update the finding, not add others.
    again = audit_json(ldap_server)
    key = ("OwnerDeparted", departed[0]["Resource"])
    assert again[key]["FindingId"] == departed[0]["FindingId"]
    assert again[key]["Count"] == departed[0]["Count"] + 2
    assert sum(1 for t, _ in again if t == "OwnerDeparted") == 1

    # Dry run: reports, changes nothing.
    dry = json.loads(kw(ldap_server, "offboard", "alice", "--dry-run", "--output", "json").stdout)
    keys = dry["Offboarding"]["AccessKeys"]
    assert [(k["UserName"], k["AccessKeyId"], k["Action"]) for k in keys] == [
        ("svc-alice", alice_key, "would-deactivate")]
    # Each key is reported with its last use (alice's key signed a call above).
    assert abs(keys[0]["LastUsedDate"] - time.time()) < 600, keys[0]
    assert dry["Offboarding"]["DryRun"] is True
    as_alice.get_caller_identity()
    as_session.get_caller_identity()
    assert iam.list_access_keys(UserName="svc-alice")["AccessKeyMetadata"][0]["Status"] == "Active"

    out = kw(ldap_server, "offboard", "alice", "--reason", "left the company").stdout
    assert alice_key in out and "deactivated" in out and "1 temporary credential(s) revoked" in out
    assert iam.list_access_keys(UserName="svc-alice")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    for client in (as_alice, as_session):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    # Other owners' keys keep working.
    assert iam.list_access_keys(UserName="svc-carol")["AccessKeyMetadata"][0]["Status"] == "Active"
    # Why, by whom and what was done is recorded, and served by the API.
    [record] = [o for o in offboardings(ldap_server) if not o["DryRun"]]
    assert record["Person"] == "alice" and record["Reason"] == "left the company"
    assert record["Status"] == "completed" and record["Actor"].endswith(":user/admin")
    assert [(k["AccessKeyId"], k["Action"]) for k in record["AccessKeys"]] == [
        (alice_key, "deactivated")]
    assert [(u["UserName"], u["SessionsRevoked"]) for u in record["Users"]] == [("svc-alice", 1)]

    # With no active key left the departed owner is HIGH, not CRITICAL.
    assert kw(ldap_server, "audit", "--fail-on", "critical").returncode == 0
    assert kw(ldap_server, "audit", "--fail-on", "high", check=False).returncode == 1

    # Suppressing the transfer finding keeps it out of `audit` and its exit code.
    bob_finding = next(f for (t, _), f in audit_json(ldap_server).items() if t == "OwnerTransferred")
    kw(ldap_server, "finding", "suppress", bob_finding["FindingId"], "--reason", "reviewed")
    assert ("OwnerTransferred", bob_finding["Resource"]) not in audit_json(ldap_server)
    listed = json.loads(kw(ldap_server, "finding", "list", "--state", "SUPPRESSED",
                           "--output", "json").stdout)["Findings"]
    assert [f["FindingId"] for f in listed] == [bob_finding["FindingId"]]


def test_audit_output_formats(ldap_server):
    iam = ldap_server.client("iam")
    iam.create_user(UserName="svc-orphan")  # no owner tag
    csv_out = kw(ldap_server, "audit", "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("Severity,Type,Resource")
    assert "OwnerMissing" in csv_out and "svc-orphan" in csv_out
    table = kw(ldap_server, "audit").stdout
    assert "OwnerMissing" in table and "FindingId" in table
    p = kw(ldap_server, "audit", "--fail-on", "bogus", check=False)
    assert p.returncode == 1 and "--fail-on" in p.stderr


def test_unreachable_ldap_is_a_clear_error_and_keeps_the_snapshot(tmp_path):
    s = Server(str(tmp_path / "data"), extra_args=(
        "--directory-source", f"ldap://127.0.0.1:{free_port()}/{PEOPLE}"))
    try:
        p = kw(s, "directory", "sync", check=False)
        assert p.returncode == 1
        assert "LDAP" in p.stderr and "previous snapshot is kept" in p.stderr
        assert json.loads(kw(s, "directory", "changes", "--output", "json").stdout)["Changes"] == []
    finally:
        s.stop()


def test_refused_ldap_bind_is_a_clear_error_without_the_password(slapd, tmp_path):
    pw = tmp_path / "wrong-password"
    pw.write_text("not-the-ldap-password\n")
    s = Server(str(tmp_path / "data"), extra_args=(
        "--directory-source", f"{slapd.url}/{PEOPLE}", "--directory-bind-dn", ADMIN_DN,
        "--directory-password-file", str(pw)))
    try:
        p = kw(s, "directory", "sync", check=False)
        assert p.returncode == 1
        assert "LDAP" in p.stderr and "bind" in p.stderr, p.stderr
        assert "previous snapshot is kept" in p.stderr
        assert "not-the-ldap-password" not in p.stderr + p.stdout + s.output()
        # Nothing was judged on a failed read: no owner is called unknown or departed.
        iam = s.client("iam")
        make_user(iam, "svc-bind", "alice")
        assert not any(t in ("OwnerUnknown", "OwnerDeparted") for t, _ in audit_json(s))
    finally:
        s.stop()


def test_export_file_sync_offboards_automatically_and_refuses_bad_exports(tmp_path):
    export = tmp_path / "people.csv"
    export.write_text("id,status,email,department\ndave,active,dave@example.org,eng\n"
                      "erin,active,,eng\n")
    s = Server(str(tmp_path / "data"), extra_args=(
        "--directory-source", str(export), "--directory-auto-offboard"))
    try:
        iam = s.client("iam")
        dave_key, _ = make_user(iam, "svc-dave", "dave")
        kw(s, "directory", "sync")

        export.write_text("id,status\ndave,active\nerin,gone\n")  # malformed status
        p = kw(s, "directory", "sync", check=False)
        assert p.returncode == 1 and "row 3" in p.stderr and "previous snapshot is kept" in p.stderr
        export.write_text("")
        assert kw(s, "directory", "sync", check=False).returncode == 1
        assert iam.list_access_keys(UserName="svc-dave")["AccessKeyMetadata"][0]["Status"] == "Active"

        export.write_text("id,status\ndave,departed\nerin,active\n")
        out = json.loads(kw(s, "directory", "sync", "--output", "json").stdout)
        assert [(c["PersonId"], c["Change"]) for c in out["Changes"]] == [("dave", "departed")]
        assert [(o["Person"], o["Status"]) for o in out["Offboardings"]] == [("dave", "completed")]
        assert iam.list_access_keys(UserName="svc-dave")["AccessKeyMetadata"][0]["Status"] == "Inactive"
        changes = json.loads(kw(s, "directory", "changes", "--output", "json").stdout)["Changes"]
        assert [c["PersonId"] for c in changes] == ["dave"]
    finally:
        s.stop()
