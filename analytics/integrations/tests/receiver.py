"""A webhook receiver for tests and the benchmark: a small http.server on 127.0.0.1 that
records every request and answers with the status the test chooses (0: never answers)."""

import http.server
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Statuses to answer with, in order; the last one repeats.
    statuses: list[int] = field(default_factory=lambda: [200])
    reply: bytes = b'{"ok": true}'
    count_only: bool = False
    count: int = 0
    # TCP connections accepted (keep-alive reuse shows as fewer connections than requests).
    connections: int = 0
    # Close each connection after the reply without saying so (a receiver's idle timeout).
    drop_after_reply: bool = False


def start_receiver(port: int = 0) -> tuple[Receiver, http.server.ThreadingHTTPServer]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.count += 1
                if not state.count_only:
                    state.requests.append(Received(self.path, dict(self.headers.items()), body))
                status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            if status == 0:  # a receiver that hangs: the sender times out
                time.sleep(2)
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.reply)))
            self.end_headers()
            self.wfile.write(state.reply)
            if state.drop_after_reply:
                self.close_connection = True

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):
            accepted = super().get_request()
            with lock:
                state.connections += 1
            return accepted

    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    return state, server
