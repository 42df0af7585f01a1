#!/usr/bin/env python3
"""Secrets Manager throughput: GetSecretValue beside GET /health, and durable PutSecretValue.

Starts keyward on a fresh data directory and fills it with secrets (boto3, a thread pool).
wrk cannot sign, so the requests are pre-signed with botocore's SigV4Auth and replayed by
bench/get_secret_value.lua (signatures stay valid for 15 minutes; the pools are signed again
before every wrk run).

Reads: a pool of signed GetSecretValue requests over random secrets, and GET /health,
alternately with 64 connections, several rounds, at 1,000 then 10,000 secrets (and
100,000 with --with-100k) to show whether latency grows with the store. Writes: 64
connections each sending distinct signed PutSecretValue requests (each has its own
ClientRequestToken, so none is an idempotent repeat) for --write-duration seconds.
Prints Markdown tables of medians.

    bench/secrets_bench.py [--bin build/bin/keyward] [--rounds 3] [--duration 10]
                           [--with-100k] [--restart] [--settle S] [--write-duration 10]
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import random
import secrets as pysecrets
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import REGION, Keyward, add_wrk_arguments, median_of, run_wrk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "get_secret_value.lua")


def secret_value(i):
    """A value shaped like the seed's: an access key pair as JSON."""
    return json.dumps({"aws_access_key_id": f"AKIA{i:016d}",
                       "aws_secret_access_key": pysecrets.token_urlsafe(30)[:40]})


def secret_name(i):
    return f"bench/app-{i:06d}"


def create_secrets(kw, start, stop, threads=16):
    """Creates secrets start..stop-1 concurrently; returns the elapsed seconds."""
    # One client for all threads: boto3 clients are thread-safe, creating them is not.
    client = kw.client("secretsmanager")

    def create(i):
        client.create_secret(Name=secret_name(i), SecretString=secret_value(i))

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for n, _ in enumerate(pool.map(create, range(start, stop)), 1):
            if n % 5000 == 0:
                print(f"  created {start + n} secrets", file=sys.stderr)
    return time.time() - t0


def sign(endpoint, credentials, target, body):
    """A SigV4-signed JSON 1.1 request: (method, path, body, headers)."""
    req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": f"secretsmanager.{target}",
                              "Host": urllib.parse.urlsplit(endpoint).netloc})
    SigV4Auth(credentials, "secretsmanager", REGION).add_auth(req)
    return "POST", "/", body, dict(req.headers.items())


def write_pool(path, requests):
    with open(path, "w") as f:
        for method, target, body, headers in requests:
            fields = [method, target, body] + [f"{k}: {v}" for k, v in headers.items()]
            assert not any("\t" in x or "\n" in x for x in fields)
            f.write("\t".join(fields) + "\n")


def read_pool(kw, names):
    return [sign(kw.endpoint, kw.credentials, "GetSecretValue", json.dumps({"SecretId": n}))
            for n in names]


def write_requests(kw, count, targets):
    out = []
    for i in range(count):
        body = json.dumps({"SecretId": targets[i % len(targets)],
                           "SecretString": secret_value(i),
                           "ClientRequestToken": str(uuid.uuid4())})
        out.append(sign(kw.endpoint, kw.credentials, "PutSecretValue", body))
    return out


def send(kw, request):
    """Sends one pool request as wrk would; returns (status, parsed JSON)."""
    method, target, body, headers = request
    conn = http.client.HTTPConnection("127.0.0.1", kw.port, timeout=10)
    conn.request(method, target, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data or b"{}")


def wrk(args, url, script_args=None):
    return run_wrk(args, url, LUA if script_args else None, script_args or ())


def bench_reads(kw, args, count, tmp):
    """Alternates /health and GetSecretValue rounds; returns medians for both."""
    pool_path = os.path.join(tmp, "get-pool.tsv")
    rng = random.Random(count)
    names = [secret_name(rng.randrange(count)) for _ in range(args.pool)]
    runs = {"health": [], "get": []}
    for _ in range(args.rounds):
        pool = read_pool(kw, names)
        status, body = send(kw, pool[0])
        if status != 200 or body.get("Name") != names[0] or "SecretString" not in body:
            raise RuntimeError(f"pre-signed GetSecretValue failed: {status} {body}")
        write_pool(pool_path, pool)
        runs["health"].append(wrk(args, kw.endpoint + "/health"))
        runs["get"].append(wrk(args, kw.endpoint + "/", [pool_path, "cycle", str(args.threads)]))
    return {k: median_of(v) for k, v in runs.items()}


def bench_writes(kw, args, count, tmp):
    """64 connections of distinct PutSecretValue requests; returns the measured run."""
    pool_path = os.path.join(tmp, "put-pool.tsv")
    targets = [secret_name(i) for i in range(min(count, 1000))]
    size = args.write_pool
    for _ in range(3):
        t0 = time.time()
        pool = write_requests(kw, size, targets)
        print(f"  signed {size} PutSecretValue requests in {time.time() - t0:.1f}s",
              file=sys.stderr)
        write_pool(pool_path, pool)
        wargs = argparse.Namespace(**{**vars(args), "duration": args.write_duration})
        result = wrk(wargs, kw.endpoint + "/", [pool_path, "once", str(args.threads)])
        if result["wraps"] == 0:
            ok = result["requests"] - result["errors"]
            result["writes_per_s"] = ok / args.write_duration
            return result
        print(f"  pool of {size} ran out ({result['requests']} requests); doubling",
              file=sys.stderr)
        size *= 2
    result["writes_per_s"] = size / args.write_duration  # a lower bound: the pool ran out
    result["note"] = "pool exhausted: lower bound"
    return result


