"""A small HTTP proxy that injects faults between keyward and an AWS-compatible endpoint.

Each request is, with probability `rate` (drawn from a seeded random.Random), answered
with one fault instead of the upstream's answer:
  - "throttle": HTTP 400 with the protocol's Throttling error, not forwarded;
  - "error":    HTTP 500 InternalFailure (ServiceUnavailable), not forwarded;
  - "delay":    forwarded (so the call takes effect upstream), then the response is
                held for `delay` seconds, beyond the client's timeout: the worst case,
                where a call succeeded but its caller cannot know.
Other requests are forwarded as they are, the Host header included, so SigV4
signatures made for the proxy's address still verify upstream.

Counts of every fault and of forwarded requests are kept in `counts` (thread-safe).
"""
import http.client
import http.server
import random
import threading
import time
import urllib.parse

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
               "trailer", "upgrade"}


def _query_error(code, message):
    return (f"<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
            f"<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>fault-proxy</RequestId></ErrorResponse>").encode()


def _json_error(code, message):
    return ('{"__type":"%s","message":"%s"}' % (code, message)).encode()


class FaultProxy:
    def __init__(self, upstream, rate=0.2, seed=1, delay=2.0,
                 kinds=("throttle", "error", "delay")):
        parsed = urllib.parse.urlparse(upstream)
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.rate = rate
        self.delay = delay
        self.kinds = tuple(kinds)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.counts = {"forwarded": 0, "throttle": 0, "error": 0, "delay": 0}
        self.actions = []  # (fault or "ok", Action/X-Amz-Target) in arrival order
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = self.headers.get("X-Amz-Target") or ""
                if not action:
                    form = urllib.parse.parse_qs(body.decode(errors="replace"))
                    action = (form.get("Action") or [""])[0]
                fault = proxy._draw()
                with proxy._lock:
                    proxy.actions.append((fault or "ok", action))
                    proxy.counts[fault or "forwarded"] += 1
                json_protocol = "json" in (self.headers.get("Content-Type") or "")
                if fault == "throttle":
                    return self._reply(400, _json_error("ThrottlingException", "Rate exceeded")
                                       if json_protocol else _query_error("Throttling", "Rate exceeded"),
                                       json_protocol)
                if fault == "error":
                    return self._reply(500, _json_error("InternalFailure", "injected")
                                       if json_protocol else _query_error("ServiceUnavailable", "injected"),
                                       json_protocol)
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                if fault == "delay":
                    time.sleep(proxy.delay)  # the client has given up by now
                try:
                    self.send_response(status)
                    for name, value in headers:
                        if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def _reply(self, status, payload, json_protocol):
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1" if json_protocol
                                 else "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _draw(self):
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            return self._random.choice(self.kinds)

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
