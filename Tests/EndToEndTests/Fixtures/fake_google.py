#!/usr/bin/env python3
"""A stand-in for Google's OAuth/OpenID endpoints, speaking HTTP on 127.0.0.1 like the real ones.

The end-to-end tests point GPTAuth's Google settings here, so the production code path (a real
outbound HTTP call through URLSession/libcurl) is the one tested. It prints its port on the first
line of stdout and serves until stdin closes or it is sent SIGTERM.

  GET  /auth      the consent screen: redirects straight back to redirect_uri with a code and the state
  POST /token     swaps the code (client id/secret/redirect_uri checked) for an access token
  GET  /userinfo  the signed-in user for that access token
  POST /_next_user   (test control) JSON {"email","name","sub","email_verified"} for the next sign-in
  POST /_redirect_uris  (test control) JSON list of the registered redirect URIs; [] (the default)
                     accepts any. Like Google, /auth answers an unregistered one with a 400 page
                     "Error 400: redirect_uri_mismatch".
"""
import json
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

CLIENT_ID = sys.argv[1] if len(sys.argv) > 1 else "google-client"
CLIENT_SECRET = sys.argv[2] if len(sys.argv) > 2 else "google-secret"

lock = threading.Lock()
next_user = {"email": "alice@example.com", "name": "Alice Example", "sub": "1001", "email_verified": True}
codes = {}    # code -> (user, redirect_uri)
tokens = {}   # access token -> user
registered = []  # redirect URIs the "console" lists; empty: any


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode()

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/auth":
            if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                return self.reply(400, {"error": "invalid_request"})
            with lock:
                refused = registered and query.get("redirect_uri") not in registered
            if refused:
                page = b"<html><body><h1>Access blocked: This app's request is invalid</h1>" \
                       b"<p>Error 400: redirect_uri_mismatch</p></body></html>"
                self.send_response(400)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            code = "g-" + secrets.token_urlsafe(16)
            with lock:
                codes[code] = (dict(next_user), query["redirect_uri"])
            target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/userinfo":
            auth = self.headers.get("Authorization", "")
            with lock:
                user = tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
            if user is None:
                return self.reply(401, {"error": "invalid_token"})
            self.reply(200, user)
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self):
        url = urlparse(self.path)
        if url.path == "/_next_user":
            global next_user
            with lock:
                next_user = json.loads(self.body())
            return self.reply(200, {"ok": True})
        if url.path == "/_redirect_uris":
            global registered
            with lock:
                registered = json.loads(self.body())
            return self.reply(200, {"ok": True})
        if url.path != "/token":
            return self.reply(404, {"error": "not_found"})
        form = {k: v[0] for k, v in parse_qs(self.body()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return self.reply(401, {"error": "invalid_client"})
        with lock:
            entry = codes.pop(form.get("code", ""), None)
        if entry is None or form.get("grant_type") != "authorization_code" or form.get("redirect_uri") != entry[1]:
            return self.reply(400, {"error": "invalid_grant"})
        token = "ya29." + secrets.token_urlsafe(24)
        with lock:
            tokens[token] = entry[0]
        self.reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3599,
                         "scope": "openid email profile", "id_token": "not-used"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Stop when the test process goes away (stdin closes), so nothing is left behind.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
