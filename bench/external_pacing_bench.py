#!/usr/bin/env python3
"""Pacing against an external issuer (issue 5, "Benchmark"): against an external IAM
limited to 10 calls/s, the run's duration stays within 10% of the bound that rate implies.

  bench/external_pacing_bench.py --build build --users 20 --rate 10 --rounds 3

The external issuer is moto's server (authentication enforced, as in
tests/integration/test_external_issuer.py) behind a counting proxy in this script, which
forwards every request untouched and records its IAM action and arrival time. keyward's
issuer has calls_per_second --rate and burst --burst (the --integrations file); the
policies deliver nothing ("none"), quiet and grace periods are 1 s.

Timed: from RotateNow on every policy until every rotation is done. The bound is the
number of IAM calls the rotations made (counted at the proxy) divided by the rate: no
client paced at that rate can make them faster (less the burst, which a full bucket lets
through at once). Reported per round and as medians of --rounds: calls, bound, duration,
duration / bound, and the pacing the proxy saw (calls/s between the first and the last
call). Each user must end with exactly one key, the one in AWSCURRENT.
"""
import argparse
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

import benchlib  # noqa: E402
from aws_moto import MOTO_PYTHON, Moto  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402


class CountingProxy:
    """Forwards every request to `upstream` as is; records (time, action) of each."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.calls = []  # (monotonic time of arrival, IAM action)
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                query = urllib.parse.parse_qs(body.decode(errors="replace"))
                action = query.get("Action", ["?"])[0]
                with proxy.lock:
                    proxy.calls.append((time.monotonic(), action))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "content-length")}
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST",
                                             headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, payload, ctype = r.status, r.read(), r.headers.get("Content-Type")
                except urllib.error.HTTPError as e:
                    status, payload, ctype = e.code, e.read(), e.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", ctype or "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        with self.lock:
            self.calls = []

    def stop(self):
        self.server.shutdown()


def keyward_call(kw, operation, payload):
    body = json.dumps(payload)
    req = AWSRequest(method="POST", url=kw.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Keyward." + operation})
    SigV4Auth(kw.credentials, "keyward", benchlib.REGION).add_auth(req)
    http_req = urllib.request.Request(kw.endpoint + "/", data=body.encode(), method="POST",
                                      headers=dict(req.headers.items()))
    with urllib.request.urlopen(http_req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def one_round(args, tmp, index):
    root = os.path.join(tmp, f"round{index}")
    os.makedirs(root)
    moto = Moto(root)
    moto_iam = moto.client("iam")
    proxy = CountingProxy(moto.endpoint)
    kw = None
    try:
        cred_file = os.path.join(root, "credentials")
        with open(cred_file, "w") as f:
            f.write(f"[moto]\naws_access_key_id = {moto.admin_key}\n"
                    f"aws_secret_access_key = {moto.admin_secret}\n")
        integrations = os.path.join(root, "integrations.yaml")
        with open(integrations, "w") as f:
            json.dump({"issuers": {"ext": {
                "type": "aws-iam", "endpoint": proxy.endpoint, "sts_endpoint": proxy.endpoint,
                "profile": "moto", "region": benchlib.REGION, "calls_per_second": args.rate,
                "burst": args.burst, "timeout_seconds": 10, "max_attempts": 4}}}, f)
        config = os.path.join(root, "config.yaml")
        with open(config, "w") as f:
            f.write(f"rotation_tick_ms: {args.tick_ms}\nrotation_max_active_per_issuer: 64\n"
                    f"rotation_threads: 4\n")
        saved = dict(os.environ)
        for k in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[k]
        os.environ.update(AWS_SHARED_CREDENTIALS_FILE=cred_file, AWS_CONFIG_FILE="/dev/null",
                          AWS_EC2_METADATA_DISABLED="true")
        try:
            kw = benchlib.Keyward(os.path.join(args.build, "bin", "keyward"), root,
                                  ("--integrations", integrations, "--config", config))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        sm = kw.client("secretsmanager")
        users = [f"paced-{i:03d}" for i in range(args.users)]
        olds, policies = {}, []
        for u in users:  # setup, straight at moto: not counted, not timed
            moto_iam.create_user(UserName=u)
            olds[u] = moto_iam.create_access_key(UserName=u)["AccessKey"]
            sm.create_secret(Name=f"{u}-key", SecretString=json.dumps({
                "aws_access_key_id": olds[u]["AccessKeyId"],
                "aws_secret_access_key": olds[u]["SecretAccessKey"]}))
            policies.append(keyward_call(kw, "CreateRotationPolicy", {
                "UserName": u, "SecretId": f"{u}-key", "Issuer": "ext",
                "Delivery": {"Type": "none"}, "AutomaticallyAfterDays": 90,
                "QuietPeriodSeconds": 1, "AckTimeoutSeconds": 60,
                "GracePeriodSeconds": 1})["RotationPolicy"]["PolicyId"])
        time.sleep(1.5)  # the bucket is full again, as at any idle start
        proxy.reset()
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            rids = list(pool.map(lambda p: keyward_call(kw, "RotateNow", {"PolicyId": p})[
                "Rotation"]["RotationId"], policies))
        pending, last = set(rids), {}
        while pending:
            for rid in list(pending):
                r = keyward_call(kw, "GetRotation", {"RotationId": rid})["Rotation"]
                last[rid] = r
                if r["Step"] in ("done", "failed"):
                    pending.discard(rid)
            if time.monotonic() - start > args.timeout:
                raise RuntimeError(f"rotations still running: {[last[r] for r in pending][:2]}")
            time.sleep(0.05)
        duration = time.monotonic() - start
        calls = list(proxy.calls)
        failed = [r for r in last.values() if r["Step"] != "done"]
        if failed:
            raise RuntimeError(f"{len(failed)} rotations failed: {failed[0]}")
        for u in users:
            keys = moto_iam.list_access_keys(UserName=u)["AccessKeyMetadata"]
            current = json.loads(sm.get_secret_value(SecretId=f"{u}-key")["SecretString"])
            if len(keys) != 1 or keys[0]["AccessKeyId"] != current["aws_access_key_id"]:
                raise RuntimeError(f"{u}: keys {keys}, AWSCURRENT {current['aws_access_key_id']}")
        actions = {}
        for _, a in calls:
            actions[a] = actions.get(a, 0) + 1
        span = calls[-1][0] - calls[0][0] if len(calls) > 1 else 0.0
        bound = len(calls) / args.rate
        return {"calls": len(calls), "bound_s": bound, "duration_s": duration,
                "ratio": duration / bound, "paced_calls_per_s": (len(calls) - 1) / span,
                "first_call_s": calls[0][0] - start, "after_last_call_s": start + duration -
                calls[-1][0], "actions": actions}
    finally:
        if kw:
            kw.stop()
        proxy.stop()
        moto.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--rate", type=float, default=10.0, help="calls_per_second of the issuer")
    ap.add_argument("--burst", type=float, default=1.0, help="burst of the issuer's bucket")
    ap.add_argument("--tick-ms", type=int, default=100, help="rotation_tick_ms")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    if MOTO_PYTHON is None:
        sys.exit("moto is not installed (pip install 'moto[server]')")
    runs = []
    with tempfile.TemporaryDirectory(prefix="kw-pacing-") as tmp:
        for i in range(args.rounds):
            r = one_round(args, tmp, i)
            runs.append(r)
            print(f"round {i + 1}: {r['calls']} IAM calls, bound {r['bound_s']:.2f} s, "
                  f"duration {r['duration_s']:.2f} s, ratio {r['ratio']:.3f}, "
                  f"paced at {r['paced_calls_per_s']:.2f} calls/s, first call after "
                  f"{r['first_call_s']:.2f} s, done {r['after_last_call_s']:.2f} s after the "
                  f"last; {r['actions']}", flush=True)
    med = {k: statistics.median(r[k] for r in runs) for k in
           ("calls", "bound_s", "duration_s", "ratio", "paced_calls_per_s")}
    print(f"median of {len(runs)}: {args.users} users at {args.rate:g} calls/s (burst "
          f"{args.burst:g}): {med['calls']:.0f} IAM calls, bound {med['bound_s']:.2f} s, duration "
          f"{med['duration_s']:.2f} s, duration/bound {med['ratio']:.3f} "
          f"({'within' if abs(med['ratio'] - 1) <= 0.10 else 'NOT within'} 10%), paced at "
          f"{med['paced_calls_per_s']:.2f} calls/s")


if __name__ == "__main__":
    main()
