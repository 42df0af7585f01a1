#!/usr/bin/env python3
"""Event-log overhead: authenticated GetSecretValue throughput with the event log on and
off, in the same run (issue 6: on must stay within 15% of off).

Starts two keyward servers on fresh data directories, one with the event log (the
default) and one with --no-event-log, fills each with the same secrets, then alternates
wrk rounds of pre-signed GetSecretValue requests between them (on, off, on, off, ...) so
that both see the same machine conditions. Prints a Markdown table of medians, the
ratio, and how many events the logging server wrote and dropped (from /metrics and the
database).

    bench/events_bench.py [--bin build/bin/keyward] [--rounds 5] [--duration 10]
                          [--secrets 1000]
"""
import argparse
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The stored-block reader the integration tests use (zstd, and zlib for older blocks).
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import event_blocks  # noqa: E402
from benchlib import Keyward, add_wrk_arguments, median_of  # noqa: E402
from secrets_bench import create_secrets, read_pool, secret_name, send, wrk, write_pool  # noqa: E402


def one_round(kw, args, names, pool_path):
    pool = read_pool(kw, names)
    status, body = send(kw, pool[0])
    if status != 200 or "SecretString" not in body:
        raise RuntimeError(f"pre-signed GetSecretValue failed: {status} {body}")
    write_pool(pool_path, pool)
    return wrk(args, kw.endpoint + "/", [pool_path, "cycle", str(args.threads)])


def dropped(kw):
    text = urllib.request.urlopen(kw.endpoint + "/metrics", timeout=5).read().decode()
    m = re.search(r"^keyward_events_dropped_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def stored_events(data_dir):
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'keyward.db')}?mode=ro", uri=True)
    try:
        # One row per block: a header line, then its records, compressed, one a line.
        rows = db.execute("SELECT value FROM kv WHERE tbl = 'events'").fetchall()
        return sum(len(event_blocks.decode(v)[1]) for v, in rows)
    finally:
        db.close()


def main():
    ap = argparse.ArgumentParser()
    add_wrk_arguments(ap)
    ap.add_argument("--secrets", type=int, default=1000)
    ap.add_argument("--pool", type=int, default=256, help="signed GetSecretValue requests")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed")
    tmp = tempfile.mkdtemp(prefix="kw-events-bench-")
    servers = {}
    try:
        for label, extra in (("on", ()), ("off", ("--no-event-log",))):
            d = os.path.join(tmp, label)
            os.makedirs(d)
            servers[label] = Keyward(args.bin, d, extra)
            create_secrets(servers[label], 0, args.secrets)
        rng = random.Random(args.secrets)
        names = [secret_name(rng.randrange(args.secrets)) for _ in range(args.pool)]
        runs = {"on": [], "off": []}
        for r in range(args.rounds):
            for label in ("on", "off") if r % 2 == 0 else ("off", "on"):
                result = one_round(servers[label], args, names, os.path.join(tmp, "pool.tsv"))
                print(f"  round {r + 1} event log {label}: {result['rps']:.0f} req/s",
                      file=sys.stderr)
                runs[label].append(result)
        med = {k: median_of(v) for k, v in runs.items()}
        drops = dropped(servers["on"])
        servers["on"].stop()
        stored = stored_events(servers["on"].data_dir)
        requests = sum(r["requests"] for r in runs["on"])
        ratio = med["on"]["rps"] / med["off"]["rps"]
        # Each round runs on and off back to back: the median of the per-round ratios is
        # steadier than the ratio of medians when the machine's load swings between rounds.
        pairs = sorted(a["rps"] / b["rps"] for a, b in zip(runs["on"], runs["off"]))
        paired = pairs[len(pairs) // 2] if len(pairs) % 2 else \
            (pairs[len(pairs) // 2 - 1] + pairs[len(pairs) // 2]) / 2
        print(f"\nGetSecretValue, {args.secrets} secrets, {args.connections} connections, "
              f"{args.rounds} rounds of {args.duration}s each, medians:\n")
        print("| event log | req/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---:|---:|---:|---:|")
        for label in ("off", "on"):
            m = med[label]
            print(f"| {label} | {m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                  f"{m['errors']:.0f} |")
        print(f"\non/off throughput: {ratio:.3f} ({(1 - ratio) * 100:.1f}% slower; limit 15%); "
              f"median of per-round ratios {paired:.3f}")
        print(f"events stored: {stored:,} for {requests:,} measured requests "
              f"(plus setup calls); dropped: {drops}")
    finally:
        for s in servers.values():
            if s.proc.poll() is None:
                s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
