"""A thin typed wrapper over the generated gpt4rec.v1 stubs.

Every call has a deadline (`timeout` seconds, the whole call including its retries). RESOURCE_EXHAUSTED (the
server's bounds of in-flight work: nothing was applied) and UNAVAILABLE (starting, draining, unreachable) are
retried with exponential backoff and full jitter, at most `retries` times, within that deadline; every other
status is raised at once as `gpt4rec.Error` (INVALID_ARGUMENT names the field, e.g. "events[2].item_id: empty").

A retried Ingest whose first attempt was applied after all (UNAVAILABLE while the server drained) stores its
events twice unless they carry `event_id`s: the server deduplicates on them. Set `Event.event_id`, or pass
`Client(..., auto_event_ids=True)` to have the client give every event without one a random id (one RocksDB key
per event on the server).
"""
from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

import grpc

from gpt4rec.v1 import recommender_pb2 as pb
from gpt4rec.v1 import recommender_pb2_grpc as pb_grpc

RETRIED = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)


class Error(Exception):
    """A failed RPC: `code` (grpc.StatusCode), `details` (the server's message), `attempts` made."""

    def __init__(self, method: str, code: grpc.StatusCode, details: str, attempts: int):
        super().__init__("%s: %s: %s" % (method, code.name, details))
        self.method = method
        self.code = code
        self.details = details
        self.attempts = attempts


@dataclass(frozen=True)
class Event:
    """One interaction. timestamp: unix seconds (event time); weight 0 means 1; event_id: idempotency key."""
    user_id: str
    item_id: str
    timestamp: int
    event_type: int = 0
    weight: float = 0.0
    event_id: str = ""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    last_sequence: int
    closed_segments: Tuple[int, ...]
    log_sequence: int


@dataclass(frozen=True)
class ScoredItem:
    item_id: str
    score: float


@dataclass(frozen=True)
class Contribution:
    item_id: str  # one of the user's seen items
    share: float  # its share of the positive similarity to the recommended item (see the proto's Explanation)


@dataclass(frozen=True)
class ItemExplanation:
    item_id: str
    because_of: Tuple[Contribution, ...]  # largest share first, at most 3
    view_scores: Tuple[float, ...]  # the score split by view (they sum to it)


@dataclass(frozen=True)
class Explanation:
    """Why a list holds its items; the exact definitions are on gpt4rec.v1.Explanation in the proto."""
    items: Tuple[ItemExplanation, ...]  # parallel to Recommendation.items
    view_weights: Tuple[float, ...]
    built_from: str
    fold_in_item_ids: Tuple[str, ...]
    fold_in_item_count: int
    popular_first_sequence: int
    popular_last_sequence: int
    # "gamma" (view_weights is the view prompt's gamma for the user), "uniform" (1/K: gamma not available) or
    # "none" (POPULAR: no view weights); Explanation.ViewWeightsSource in the proto.
    view_weights_source: str = "none"


@dataclass(frozen=True)
class Recommendation:
    items: Tuple[ScoredItem, ...]
    model_version: int
    source: str  # "MODEL", "FOLD_IN" or "POPULAR"
    min_sequence_reached: bool
    explanation: Optional[Explanation] = None  # only with recommend(..., explain=True)

    @property
    def item_ids(self) -> List[str]:
        return [i.item_id for i in self.items]


@dataclass(frozen=True)
class OnlineHitRate:
    model_version: int
    events: int
    hits_at_10: int
    hits_at_20: int
    hit_rate_at_10: float
    hit_rate_at_20: float


@dataclass(frozen=True)
class Stats:
    users: int
    items: int
    edges: int
    events: int
    open_segment: int
    closed_segments: int
    model_version: int
    training_queue: int
    training_now: bool
    training_error: str
    online: Optional[OnlineHitRate]
    online_by_version: Tuple[OnlineHitRate, ...]
    raw: pb.GetStatsReply = field(repr=False, compare=False)


EventLike = Union[Event, Tuple[str, str, int], pb.Event]


def _event(e: EventLike, auto_id: bool) -> pb.Event:
    if isinstance(e, pb.Event):
        out = pb.Event()
        out.CopyFrom(e)
    elif isinstance(e, Event):
        out = pb.Event(user_id=e.user_id, item_id=e.item_id, timestamp=int(e.timestamp), event_type=e.event_type,
                       weight=e.weight, event_id=e.event_id)
    else:
        user_id, item_id, timestamp = e
        out = pb.Event(user_id=user_id, item_id=item_id, timestamp=int(timestamp))
    if auto_id and not out.event_id:
        out.event_id = uuid.uuid4().hex
    return out


def _explanation(e) -> Explanation:
    items = tuple(ItemExplanation(i.item_id, tuple(Contribution(c.item_id, c.share) for c in i.because_of),
                                  tuple(i.view_scores)) for i in e.items)
    source = {pb.Explanation.VIEW_WEIGHTS_GAMMA: "gamma", pb.Explanation.VIEW_WEIGHTS_UNIFORM: "uniform"}
    return Explanation(items, tuple(e.view_weights), e.built_from, tuple(e.fold_in_item_ids), e.fold_in_item_count,
                       e.popular_first_sequence, e.popular_last_sequence,
                       source.get(e.view_weights_source, "none"))


def _online(m) -> OnlineHitRate:
    return OnlineHitRate(m.model_version, m.events, m.hits_at_10, m.hits_at_20, m.hit_rate_at_10, m.hit_rate_at_20)


