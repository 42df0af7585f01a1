#!/usr/bin/env python3
"""Registers N simulated agents with a running keyward server and writes their instance
credentials for agent_swarm (--credentials-file).

Each agent is registered the way keyward-agent registers (docs/agent-protocol.md): an
Ed25519 key pair made here, POST /v1/agent/register with an activation code, then
/v1/agent/challenge and /v1/agent/credentials with a signature over
CredentialProofMessage. Activations allow at most 1,000 registrations, so one is
created per 1,000 agents, for an instance role created if missing.

Needs boto3 and `cryptography` (Debian: python3-boto3, python3-cryptography) and the
server's administrator credentials (the data directory's admin-credentials file). Uses
one keep-alive HTTP connection per worker thread; 10,000 agents take about a minute.

Usage: agent_swarm_setup.py --endpoint http://127.0.0.1:8787 \
           --admin-credentials DATA_DIR/admin-credentials --count 10000 --out creds.json
"""
import argparse
import base64
import configparser
import hashlib
import http.client
import json
import sys
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROLE = "AgentSwarmRole"
JSON_11 = "application/x-amz-json-1.1"


def fingerprint(index):
    # Component values are SHA-256 hex of identifiers, as the agent sends them.
    def h(s):
        return hashlib.sha256(s.encode()).hexdigest()
    return {"machine_id": h(f"swarm-machine-{index}"), "hostname": h(f"swarm-{index}"),
            "cpu_model": h("swarm-cpu")}


def proof_message(instance_id, challenge, fp):
    # agentproto::CredentialProofMessage: sorted keys, no spaces.
    return ("keyward-agent-credentials-v1\n" + instance_id + "\n" + challenge + "\n" +
            json.dumps(fp, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).encode()


class Poster:
    """One keep-alive connection per thread."""

    def __init__(self, endpoint):
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port = u.hostname, u.port or 80
        self.local = threading.local()

    def post(self, path, body):
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                conn.request("POST", path, json.dumps(body), {"Content-Type": JSON_11})
                r = conn.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
                continue
            if r.status != 200:
                raise RuntimeError(f"{path}: HTTP {r.status}: {data[:200]!r}")
            return json.loads(data)


def register(poster, activation_id, code, index):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    fp = fingerprint(index)
    reg = poster.post("/v1/agent/register", {
        "ActivationId": activation_id, "ActivationCode": code,
        "PublicKey": base64.b64encode(public).decode(), "Fingerprint": fp,
        "ComputerName": f"swarm-{index}", "IPAddress": "127.0.0.1",
        "AgentVersion": "agent-swarm", "Platform": {"Name": "Swarm", "Version": "1", "Type": "Linux"}})
    instance_id = reg["InstanceId"]
    ch = poster.post("/v1/agent/challenge", {"InstanceId": instance_id})
    signature = key.sign(proof_message(instance_id, ch["Challenge"], fp))
    creds = poster.post("/v1/agent/credentials", {
        "InstanceId": instance_id, "Challenge": ch["Challenge"],
        "Signature": base64.b64encode(signature).decode(), "Fingerprint": fp})
    return {"instance_id": instance_id, "access_key_id": creds["AccessKeyId"],
            "secret": creds["SecretAccessKey"], "token": creds["SessionToken"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default="http://127.0.0.1:8787")
    ap.add_argument("--admin-credentials", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    ini = configparser.ConfigParser()
    ini.read(args.admin_credentials)
    session = boto3.session.Session(
        aws_access_key_id=ini["default"]["aws_access_key_id"],
        aws_secret_access_key=ini["default"]["aws_secret_access_key"], region_name=args.region)
    iam = session.client("iam", endpoint_url=args.endpoint)
    ssm = session.client("ssm", endpoint_url=args.endpoint)
    try:
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}))
    except iam.exceptions.EntityAlreadyExistsException:
        pass

    jobs = []
    for start in range(0, args.count, 1000):
        n = min(1000, args.count - start)
        act = ssm.create_activation(IamRole=ROLE, RegistrationLimit=n,
                                    DefaultInstanceName="agent-swarm")
        jobs += [(act["ActivationId"], act["ActivationCode"], start + i) for i in range(n)]

    poster = Poster(args.endpoint)
    with ThreadPoolExecutor(args.workers) as pool:
        out = list(pool.map(lambda j: register(poster, *j), jobs))
    with open(args.out, "w") as f:
        json.dump(out, f)
    print(f"registered {len(out)} agents into {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
