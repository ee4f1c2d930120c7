"""Request flows of any HTTP API: chained steps with extraction, weighted entry requests, data feeds.

A flow is a list of steps. A step whose placeholders need nothing extracted by an earlier step is an
*entry* step: it starts an iteration (several entry steps are mixed by ``weight``). A step that uses
a value extracted earlier (``extract = { id = "/data/uuid" }``) follows in the same iteration once
that answer arrived. Requests are due on the schedule, whatever the answers: a due request continues
an iteration whose answer is in, else starts a new one — so an open loop stays open (no request waits
for another to be sent) and chaining still happens. An iteration whose step failed or whose value
could not be extracted ends and is counted (``chains_broken``).

Feeds: ``feed = "orders.csv"`` (header row) or ``.jsonl`` (one object per line) gives each iteration
the next row's columns as ``${column}`` placeholders, cycling at the end.
"""

from __future__ import annotations

import csv
import json
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from hftperf.loadgen.request import RequestSource, RequestSpec, render_head
from hftperf.targets.template import GENERATED, Template, compile_template, generated_value

__all__ = ["FlowStep", "HttpFlowFactory", "HttpFlowSource", "compile_flow", "read_feed"]

_RING = 1 << 16  # in-flight requests per worker are far fewer: a failed request's entry is simply overwritten
_MAX_READY = 10_000  # iterations waiting for their next step, per worker (oldest dropped first)


@dataclass(frozen=True)
class FlowStep:
    """One compiled step: its request templates, what it extracts, which statuses are success."""

    name: str
    method: str
    path: Template
    body: Template
    headers: tuple[tuple[str, str], ...]
    extract: tuple[tuple[str, str], ...]  # (name, JSON pointer)
    ok_status: tuple[int, ...]  # empty: any 2xx
    weight: float
    needs: frozenset[str]  # names this step needs from earlier steps

    @property
    def entry(self) -> bool:
        """True when the step can start an iteration."""
        return not self.needs


