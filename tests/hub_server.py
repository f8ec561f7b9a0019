"""A loopback stand-in for the Hugging Face Hub, enough for the real client's create_repo + upload_folder.

It speaks the HTTP API huggingface_hub uses (2.x, httpx2):

    POST /api/repos/create                      {name, organization, visibility|private, type} -> {url}; 409 if it exists
    GET  /api/models/{repo}[/revision/{rev}]     repo_info: {id, private, sha, siblings}
    POST /api/validate-yaml                     {content, repoType} -> {errors: [], warnings: []}
    POST /api/models/{repo}/preupload/{rev}     every file "regular" (inline base64), none ignored: no LFS/Xet
    POST /api/models/{repo}/commit/{rev}        NDJSON: a header line, then one line per file -> {commitUrl, commitOid}

Anything else is logged in ``unknown`` and answered 404, so a new client call shows up in tests.
It records every request (method, path, Authorization header) and, per repository, the private
flag and the files of every commit (bytes). ``tokens`` is the set of accepted bearer tokens (empty:
any token); others get 401 as the real Hub answers them. ``stall_sec`` delays every answer.
``echo_status`` (e.g. 400) answers every request with that status and an error that repeats the
request's Authorization header, as a careless proxy or debugging endpoint does; ``echo`` (a function of the
token) says how it is repeated (upper-cased, base64, ...). ``not_json`` answers every request 200 with an HTML
page (a captive portal or login proxy). ``trickle_sec`` sends every answer one byte at a time, this many seconds
apart; ``hang_ups`` records, per trickled answer, the seconds from the request to the client closing the
connection (None when the whole answer went out).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    repo_id: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict] = field(default_factory=list)  # {"summary": str, "files": {path: bytes}}
    sha: str = "0" * 40


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    body: bytes


class StandInHub:
    """Start with ``start()`` (port 0: a free port), stop with ``stop()``; ``url`` is the endpoint."""

    def __init__(self, tokens: set[str] | None = None, user: str = "tester"):
        self.tokens = set(tokens or ())
        self.user = user
        self.stall_sec = 0.0
        self.echo_status: int | None = None
        self.echo = lambda token: token
        self.not_json = False
        self.trickle_sec = 0.0
        self.hang_ups: list[float | None] = []
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self.unknown: list[str] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandInHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="stand-in-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def paths(self) -> list[str]:
        """'METHOD /path' of every request received, in order."""
        return [f"{r.method} {r.path}" for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    hub: StandInHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    # ------------------------------------------------------------------ plumbing

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = unquote(urlsplit(self.path).path)
        hub = self.hub
        with hub.lock:
            hub.requests.append(Request(method, path, self.headers.get("Authorization"), body))
        if hub.stall_sec:
            time.sleep(hub.stall_sec)
        auth = self.headers.get("Authorization") or ""
        if hub.not_json:
            return self._send(200, b"<html><body>Sign in to continue</body></html>", {"Content-Type": "text/html"})
        if hub.echo_status:
            msg = f"cannot handle request with Authorization: {hub.echo(auth)}"
            return self._json(hub.echo_status, {"error": msg}, {"X-Error-Message": msg})
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if hub.tokens and token not in hub.tokens:
            msg = "Invalid credentials in Authorization header"
            return self._json(401, {"error": msg}, {"X-Error-Message": msg})
        parts = path.strip("/").split("/")
        try:
            if method == "POST" and path == "/api/repos/create":
                return self._create(json.loads(body or b"{}"))
            if method == "POST" and path == "/api/validate-yaml":
                return self._json(200, {"errors": [], "warnings": []})
            if method == "POST" and len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
                return self._preupload(f"{parts[2]}/{parts[3]}", json.loads(body))
            if method == "POST" and len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
                return self._commit(f"{parts[2]}/{parts[3]}", body)
            if method == "GET" and parts[:2] == ["api", "models"] and (len(parts) == 4 or parts[4:5] == ["revision"]):
                return self._repo_info(f"{parts[2]}/{parts[3]}")
        except (ValueError, KeyError, IndexError) as exc:
            return self._json(400, {"error": f"bad request: {exc}"})
        with hub.lock:
            hub.unknown.append(f"{method} {path}")
        return self._json(404, {"error": f"stand-in Hub does not implement {method} {path}"})

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _send(self, status: int, data: bytes, headers: dict) -> None:
        if self.hub.trickle_sec:
            return self._trickle(status, data, headers)
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _trickle(self, status: int, data: bytes, headers: dict) -> None:
        lines = [f"HTTP/1.1 {status} OK", f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items())]
        answer = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        start = time.monotonic()
        try:
            for i in range(len(answer)):
                self.wfile.write(answer[i : i + 1])
                self.wfile.flush()
                time.sleep(self.hub.trickle_sec)
        except OSError:  # the client closed the connection (a write after its close fails, one or two bytes later)
            with self.hub.lock:
                self.hub.hang_ups.append(time.monotonic() - start)
            self.close_connection = True
            return
        with self.hub.lock:
            self.hub.hang_ups.append(None)

    def _repo_missing(self, repo_id: str) -> None:
        msg = "Repository not found"
        self._json(404, {"error": msg}, {"X-Error-Code": "RepoNotFound", "X-Error-Message": msg})

    # ------------------------------------------------------------------ endpoints

    def _create(self, payload: dict) -> None:
        hub = self.hub
        repo_id = f"{payload.get('organization') or hub.user}/{payload['name']}"
        if "visibility" in payload:
            private = payload["visibility"] == "private"
        else:
            private = bool(payload.get("private", False))
        url = f"{hub.url}/{repo_id}"
        with hub.lock:
            if repo_id in hub.repos:
                return self._json(409, {"error": "You already created this model repo", "url": url})
            hub.repos[repo_id] = Repo(repo_id, private)
        self._json(200, {"url": url, "name": repo_id})

    def _repo_info(self, repo_id: str) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._repo_missing(repo_id)
        siblings = [{"rfilename": name} for name in sorted(repo.files)]
        self._json(200, {"id": repo_id, "private": repo.private, "sha": repo.sha, "siblings": siblings})

    def _preupload(self, repo_id: str, payload: dict) -> None:
        if repo_id not in self.hub.repos:
            return self._repo_missing(repo_id)
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in payload["files"]]
        self._json(200, {"files": files, "commitOid": self.hub.repos[repo_id].sha})

    def _commit(self, repo_id: str, body: bytes) -> None:
        hub = self.hub
        repo = hub.repos.get(repo_id)
        if repo is None:
            return self._repo_missing(repo_id)
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise ValueError("the first NDJSON line must be the header")
        files: dict[str, bytes] = {}
        for line in lines[1:]:
            if line.get("key") != "file" or line["value"].get("encoding") != "base64":
                raise ValueError(f"unsupported commit line {line.get('key')!r}")
            files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
        with hub.lock:
            repo.files.update(files)
            repo.commits.append({"summary": lines[0]["value"].get("summary"), "files": files})
            repo.sha = hashlib.sha1(repo.sha.encode() + body).hexdigest()
        self._json(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{repo.sha}", "commitOid": repo.sha, "success": True})
