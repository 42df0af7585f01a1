"""boto3 calls made from inside a network namespace, so that the server sees them come
from that namespace's own address.

One Python process per namespace (`ip netns exec NS python3 -c ...`) imports boto3 once
and then serves calls read as JSON lines on its stdin, so each call costs milliseconds,
not the second an `aws` process takes to start: the audit tests time uses against
learning periods of a few seconds.
"""
import json
import subprocess
import sys

_SERVE = r'''
import json, sys
import boto3, botocore.config, botocore.exceptions
endpoint = sys.argv[1]
config = botocore.config.Config(retries={"max_attempts": 1})
for line in sys.stdin:
    req = json.loads(line)
    client = boto3.client(req["service"], endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=req["key"], aws_secret_access_key=req["secret"],
                          aws_session_token=req.get("token"), config=config)
    try:
        out = {"ok": True, "result": getattr(client, req["operation"])(**req.get("params", {}))}
    except botocore.exceptions.ClientError as e:
        out = {"ok": False, "code": e.response["Error"]["Code"]}
    except Exception as e:
        out = {"ok": False, "code": type(e).__name__, "message": str(e)}
    print(json.dumps(out, default=str), flush=True)
'''


class NetnsClient:
    """Calls `endpoint` from network namespace `netns` (None: from this process's own)."""

    def __init__(self, netns, endpoint):
        argv = [sys.executable, "-c", _SERVE, endpoint]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def call(self, service, operation, key, secret, token=None, **params):
        """{"ok": True, "result": ...} or {"ok": False, "code": AWS error code}."""
        req = {"service": service, "operation": operation, "key": key, "secret": secret,
               "token": token, "params": params}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the namespace client exited ({self.proc.poll()})")
        return json.loads(line)

    def caller_identity(self, key, secret, token=None):
        return self.call("sts", "get_caller_identity", key, secret, token)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
