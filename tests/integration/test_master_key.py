"""`keyward master-key rotate` beside a running server: no read fails, nothing is lost."""
import os
import sqlite3
import subprocess
import threading

import pytest

from conftest import BIN, Server


def keyring(data_dir):
    """[(id, is_primary)] from DIR/master.key (never the key material)."""
    out = []
    with open(os.path.join(data_dir, "master.key")) as f:
        for line in f:
            parts = line.split()
            if parts:
                out.append((parts[0], parts[-1] == "primary"))
    return out


def envelope_key_ids(data_dir):
    """How many envelopes name each master key, over every value in the database."""
    counts = {}
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'keyward.db')}?mode=ro", uri=True)
    try:
        for (value,) in db.execute("SELECT value FROM kv"):
            # Binary values (compressed event-log blocks, audit records) hold no
            # envelopes; decode leniently so they do not stop the count.
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            for chunk in text.split("kw2:")[1:]:
                key_id = chunk.split(":", 1)[0]
                counts[key_id] = counts.get(key_id, 0) + 1
    finally:
        db.close()
    return counts


@pytest.fixture
def own_server(tmp_root):
    s = Server(os.path.join(tmp_root, "mk-data"))
    yield s
    s.stop()


def test_rotate_while_serving_rewraps_everything_and_reads_never_fail(own_server):
    s = own_server
    iam = s.client("iam")
    iam.create_user(UserName="rotuser")
    user_key = iam.create_access_key(UserName="rotuser")["AccessKey"]
    sm = s.client("secretsmanager")
    sm.create_secret(Name="rot/secret", SecretString="before-rotation")
    session = s.client("sts").get_session_token()["Credentials"]

    (old_id, old_primary), = keyring(s.data_dir)
    assert old_primary
    assert envelope_key_ids(s.data_dir).get(old_id, 0) >= 3  # admin key, user key, secret

    # Reads keep going during the rotation; none may fail.
    failures, reads = [], [0]
    stop = threading.Event()

    def reader():
        client = s.client("secretsmanager")
        while not stop.is_set():
            try:
                value = client.get_secret_value(SecretId="rot/secret")["SecretString"]
                if value != "before-rotation":
                    failures.append(value)
                reads[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(e))

    t = threading.Thread(target=reader)
    t.start()
    try:
        p = subprocess.run([BIN, "master-key", "rotate", "--data-dir", s.data_dir],
                           capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        t.join()
    assert p.returncode == 0, p.stderr
    assert failures == []
    assert reads[0] > 0

    ring = keyring(s.data_dir)
    assert len(ring) == 2
    new_id = [i for i, primary in ring if primary][0]
    assert new_id != old_id and (old_id, False) in ring
    assert new_id in p.stdout and "re-wrapped" in p.stdout
    assert os.stat(os.path.join(s.data_dir, "master.key")).st_mode & 0o777 == 0o600
    with open(os.path.join(s.data_dir, "master.key")) as f:
        key_lines = f.read()
    for line in key_lines.splitlines():  # no key material printed
        assert line.split()[1] not in p.stdout + p.stderr

    # Every credential and the secret still work on the running server.
    s.client("iam").list_users()
    assert s.client("sts", user_key["AccessKeyId"],
                    user_key["SecretAccessKey"]).get_caller_identity()["Arn"].endswith(
                        "user/rotuser")
    assert s.client("sts", session["AccessKeyId"], session["SecretAccessKey"],
                    session["SessionToken"]).get_caller_identity()["Account"]
    assert sm.get_secret_value(SecretId="rot/secret")["SecretString"] == "before-rotation"
    # New writes use the new key.
    sm.put_secret_value(SecretId="rot/secret", SecretString="after-rotation")

    counts = envelope_key_ids(s.data_dir)
    assert old_id not in counts, counts
    assert counts.get(new_id, 0) >= 5

    # A restart reads the rotated keyring.
    s.stop()
    again = Server(s.data_dir)
    try:
        assert again.client("secretsmanager").get_secret_value(
            SecretId="rot/secret")["SecretString"] == "after-rotation"
        assert again.client("sts", user_key["AccessKeyId"], user_key["SecretAccessKey"]
                            ).get_caller_identity()["Arn"].endswith("user/rotuser")
    finally:
        again.stop()


def test_rotate_refuses_a_key_from_the_environment(tmp_root):
    data_dir = os.path.join(tmp_root, "mk-env")
    os.makedirs(data_dir, mode=0o700)
    env = dict(os.environ, KEYWARD_MASTER_KEY="AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=")
    p = subprocess.run([BIN, "master-key", "rotate", "--data-dir", data_dir], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "KEYWARD_MASTER_KEY" in p.stderr
    assert not os.path.exists(os.path.join(data_dir, "master.key"))