def main():
    ap = argparse.ArgumentParser()
    add_wrk_arguments(ap)
    ap.add_argument("--pool", type=int, default=256, help="signed GetSecretValue requests")
    ap.add_argument("--with-100k", action="store_true", help="also measure at 100,000 secrets")
    ap.add_argument("--restart", action="store_true",
                    help="restart the server after filling the store, before measuring reads, "
                         "so the figures do not include the aftermath of the creations")
    ap.add_argument("--settle", type=float, default=0,
                    help="seconds to wait after filling (and restarting) before measuring")
    ap.add_argument("--write-duration", type=int, default=10)
    ap.add_argument("--writes-only", action="store_true",
                    help="only the PutSecretValue benchmark, over 1,000 secrets")
    ap.add_argument("--write-pool", type=int, default=40000,
                    help="signed PutSecretValue requests (doubled if wrk runs out)")
    args = ap.parse_args()
    # Pools are signed again before every wrk run; one run must end within 15 minutes.
    if max(args.duration, args.write_duration) >= 14 * 60:
        ap.error("a wrk run must be shorter than the 15 minutes signatures stay valid")

    tmp = tempfile.mkdtemp(prefix="keyward-secrets-bench-")
    kw = Keyward(args.bin, tmp)
    try:
        sizes = [1000, 10000] + ([100000] if args.with_100k else [])
        if args.writes_only:
            sizes = [1000]
        reads = {}
        created = 0
        for size in sizes:
            secs = create_secrets(kw, created, size)
            print(f"  {size - created} secrets created in {secs:.1f}s "
                  f"({(size - created) / secs:.0f}/s)", file=sys.stderr)
            created = size
            if args.restart:
                kw.restart()
            time.sleep(args.settle)
            if not args.writes_only:
                reads[size] = bench_reads(kw, args, size, tmp)
        writes = bench_writes(kw, args, created, tmp)
        print_tables(args, sizes, reads, writes, created)
    finally:
        kw.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def print_tables(args, sizes, reads, writes, created):
    goals = []
    if reads:
        print(f"### GetSecretValue vs GET /health (wrk, {args.connections} connections, "
              f"{args.threads} threads, {args.duration}s, median of {args.rounds})\n")
        print("| secrets | GET /health req/s | GetSecretValue req/s | ratio | "
              "GSV p50 ms | GSV p99 ms | /health p50 ms | /health p99 ms | non-2xx |")
        print("|---|---|---|---|---|---|---|---|---|")
        for size, r in reads.items():
            h, g = r["health"], r["get"]
            print(f"| {size:,} | {h['rps']:.0f} | {g['rps']:.0f} | {g['rps'] / h['rps']:.2f} | "
                  f"{g['p50_ms']:.2f} | {g['p99_ms']:.2f} | {h['p50_ms']:.2f} | "
                  f"{h['p99_ms']:.2f} | {g['errors'] + h['errors']:.0f} |")
        print()
        # The goals of issue 3, checked on the largest store measured.
        big, small = reads[sizes[-1]], reads[sizes[0]]
        ratio = big["get"]["rps"] / big["health"]["rps"]
        growth = big["get"]["p50_ms"] / small["get"]["p50_ms"]
        goals += [("GetSecretValue >= 0.5 x /health", f"{ratio:.2f}", ratio >= 0.5),
                  ("GetSecretValue >= 20,000 req/s", f"{big['get']['rps']:.0f}",
                   big["get"]["rps"] >= 20000),
                  (f"p50 does not grow {sizes[0]:,} -> {sizes[-1]:,} secrets (<= 1.2x)",
                   f"{growth:.2f}x", growth <= 1.2)]
    print(f"### Durable PutSecretValue ({args.connections} concurrent writers, "
          f"{args.write_duration}s, {created:,} secrets, writes over "
          f"{min(created, 1000)} of them)\n")
    print("| writes/s | p50 ms | p99 ms | non-2xx | note |")
    print("|---|---|---|---|---|")
    print(f"| {writes['writes_per_s']:.0f} | {writes['p50_ms']:.2f} | "
          f"{writes['p99_ms']:.2f} | {writes['errors']} | {writes.get('note', '')} |")
    goals.append(("durable PutSecretValue >= 1,000/s", f"{writes['writes_per_s']:.0f}",
                  writes["writes_per_s"] >= 1000))
    print("\n| goal | measured | met |")
    print("|---|---|---|")
    for goal, value, met in goals:
        print(f"| {goal} | {value} | {'yes' if met else 'no'} |")


if __name__ == "__main__":
    sys.exit(main())
