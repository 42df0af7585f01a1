#!/usr/bin/env python3
"""Rotation benchmark (issue 5): 1,000 IAM users rotated end to end, each key delivered by
Run Command to one of 10 agents (100 secrets per agent), quiet and grace periods of 1 s.

  bench/rotation_bench.py --build build --users 1000 --agents 10 --rounds 3

Setup (not timed): users, one key each, a secret holding it, a rotation policy whose
delivery is a document sent to one agent; the agents are simulated by agent_swarm
(real WebSocket control channels; it acknowledges each command with Success without
running the document, so the server does all of its own work: the command, the
invocation's result, the acknowledgement poll). Timed: from RotateNow on every policy
until every rotation is done (new key created, stored, tested, promoted, delivered and
acknowledged, old key quiet, deactivated, grace, deleted). Reported: the wall time, the
server's CPU seconds (utime + stime from /proc/PID/stat) over that interval and per
rotation, and that each user ends with exactly one key, the one in AWSCURRENT.

The server runs with rotation_tick_ms, rotation_max_active_per_issuer and
rotation_threads from --tick-ms, --max-active and --threads (YAML config).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Keyward  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from rotation_client import json_call, signed_call  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Api:
    def __init__(self, kw):
        u = urllib.parse.urlparse(kw.endpoint)
        self.host, self.port = u.hostname, u.port
        self.key, self.secret = kw.credentials.access_key, kw.credentials.secret_key

    def json(self, service, target, payload):
        status, body = json_call(self.host, self.port, self.key, self.secret, service, target,
                                 payload)
        if status != 200:
            raise RuntimeError(f"{target}: HTTP {status} {body[:300]}")
        return json.loads(body or "{}")

    def iam(self, params):
        body = urllib.parse.urlencode({"Version": "2010-05-08", **params})
        status, text = signed_call(self.host, self.port, self.key, self.secret, "iam", body, {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        if status != 200:
            raise RuntimeError(f"{params['Action']}: HTTP {status} {text[:300]}")
        return text


def tag(text, name):
    a = text.index(f"<{name}>") + len(name) + 2
    return text[a:text.index(f"</{name}>", a)]


def setup_user(api, i, instance_id, args):
    user, secret = f"bench-{i:05d}", f"bench/{i:05d}"
    api.iam({"Action": "CreateUser", "UserName": user})
    created = api.iam({"Action": "CreateAccessKey", "UserName": user})
    api.json("secretsmanager", "CreateSecret", {"Name": secret, "SecretString": json.dumps({
        "aws_access_key_id": tag(created, "AccessKeyId"),
        "aws_secret_access_key": tag(created, "SecretAccessKey")})})
    policy = api.json("keyward", "CreateRotationPolicy", {
        "UserName": user, "SecretId": secret, "AutomaticallyAfterDays": 90,
        "Delivery": {"Type": "document", "Parameters": {
            "document": "AWS-RunShellScript", "param:commands": "true"}},
        "Targets": [{"Key": "InstanceIds", "Values": [instance_id]}],
        "QuietPeriodSeconds": args.quiet, "AckTimeoutSeconds": 120,
        "GracePeriodSeconds": args.grace})["RotationPolicy"]
    return user, secret, policy["PolicyId"]


def one_round(args, tmp, round_no):
    d = os.path.join(tmp, f"r{round_no}")
    os.makedirs(d)
    config = os.path.join(d, "config.yaml")
    with open(config, "w") as f:
        f.write(f"rotation_tick_ms: {args.tick_ms}\nrotation_max_active_per_issuer: "
                f"{args.max_active}\nrotation_threads: {args.threads}\n")
    kw = Keyward(os.path.join(args.build, "bin", "keyward"), d, extra_args=("--config", config))
    swarm = None
    try:
        creds = os.path.join(d, "swarm.json")
        subprocess.run([sys.executable, os.path.join(HERE, "agent_swarm_setup.py"),
                        "--endpoint", kw.endpoint, "--admin-credentials",
                        os.path.join(kw.data_dir, "admin-credentials"),
                        "--count", str(args.agents), "--out", creds], check=True,
                       capture_output=True)
        with open(creds) as f:
            instances = [a["instance_id"] for a in json.load(f)]
        swarm = subprocess.Popen(
            [os.path.join(args.build, "bin", "agent_swarm"), "--endpoint", kw.endpoint,
             "--credentials-file", creds, "--duration", "3600", "--heartbeat", "30"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        while json.loads(swarm.stdout.readline()).get("phase") != "connect":
            pass
        api = Api(kw)
        with ThreadPoolExecutor(8) as pool:
            policies = list(pool.map(
                lambda i: setup_user(api, i, instances[i % len(instances)], args),
                range(args.users)))

        cpu0 = cpu_seconds(kw.proc.pid)
        start = time.time()
        with ThreadPoolExecutor(8) as pool:
            rotations = list(pool.map(
                lambda p: api.json("keyward", "RotateNow", {"PolicyId": p[2]})["Rotation"]["RotationId"],
                policies))
        started_s = time.time() - start
        pending = set(range(len(policies)))
        failed = []
        while pending and time.time() - start < args.timeout:
            time.sleep(0.5)
            # The policy's ActiveRotationId clears when its rotation finishes.
            page, token, active = None, None, set()
            while True:
                req = {"MaxResults": 100}
                if token:
                    req["NextToken"] = token
                page = api.json("keyward", "ListRotationPolicies", req)
                active |= {p["PolicyId"] for p in page["RotationPolicies"] if p.get("ActiveRotationId")}
                token = page.get("NextToken")
                if not token:
                    break
            pending = {i for i in pending if policies[i][2] in active}
        wall = time.time() - start
        cpu = cpu_seconds(kw.proc.pid) - cpu0
        # Check every rotation: done, one key, the one in AWSCURRENT.
        bad = 0
        for i, (user, secret, _) in enumerate(policies):
            r = api.json("keyward", "GetRotation", {"RotationId": rotations[i]})["Rotation"]
            if r["Step"] != "done":
                failed.append((rotations[i], r["Step"], r.get("WaitingReason", "")[:200]))
                continue
            if i % max(1, args.users // 100) == 0:  # a sample: 100 users
                keys = api.iam({"Action": "ListAccessKeys", "UserName": user}).count("<AccessKeyId>")
                cur = json.loads(api.json("secretsmanager", "GetSecretValue",
                                          {"SecretId": secret})["SecretString"])
                if keys != 1 or cur["aws_access_key_id"] != r["NewAccessKeyId"]:
                    bad += 1
        out = {"round": round_no, "users": args.users, "agents": args.agents,
               "rotate_now_s": round(started_s, 2), "all_done_s": round(wall, 2),
               "server_cpu_s": round(cpu, 2),
               "server_cpu_ms_per_rotation": round(cpu * 1000 / args.users, 2),
               "not_done": len(failed), "bad_sampled": bad}
        if failed:
            out["first_not_done"] = failed[:3]
        return out
    finally:
        if swarm:
            swarm.terminate()
            swarm.wait(timeout=30)
        kw.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="fresh server each; median reported")
    ap.add_argument("--quiet", type=int, default=1, help="quiet period, seconds")
    ap.add_argument("--grace", type=int, default=1, help="grace period, seconds")
    ap.add_argument("--tick-ms", type=int, default=200)
    ap.add_argument("--max-active", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="kw-rotation-bench-") as tmp:
        for n in range(args.rounds):
            r = one_round(args, tmp, n)
            print(json.dumps(r), flush=True)
            rounds.append(r)
    summary = {k: statistics.median(r[k] for r in rounds)
               for k in ("all_done_s", "server_cpu_s", "server_cpu_ms_per_rotation")}
    summary["rounds"] = len(rounds)
    summary["not_done_total"] = sum(r["not_done"] for r in rounds)
    print(json.dumps({"median": summary}))


if __name__ == "__main__":
    main()