def read_feed(path: Path) -> tuple[dict[str, str], ...]:
    """Rows of a CSV (with a header) or JSON-lines feed, values as text; ValueError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"feed {path}: cannot read: {exc}") from None
    rows: list[dict[str, str]] = []
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"feed {path}: line {number}: not JSON: {exc}") from None
            if not isinstance(row, dict):
                raise ValueError(f"feed {path}: line {number}: expected an object")
            rows.append({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in row.items()})
    else:
        rows = [dict(r) for r in csv.DictReader(text.splitlines())]
    if not rows:
        raise ValueError(f"feed {path}: no rows")
    return tuple(rows)


def compile_flow(steps: Sequence[Mapping[str, object]], feed_columns: Sequence[str], where: str,
                 secrets: set[str]) -> tuple[FlowStep, ...]:
    """Compile step tables (already type-checked); ValueError naming the step and placeholder."""
    if not 1 <= len(steps) <= 255:
        raise ValueError(f"{where}.requests: expected 1 to 255 steps, got {len(steps)}")
    known: set[str] = set()
    compiled = []
    base = {"seq", *feed_columns}
    for i, step in enumerate(steps):
        name = str(step.get("name") or f"step{i + 1}")
        allowed = base | known
        at = f"{where}.requests[{i}]"
        path = compile_template(str(step["path"]), allowed, f"{at}.path", in_path=True, secrets=secrets)
        body = compile_template(str(step.get("body", "")), allowed, f"{at}.body", secrets=secrets)
        headers = tuple((k, compile_template(str(v), base, f"{at}.headers.{k}", secrets=secrets).render({}).decode())
                        for k, v in dict(step.get("headers", {})).items())  # type: ignore[call-overload]
        used = {n for n in (*path.names, *body.names) if not n.startswith(GENERATED)}
        extract = tuple((str(k), str(v)) for k, v in dict(step.get("extract", {})).items())  # type: ignore[call-overload]
        compiled.append(FlowStep(name, str(step.get("method", "GET")).upper(), path, body, headers, extract,
                                 tuple(step.get("ok_status", ())), float(step.get("weight", 1.0)),  # type: ignore[arg-type]
                                 frozenset(used & known)))
        known |= {k for k, _ in extract}
    if not any(s.entry for s in compiled):
        raise ValueError(f"{where}.requests: no step can start an iteration (each uses an extracted value)")
    return tuple(compiled)


@dataclass(frozen=True)
class HttpFlowFactory:
    """Picklable description of a flow; each worker creates its own source."""

    steps: tuple[FlowStep, ...]
    feed: tuple[dict[str, str], ...] = ()
    seed: int = 0
    headers: tuple[tuple[str, str], ...] = field(default=())

    def create(self, spec: RequestSpec, worker_index: int, workers: int) -> RequestSource:
        """One source per worker; worker i starts the feed at row i (rows interleave across workers)."""
        return HttpFlowSource(self, spec, random.Random(self.seed * 1_000_003 + worker_index), worker_index, workers)


class HttpFlowSource:
    """Builds each due request: the next step of an iteration whose answer is in, or a new iteration."""

    wants_response_body = True

    def __init__(self, factory: HttpFlowFactory, spec: RequestSpec, rng: random.Random, worker: int,
                 workers: int) -> None:
        import jsonpointer  # parsed once per worker, not per response

        self.steps = factory.steps
        self.rng = rng
        self.feed = factory.feed
        self._feed_next, self._feed_step = worker, max(1, workers)
        entries = [i for i, s in enumerate(self.steps) if s.entry]
        self._entries = entries
        self._weights = [self.steps[i].weight for i in entries]
        self._pointers = [tuple((n, jsonpointer.JsonPointer(p)) for n, p in s.extract) for s in self.steps]
        self._heads = [self._head(spec, step, factory.headers) for step in self.steps]
        self._ready: deque[tuple[int, dict[str, str]]] = deque()
        self._inflight: list[tuple[int, dict[str, str]] | None] = [None] * _RING
        self._step_of = bytearray(_RING)  # kept after the answer: the worker asks tag() after observe()
        self.counts: dict[str, int] = {}

    @staticmethod
    def _head(spec: RequestSpec, step: FlowStep, shared: tuple[tuple[str, str], ...]) -> tuple[bytes, bytes]:
        base = spec.target.path.split("?", 1)[0].rstrip("/")
        has_body = bool(step.body.text)
        head = render_head(RequestSpec(url=spec.url, method=step.method, headers=(*spec.headers, *shared,
                                                                                   *step.headers),
                                       body=b"{" if has_body else b""), None)
        request_line, _, rest = head.partition(b"\r\n")
        method = request_line.partition(b" ")[0]
        return method + b" " + base.encode(), b" HTTP/1.1\r\n" + rest

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def take_counts(self) -> dict[str, int]:
        """Counters since the last call: sent and ok/failed per step, chains completed and broken."""
        counts, self.counts = self.counts, {}
        return counts

    def tag(self, index: int) -> str:
        """The step name of request ``index`` while it is in flight."""
        return self.steps[self._step_of[index % _RING]].name

    def _new_iteration(self) -> tuple[int, dict[str, str]]:
        step = self._entries[0] if len(self._entries) == 1 else self.rng.choices(self._entries, self._weights)[0]
        values: dict[str, str] = {}
        if self.feed:
            values.update(self.feed[self._feed_next % len(self.feed)])
            self._feed_next += self._feed_step
        return step, values

    def build(self, index: int) -> bytes:
        """The next due request."""
        step_index, values = self._ready.popleft() if self._ready else self._new_iteration()
        step = self.steps[step_index]
        values = {**values, "seq": str(index)}
        for name in (*step.path.names, *step.body.names):
            if name.startswith(GENERATED):
                values[name] = generated_value(name, self.rng)
        self._inflight[index % _RING] = (step_index, values)
        self._step_of[index % _RING] = step_index
        self._count(f"sent.{step.name}")
        before, after = self._heads[step_index]
        body = step.body.render(values)
        return b"%s%s%sContent-Length: %d\r\n\r\n%s" % (before, step.path.render(values), after, len(body), body)

    def observe(self, index: int, status: int, body: bytes) -> None:
        """Extract what the step names and queue the iteration's next step."""
        entry = self._inflight[index % _RING]
        self._inflight[index % _RING] = None
        if entry is None:
            return
        step_index, values = entry
        step = self.steps[step_index]
        ok = status in step.ok_status if step.ok_status else 200 <= status < 300
        self._count(f"{step.name}.{'ok' if ok else 'failed'}")
        following = step_index + 1 < len(self.steps) and not self.steps[step_index + 1].entry
        if not ok:
            if following:
                self._count("chains_broken")
            return
        if self._pointers[step_index]:
            try:
                document = orjson.loads(body)  # a quarter of json.loads' time on small answers
            except orjson.JSONDecodeError:
                document = None
            for name, pointer in self._pointers[step_index]:
                found = pointer.resolve(document, None)
                if found is None:
                    self._count(f"{step.name}.extract_missing")
                    if following:
                        self._count("chains_broken")
                    return
                values[name] = found if isinstance(found, str) else json.dumps(found)
        if following:
            if len(self._ready) >= _MAX_READY:
                self._ready.popleft()
                self._count("chains_dropped")
            self._ready.append((step_index + 1, values))
        elif step_index > 0 and not step.entry:
            self._count("chains_completed")
