#!/usr/bin/env python3
"""A builder's own API, in another language, behind GPTAuth's nginx gate: it answers every request
with the X-GPTAuth-* headers it received (and whether an Authorization header reached it), so the
test can check what nginx passed upstream. Prints its port first; stops when stdin closes."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        seen = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-gptauth-")}
        seen["authorization-present"] = "authorization" in (k.lower() for k in self.headers.keys())
        seen["path"] = self.path
        data = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
server.shutdown()
