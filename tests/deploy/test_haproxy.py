"""deploy/haproxy.cfg: websockets and long-polls pass, no stickiness, routing by /readyz."""

from __future__ import annotations

from push_service.config import Settings
from tests.deploy.files import LONGEST_WAIT, haproxy, haproxy_lines, haproxy_timeout


def test_http_mode_forwards_websocket_upgrades() -> None:
    # HAProxy relays Upgrade/Connection itself in HTTP mode and then tunnels the connection;
    # what could break it is a rule removing those headers or forcing the connection closed.
    assert haproxy_lines("defaults", "mode") == [["mode", "http"]]
    for lines in haproxy().values():
        for words in lines:
            text = " ".join(words).lower()
            assert not ("del-header" in text and ("upgrade" in text or "connection" in text))
            assert text not in {"option httpclose", "option forceclose"}


def test_streams_outlive_the_heartbeat() -> None:
    assert haproxy_timeout("tunnel") > 3 * Settings().ws_heartbeat


def test_long_polls_outlast_the_longest_wait() -> None:
    assert haproxy_timeout("client") >= LONGEST_WAIT + 10
    assert haproxy_timeout("server") >= LONGEST_WAIT + 10


def test_no_sticky_sessions() -> None:
    for lines in haproxy().values():
        for words in lines:
            assert words[0] not in {"cookie", "stick", "stick-table", "hash-type"}, words
            if words[0] == "balance":
                assert words[1] in {"roundrobin", "leastconn", "random"}, words


def test_instances_are_routed_by_readiness() -> None:
    backend = "backend push"
    assert haproxy_lines(backend, "option httpchk")
    (send,) = haproxy_lines(backend, "http-check send")
    assert send[send.index("uri") + 1] == "/readyz"
    assert haproxy_lines(backend, "http-check expect") == [
        ["http-check", "expect", "status", "200"]
    ]
    checked_by_default = any("check" in w for w in haproxy_lines(backend, "default-server"))
    for server in haproxy_lines(backend, "server"):
        assert checked_by_default or "check" in server, server


def test_metrics_stay_private() -> None:
    rules = [" ".join(words) for words in haproxy_lines("frontend public", "http-request deny")]
    assert any("/metrics" in rule for rule in rules)