class Client:
    """Client(addr, token).ingest(events), .recommend(user, k, exclude=..., explain=...), .stats(), ...

    addr: "host:port". token: sent as `authorization: Bearer <token>` (the server's --auth_token; the admin token
    for close_segment / delete_user / snapshot when the server has --admin_token: pass admin_token). tls: connect
    with TLS (system roots, or root_certificates PEM bytes). timeout: default deadline of a call, in seconds,
    retries included. retries: extra attempts on RESOURCE_EXHAUSTED / UNAVAILABLE; backoff: first delay in
    seconds, doubled per attempt up to max_backoff, each drawn uniformly from [0, delay] (full jitter).
    """

    def __init__(self, addr: str, token: Optional[str] = None, *, admin_token: Optional[str] = None,
                 timeout: float = 10.0, retries: int = 5, backoff: float = 0.05, max_backoff: float = 2.0,
                 tls: bool = False, root_certificates: Optional[bytes] = None, auto_event_ids: bool = False,
                 channel: Optional[grpc.Channel] = None, sleep: Callable[[float], None] = time.sleep):
        if retries < 0:
            raise ValueError("retries: must be >= 0")
        if timeout <= 0:
            raise ValueError("timeout: must be > 0")
        self._token = token or ""
        self._admin_token = admin_token or self._token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.auto_event_ids = auto_event_ids
        self._sleep = sleep
        self._random = random.Random()
        if channel is None:
            options = [("grpc.max_receive_message_length", 64 << 20)]
            if tls or root_certificates:
                channel = grpc.secure_channel(addr, grpc.ssl_channel_credentials(root_certificates), options)
            else:
                channel = grpc.insecure_channel(addr, options)
        self._channel = channel
        self._stub = pb_grpc.RecommenderStub(channel)
        self.last_attempts = 0  # attempts the last call made (1 = no retry)

    # --- context manager ---
    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the retry loop ---
    def _call(self, name: str, request, timeout: Optional[float], admin: bool = False, retried=RETRIED):
        method = getattr(self._stub, name)
        token = self._admin_token if admin else self._token
        metadata = (("authorization", "Bearer " + token),) if token else None
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        delay = self.backoff
        attempt = 0
        while True:
            attempt += 1
            self.last_attempts = attempt
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Error(name, grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before attempt %d" % attempt,
                            attempt - 1)
            try:
                return method(request, timeout=remaining, metadata=metadata)
            except grpc.RpcError as e:
                code = e.code()
                if code not in retried or attempt > self.retries:
                    raise Error(name, code, e.details() or "", attempt) from e
                pause = self._random.uniform(0, delay)
                if time.monotonic() + pause >= deadline:
                    raise Error(name, code, (e.details() or "") + " (deadline reached while retrying)", attempt) from e
                self._sleep(pause)
                delay = min(delay * 2, self.max_backoff)

    # --- RPCs ---
    def ingest(self, events: Iterable[EventLike], *, timeout: Optional[float] = None) -> IngestResult:
        """Stores one batch atomically (at most the server's --max_events_per_request events)."""
        request = pb.IngestRequest(events=[_event(e, self.auto_event_ids) for e in events])
        r = self._call("Ingest", request, timeout)
        return IngestResult(r.accepted, r.duplicates, r.last_sequence, tuple(r.closed_segments), r.log_sequence)

    def recommend(self, user: str, k: int = 20, *, exclude: Sequence[str] = (), explain: bool = False,
                  include_seen: bool = False, min_sequence: int = 0,
                  timeout: Optional[float] = None) -> Recommendation:
        """Top-k items for `user`, best first; `exclude`: item ids never to return.

        explain=True: `.explanation` says why (the same items and scores as without it).
        """
        request = pb.RecommendRequest(user_id=user, k=k, exclude_item_ids=list(exclude), include_seen=include_seen,
                                      min_sequence=min_sequence)
        request.explain = explain
        r = self._call("Recommend", request, timeout)
        return Recommendation(tuple(ScoredItem(i.item_id, i.score) for i in r.items), r.model_version,
                              pb.Source.Name(r.source), r.min_sequence_reached,
                              _explanation(r.explanation) if explain else None)

    def stats(self, *, timeout: Optional[float] = None) -> Stats:
        r = self._call("GetStats", pb.GetStatsRequest(), timeout)
        has_online = r.HasField("online")
        return Stats(r.users, r.items, r.edges, r.events, r.open_segment, r.closed_segments, r.model_version,
                     r.training_queue, r.training_now, r.training_error, _online(r.online) if has_online else None,
                     tuple(_online(m) for m in r.online_by_version), r)

    def close_segment(self, *, timeout: Optional[float] = None) -> Tuple[int, int]:
        """Closes the open segment and queues it for training (admin). Returns (segment, events)."""
        # Not retried on UNAVAILABLE: a close that was applied before the reply was lost must not close the next
        # segment too.
        r = self._call("CloseSegment", pb.CloseSegmentRequest(), timeout, admin=True,
                       retried=(grpc.StatusCode.RESOURCE_EXHAUSTED,))
        return r.closed_segment, r.events

    def delete_user(self, user: str, *, timeout: Optional[float] = None) -> bool:
        """Erases a user (admin). False when the user was unknown."""
        return self._call("DeleteUser", pb.DeleteUserRequest(user_id=user), timeout, admin=True).deleted
