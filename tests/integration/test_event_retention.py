"""`keyward server --events-retention-days N` reaches the event recorder: once events are
older than N days, the server prunes them with a signed checkpoint, `keyward events verify`
still passes, and `keyward events export` no longer returns them.

Ageing events by editing keyward.db would break the hash chain, so the events are
recorded at the real time and the later servers run 40 days ahead with a shifted wall
clock: clock_shift.c, an LD_PRELOAD shim compiled here. libfaketime (`faketime -f +40d`)
cannot start keyward: with jemalloc linked in, it reports "Unexpected recursive calls to
clock_gettime() without proper initialization" and the process hangs (libfaketime issues
#130, #478). The recorder prunes in its first writer round after a start (then hourly),
so a start is enough to see it."""
import datetime
import gzip
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time

import pytest

import conftest
from conftest import BIN, Server, run_aws

CC = shutil.which("cc") or shutil.which("gcc")
SHIFT_DAYS = 40  # the later servers' clock: events of the first run are 40 days old there

pytestmark = pytest.mark.skipif(CC is None, reason="needs a C compiler for clock_shift.c")


@pytest.fixture(scope="module")
def shift_env(tmp_root):
    """The environment of a process whose wall clock runs SHIFT_DAYS ahead."""
    lib = os.path.join(tmp_root, "clock_shift.so")
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clock_shift.c")
    subprocess.run([CC, "-shared", "-fPIC", "-O2", "-o", lib, source], check=True, timeout=60)
    env = dict(os.environ)
    env["LD_PRELOAD"] = lib
    env["KW_CLOCK_SHIFT_SECONDS"] = str(SHIFT_DAYS * 86400)
    shifted = subprocess.run(["date", "-u", "+%s"], env=env, capture_output=True, text=True)
    assert abs(int(shifted.stdout) - time.time() - SHIFT_DAYS * 86400) < 60
    return env


def shifted_server(tmp_root, shift_env, data_dir, retention_days):
    """A Server whose keyward runs SHIFT_DAYS ahead."""
    wrapper = os.path.join(tmp_root, "keyward-shifted")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n" + " ".join(f"{k}='{shift_env[k]}'" for k in
                                         ("LD_PRELOAD", "KW_CLOCK_SHIFT_SECONDS")) +
                f" exec {BIN} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    saved = conftest.BIN
    conftest.BIN = wrapper  # Server starts conftest.BIN
    try:
        return Server(data_dir, extra_args=("--events-retention-days", str(retention_days)))
    finally:
        conftest.BIN = saved


def verify(data_dir):
    p = subprocess.run([BIN, "events", "verify", "--data-dir", data_dir],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "event log verified: intact" in p.stdout
    return p.stdout


def exported(tmp_root, data_dir, name):
    """Every record `keyward events export` writes, from yesterday to 41 days ahead."""
    out = os.path.join(tmp_root, name)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    p = subprocess.run(
        [BIN, "events", "export", "--data-dir", data_dir,
         "--since", str(today - datetime.timedelta(1)),
         "--until", str(today + datetime.timedelta(42)), "--out", out],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    records = []
    for d, _, files in os.walk(out):
        for f in files:
            with gzip.open(os.path.join(d, f)) as g:
                records.extend(json.load(g)["Records"])
    return records


def checkpoint(data_dir):
    """The signed prune checkpoint's sequence, read beside a running server; None if none."""
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'keyward.db')}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT value FROM kv WHERE tbl = 'event_meta' AND key = 'checkpoint'").fetchone()
    finally:
        db.close()
    return None if row is None else json.loads(bytes(row[0]) if isinstance(row[0], bytes)
                                               else row[0])["seq"]


def wait_for_checkpoint(data_dir, at_least, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        seq = checkpoint(data_dir)
        if seq is not None and seq >= at_least:
            return seq
        time.sleep(0.05)
    pytest.fail(f"no prune checkpoint at or after sequence {at_least} within {timeout} s")


def shifted_aws(server, shift_env, *args):
    """The aws CLI with the same shifted clock, so that its SigV4 time matches the server's."""
    p = run_aws(server, *args, base_env=shift_env)
    return json.loads(p.stdout) if p.stdout.strip() else None


def last_sequence(verify_output):
    m = re.search(r"events: \d+ \(sequence (\d+) to (\d+)\)", verify_output)
    assert m, verify_output
    return int(m.group(2))


def test_retention_days_prune_old_events_with_a_signed_checkpoint(tmp_root, shift_env):
    data_dir = os.path.join(tmp_root, "retention-data")

    # 1. Events at the real time.
    s = Server(data_dir, extra_args=("--events-retention-days", "30"))
    sm = s.client("secretsmanager")
    sm.create_secret(Name="ret/app", SecretString="kept-value")
    for _ in range(3):
        sm.get_secret_value(SecretId="ret/app")
    assert s.stop() == 0
    old = exported(tmp_root, data_dir, "export-1")
    old_ids = {r["eventID"] for r in old}
    assert len(old) >= 4
    assert sum(r["eventName"] == "GetSecretValue" for r in old) == 3
    out = verify(data_dir)
    assert "pruned up to" not in out
    old_last = last_sequence(out)

    # 2. 40 days later with a 50-day retention: nothing is old enough.
    s = shifted_server(tmp_root, shift_env, data_dir, 50)
    time.sleep(0.5)  # the writer's first rounds (every 50 ms) run their upkeep
    assert s.stop() == 0
    assert checkpoint(data_dir) is None
    assert {r["eventID"] for r in exported(tmp_root, data_dir, "export-2")} == old_ids

    # 3. With 30 days: the start-up prune deletes every old event but the newest record
    # (Prune never deletes the tail); a call through the shifted clock still works.
    s = shifted_server(tmp_root, shift_env, data_dir, 30)
    assert wait_for_checkpoint(data_dir, old_last - 1) == old_last - 1
    got = shifted_aws(s, shift_env, "secretsmanager", "get-secret-value", "--secret-id", "ret/app")
    assert got["SecretString"] == "kept-value"
    assert s.stop() == 0
    out = verify(data_dir)
    assert f"pruned up to sequence {old_last - 1} (signed checkpoint)" in out
    records = exported(tmp_root, data_dir, "export-3")
    left = [r for r in records if r["eventID"] in old_ids]
    assert len(left) == 1
    new = [r for r in records if r["eventID"] not in old_ids]
    assert [r["eventName"] for r in new] == ["GetSecretValue"]
    shifted_day = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(SHIFT_DAYS)).date()
    assert new[0]["eventTime"].startswith(str(shifted_day))

    # 4. Restarted 40 days ahead: the last old record is no longer the tail, so it goes too.
    s = shifted_server(tmp_root, shift_env, data_dir, 30)
    wait_for_checkpoint(data_dir, old_last)
    assert s.stop() == 0
    out = verify(data_dir)
    assert f"pruned up to sequence {old_last} (signed checkpoint)" in out
    records = exported(tmp_root, data_dir, "export-4")
    assert not {r["eventID"] for r in records} & old_ids
    assert [r["eventID"] for r in records] == [r["eventID"] for r in new]
