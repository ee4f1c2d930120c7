"""A fixture git repository for the compose backend: a stdlib HTTP order service and its compose file.

Two services: ``api`` (POST /orders, GET /health) and ``db`` (a dependency with a health
check). Both are the same stdlib server (no pip in the image). The first commit answers at
once; ``add_latency_commit`` makes a second commit whose orders take ``delay_ms`` longer.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["SERVER", "add_latency_commit", "git", "make_repo", "write_compose"]

SERVER = '''\
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY_S = {delay_ms} / 1000.0
PORT = int(os.environ.get("PORT", "8000"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle + delayed ACK would add 40 ms
    count = 0

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._answer(200, {{"status": "ok"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if DELAY_S:
            time.sleep(DELAY_S)
        Handler.count += 1
        if Handler.count == 10 and os.environ.get("DIE_AFTER_S"):  # counted from the load, not the dry run
            import threading
            threading.Timer(float(os.environ["DIE_AFTER_S"]), lambda: (print(
                "order service: fatal: out of memory", flush=True), os._exit(3))).start()
        self._answer(201, {{"order_id": Handler.count, "status": "filled"}})

    def do_DELETE(self):
        self._answer(200, {{"status": "cancelled"}})

    def log_message(self, *args):
        pass


print(f"order service listening on {{PORT}}", flush=True)
ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
'''

DOCKERFILE = """\
ARG BASE_IMAGE=hftperf-base:bookworm
FROM ${BASE_IMAGE}
COPY server.py /app/server.py
WORKDIR /app
CMD ["python3", "-u", "/app/server.py"]
"""

COMPOSE = """\
name: orders
services:
  api:
    build:
      context: ./service
      args:
        BASE_IMAGE: ${BASE_IMAGE:-hftperf-base:bookworm}
    environment:
      PORT: "8000"
      DIE_AFTER_S: ${DIE_AFTER_S:-}
    ports:
      - "${API_PORT:-18080}:8000"
    depends_on:
      db:
        condition: service_healthy
  db:
    build: ./service
    environment:
      - PORT=9000
    expose:
      - "9000"
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/')"]
      interval: 500ms
      timeout: 2s
      retries: 20
"""


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (a fixed identity) and return its output."""
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(repo)}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write_compose(repo: Path, text: str = COMPOSE) -> Path:
    """Write ``docker-compose.yml`` into ``repo``; returns its path."""
    path = repo / "docker-compose.yml"
    path.write_text(text)
    return path


def make_repo(repo: Path, compose: str = COMPOSE) -> Path:
    """A git repository with the order service (no added latency) committed as 'order service'."""
    (repo / "service").mkdir(parents=True)
    (repo / "service" / "server.py").write_text(SERVER.format(delay_ms=0))
    (repo / "service" / "Dockerfile").write_text(DOCKERFILE)
    write_compose(repo, compose)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "order service")
    return repo


def add_latency_commit(repo: Path, delay_ms: float = 2.0) -> str:
    """Commit 'orders take DELAY ms longer'; returns the new commit id."""
    (repo / "service" / "server.py").write_text(SERVER.format(delay_ms=delay_ms))
    git(repo, "commit", "-q", "-am", f"orders take {delay_ms:g} ms longer")
    return git(repo, "rev-parse", "HEAD")
