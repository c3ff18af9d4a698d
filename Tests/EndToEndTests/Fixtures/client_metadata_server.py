#!/usr/bin/env python3
"""An https server on 127.0.0.1 (the certificate and key given; a self-signed one in the tests)
that serves Client ID Metadata Documents, the way an MCP client (a connector) publishes its
client_id, plus bad ones for the tests of what the authorization server refuses.

  client_metadata_server.py CERT.pem KEY.pem

Prints its port on the first line of stdout; serves until stdin closes. Documents (all JSON,
`Cache-Control: max-age=300`, or the CACHE_CONTROL environment variable's value):

  GET /client.json     {"client_id": "https://127.0.0.1:<port>/client.json", "client_name": "SDK Test Connector",
                        "redirect_uris": [REDIRECT_URI or "http://127.0.0.1:33333/callback"],
                        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                        "token_endpoint_auth_method": "none"}
  GET /mismatch.json   as client.json, but its client_id is another URL (…/someone-else.json)
  GET /redirect.json   302 to https://127.0.0.1:<port>/client.json
  GET /big.json        as client.json with its own URL as client_id, padded to over 64 KiB
  GET /slow.json       as client.json with its own URL, after 30 seconds (gives up quietly if the client leaves)
  GET /notjson.json    text that is not JSON (served as application/json)
  GET /missing.json    as client.json with its own URL, without redirect_uris
  GET /loopback.json   as client.json with its own URL and redirect_uris ["http://127.0.0.1/callback"]
  GET /hits            {"<path>": number of GETs so far, …} for every path but /hits itself
  POST /toggle-down    from now on every document path answers 503 (still counted)
  POST /toggle-up      documents are served again
"""
import json
import os
import select
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOCUMENTS = ("/client.json", "/mismatch.json", "/redirect.json", "/big.json", "/slow.json", "/notjson.json",
             "/missing.json", "/loopback.json")

lock = threading.Lock()
hits = {}
state = {"down": False}
stopping = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection is closed after this

    def log_message(self, *args):
        pass

    @property
    def base(self):
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def document(self, path, **changes):
        doc = {
            "client_id": self.base + path,
            "client_name": "SDK Test Connector",
            "redirect_uris": [os.environ.get("REDIRECT_URI") or "http://127.0.0.1:33333/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        doc.update(changes)
        return {key: value for key, value in doc.items() if value is not None}

    def answer(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def json(self, doc, status=200, cache=True):
        headers = [("Cache-Control", os.environ.get("CACHE_CONTROL") or "max-age=300")] if cache else [("Cache-Control", "no-store")]
        self.answer(status, json.dumps(doc).encode(), headers=headers)

    def client_gone(self, seconds):
        """Waits `seconds`; True as soon as the client closes the connection (or the server stops)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if stopping.is_set():
                return True
            readable, _, _ = select.select([self.connection], [], [], 0.25)
            if readable:
                try:
                    if not self.connection.recv(1):
                        return True
                except (OSError, ssl.SSLError):
                    return True
        return False

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/hits":
            with lock:
                counts = dict(hits)
            return self.json(counts, cache=False)
        with lock:
            hits[path] = hits.get(path, 0) + 1
            down = state["down"]
        if path not in DOCUMENTS:
            return self.json({"error": "not_found"}, status=404, cache=False)
        if down:
            return self.answer(503, b"The client metadata host is down for a test.\n", "text/plain",
                               headers=[("Cache-Control", "no-store")])
        if path == "/client.json":
            return self.json(self.document("/client.json"))
        if path == "/mismatch.json":
            return self.json(self.document("/someone-else.json"))
        if path == "/redirect.json":
            return self.answer(302, b"", "text/plain", headers=[("Location", self.base + "/client.json")])
        if path == "/big.json":
            doc = self.document(path, client_uri=self.base + "/", description="x" * (70 * 1024))
            return self.json(doc)
        if path == "/slow.json":
            if self.client_gone(30):
                self.close_connection = True
                return
            try:
                return self.json(self.document(path))
            except (OSError, ssl.SSLError):
                self.close_connection = True
                return
        if path == "/notjson.json":
            return self.answer(200, b"this is not JSON {client_id: ???\n", headers=[("Cache-Control", "max-age=300")])
        if path == "/missing.json":
            return self.json(self.document(path, redirect_uris=None))
        if path == "/loopback.json":
            return self.json(self.document(path, redirect_uris=["http://127.0.0.1/callback"]))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if path in ("/toggle-down", "/toggle-up"):
            with lock:
                state["down"] = path == "/toggle-down"
            return self.json({"down": state["down"]}, cache=False)
        return self.json({"error": "not_found"}, status=404, cache=False)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's own thread, not in the accepting one.
        request.settimeout(10)
        request.do_handshake()
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        # A client that goes away (the slow document's reader timing out) is not an error here.
        error = sys.exc_info()[1]
        if isinstance(error, (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: client_metadata_server.py CERT.pem KEY.pem")
    server = Server(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    stopping.set()
    server.shutdown()


if __name__ == "__main__":
    main()
