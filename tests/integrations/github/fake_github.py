"""A local HTTP server speaking the parts of the GitHub REST API the poller uses, driven by unmodified PyGithub.

Paginates with ``Link`` headers like GitHub (``page``/``per_page``), filters commits by ``since`` and runs by
``created=>=…``, and can inject failures (5xx, 403/429 rate limits with reset headers) for the next N requests
matching a path pattern, or stall them (accept the connection, read the request, answer nothing until released).
Every request is logged as (method, path with query).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Failure:
    pattern: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    times: int = 1


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class FakeGitHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str]] = []
        self.stalls: list[list[Any]] = []  # [pattern, times]
        self.released = threading.Event()
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()  # stalled handler threads end
        self.server.shutdown()
        self.server.server_close()

    # --- state -----------------------------------------------------------------------------------------------
    def add_repo(self, full_name: str, default_branch: str = "main") -> dict[str, Any]:
        repo = {
            "full_name": full_name,
            "default_branch": default_branch,
            "commits": [],
            "pulls": [],
            "runs": [],
            "deployments": [],
            "statuses": {},
            "compares": {},
        }
        self.repos[full_name] = repo
        return repo

    def fail(
        self,
        pattern: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        times: int = 1,
    ) -> None:
        self.failures.append(Failure(pattern, status, headers or {}, body or {"message": "error"}, times))

    def rate_limit(self, pattern: str, reset: int, status: int = 403, times: int = 1) -> None:
        """A primary rate limit as GitHub sends it: 403 (or 429) with X-RateLimit-Remaining 0 and the reset time."""
        headers = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Used": "5000",
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Resource": "core",
        }
        body = {
            "message": "API rate limit exceeded for user ID 4455667. If you reach out to GitHub Support for help, "
            "please include the request ID.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            "status": str(status),
        }
        self.fail(pattern, status, headers, body, times)

    def stall(self, pattern: str, times: int = 100) -> None:
        """The next ``times`` requests matching ``pattern`` get no answer at all until ``release()``."""
        self.released.clear()
        with self.lock:
            self.stalls.append([pattern, times])

    def release(self) -> None:
        """The server answers again: stalled requests are dropped (their clients gave up) and no new ones stall."""
        with self.lock:
            self.stalls.clear()
        self.released.set()

    def _stalled(self, path: str) -> bool:
        with self.lock:
            for s in self.stalls:
                if s[1] > 0 and re.search(s[0], path):
                    s[1] -= 1
                    return True
        return False

    def paths(self, needle: str) -> list[str]:
        return [p for _, p in self.requests if needle in p]

    def _failure_for(self, path: str) -> Failure | None:
        with self.lock:
            for f in self.failures:
                if f.times > 0 and re.search(f.pattern, path):
                    f.times -= 1
                    return f
        return None

    # --- routing -----------------------------------------------------------------------------------------------
    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not m or m.group(1) not in self.repos:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        repo, rest = self.repos[m.group(1)], m.group(2) or ""
        base = f"{self.url}/repos/{repo['full_name']}"
        if rest == "":
            owner, name = repo["full_name"].split("/")
            return 200, {
                "id": 512345678,
                "name": name,
                "full_name": repo["full_name"],
                "default_branch": repo["default_branch"],
                "private": True,
                "url": base,
                "html_url": f"https://github.com/{repo['full_name']}",
                "owner": {"login": owner, "id": 9912345, "type": "Organization"},
            }
        if rest == "/commits":
            since = _ts(query["since"]) if "since" in query else None
            return 200, [c for c in repo["commits"] if since is None or _ts(c["commit"]["committer"]["date"]) >= since]
        if rest == "/pulls":
            return 200, sorted(repo["pulls"], key=lambda p: p["updated_at"], reverse=True)
        if rest == "/actions/runs":
            created = query.get("created", "")
            floor = _ts(created[2:]) if created.startswith(">=") else None
            runs = [r for r in repo["runs"] if floor is None or _ts(r["created_at"]) >= floor]
            return 200, {"total_count": len(runs), "workflow_runs": runs}
        if rest == "/deployments":
            return 200, sorted(repo["deployments"], key=lambda d: d["created_at"], reverse=True)
        sm = re.fullmatch(r"/deployments/(\d+)/statuses", rest)
        if sm:
            return 200, repo["statuses"].get(int(sm.group(1)), [])
        cm = re.fullmatch(r"/compare/(.+)\.\.\.(.+)", rest)
        if cm and f"{cm.group(1)}...{cm.group(2)}" in repo["compares"]:
            return 200, repo["compares"][f"{cm.group(1)}...{cm.group(2)}"]
        return 404, {"message": "Not Found"}


def _page(items: list[Any], query: dict[str, str], default: int = 30) -> tuple[list[Any], int, int]:
    per_page = int(query.get("per_page", default))
    page = int(query.get("page", 1))
    last = max(1, -(-len(items) // per_page))
    return items[(page - 1) * per_page : page * per_page], page, last


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.fake.lock:
            self.fake.requests.append(("GET", self.path))
        if self.fake._stalled(self.path):
            self.fake.released.wait(60)  # bounded so a broken test cannot hang the server thread forever
            self.close_connection = True
            return
        failure = self.fake._failure_for(self.path)
        if failure is not None:
            return self._send(failure.status, failure.body, failure.headers)
        status, body = self.fake.route(parts.path, query)
        headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "1900000000"}
        list_key = (
            "workflow_runs"
            if isinstance(body, dict) and "workflow_runs" in body
            else "commits"
            if isinstance(body, dict) and "commits" in body
            else None
        )
        items = body if isinstance(body, list) else body[list_key] if list_key else None
        if status == 200 and items is not None:
            default = 250 if list_key == "commits" else 30
            page_items, page, last = _page(items, query, default)
            body = page_items if isinstance(body, list) else {**body, list_key: page_items}
            links = []
            for rel, number in (("next", page + 1), ("last", last)):
                if number <= last and (rel == "last" or page < last):
                    q = urlencode({**query, "page": number})
                    links.append(f'<{self.fake.url}{parts.path}?{q}>; rel="{rel}"')
            if links:
                headers["Link"] = ", ".join(links)
        self._send(status, body, headers)

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def now_epoch() -> int:
    return int(datetime.now(UTC).timestamp())
