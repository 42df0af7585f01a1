"""A webhook receiver for the notification tests: the test's own HTTP server."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import free_port


class SimpleReceiver:
    """Answers 200 to every POST, or (hang=True) holds every request unanswered until
    stop(). Records (arrival time, headers, body)."""

    def __init__(self, hang=False):
        self.lock = threading.Lock()
        self.requests = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((time.time(), dict(self.headers), body))
                if hang:
                    receiver.release.wait(60)
                    return  # closes the connection without an answer
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def received(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
