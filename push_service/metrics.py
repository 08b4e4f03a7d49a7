"""Prometheus metrics: what an on-call engineer needs, one registry per service instance.

Counters that describe outcomes (created, decided, refused) are counted by the instance that
caused them, so summing over instances gives fleet totals. Gauges describe this instance.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .models import Challenge, Delivery, DeliveryState

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HUMAN_BUCKETS = (0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.created = Counter(
            "push_challenges_created", "Challenges created.", ["app_id"], registry=r
        )
        self.decisions = Counter(
            "push_challenge_decisions",
            "Challenges ended, by status and reason.",
            ["status", "reason"],
            registry=r,
        )
        self.decision_seconds = Histogram(
            "push_decision_seconds",
            "Time from creation to the end of a challenge.",
            ["status"],
            buckets=HUMAN_BUCKETS,
            registry=r,
        )
        self.pending = Gauge(
            "push_pending_challenges", "Pending challenges known to this instance.", registry=r
        )
        self.connected = Gauge(
            "push_connected_streams", "Device streams open on this instance.", registry=r
        )
        self.ws_messages = Counter(
            "push_ws_messages", "Stream messages.", ["direction", "type"], registry=r
        )
        self.refusals = Counter(
            "push_refusals", "Requests refused, by error code.", ["code"], registry=r
        )
        self.tokens_refused = Counter(
            "push_tokens_refused", "Device tokens refused, by reason.", ["reason"], registry=r
        )
        self.webhooks = Counter(
            "push_webhook_attempts", "Webhook attempts, by resulting state.", ["state"], registry=r
        )
        self.webhook_delay = Histogram(
            "push_webhook_delivery_seconds",
            "Time from a challenge's end to its webhook's delivery.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "push_http_requests", "HTTP requests.", ["method", "route", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "push_http_request_seconds",
            "HTTP request handling time (long-polls included).",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def ended(self, challenge: Challenge) -> None:
        reason = challenge.reason.value if challenge.reason else ""
        self.decisions.labels(challenge.status.value, reason).inc()
        if challenge.decided_at is not None:
            took = challenge.decided_at - challenge.created_at
            self.decision_seconds.labels(challenge.status.value).observe(took)

    def webhook(self, delivery: Delivery, now: float) -> None:
        self.webhooks.labels(delivery.state.value).inc()
        if delivery.state is DeliveryState.DELIVERED:
            self.webhook_delay.observe(now - delivery.created_at)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
