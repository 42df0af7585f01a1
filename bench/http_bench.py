#!/usr/bin/env python3
"""Authenticated sts:GetCallerIdentity vs. GET /health, with wrk, on one server.

Starts keyward on a fresh data directory, presigns a GetCallerIdentity URL with
botocore, and runs wrk (64 connections) alternately against that URL and /health,
several rounds, so both see the same machine state. Prints medians as a Markdown table.

    bench/http_bench.py [--bin build/bin/keyward] [--rounds 3] [--duration 10]
"""
import argparse
import os
import shutil
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Keyward, add_wrk_arguments, median_of, run_wrk  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    add_wrk_arguments(ap)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="keyward-bench-")
    kw = Keyward(args.bin, tmp)
    try:
        url = kw.client("sts").generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=3600, HttpMethod="GET")
        with urllib.request.urlopen(url) as r:
            assert b"GetCallerIdentityResult" in r.read()
        results = {"health": [], "sts": []}
        for _ in range(args.rounds):
            for name, target in (("health", kw.endpoint + "/health"), ("sts", url)):
                results[name].append(run_wrk(args, target))
        med = {k: median_of(v) for k, v in results.items()}
        print(f"| request | req/s (median of {args.rounds}) | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|")
        print(f"| GET /health | {med['health']['rps']:.0f} | {med['health']['p50_ms']:.2f} | "
              f"{med['health']['p99_ms']:.2f} | {med['health']['errors']:.0f} |")
        print(f"| sts:GetCallerIdentity (presigned, SigV4 verified) | {med['sts']['rps']:.0f} | "
              f"{med['sts']['p50_ms']:.2f} | {med['sts']['p99_ms']:.2f} | {med['sts']['errors']:.0f} |")
        print(f"\nratio authenticated/health: {med['sts']['rps'] / med['health']['rps']:.2f}")
    finally:
        kw.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
