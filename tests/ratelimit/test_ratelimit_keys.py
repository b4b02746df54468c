"""Who is counted: the authenticated subject, the API key, the client address, and
X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

from typing import Any

from ratelimit_support import AppMaker


def statuses(client: Any, path: str, count: int, **kwargs: Any) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(count)]


def test_authenticated_subjects_have_a_quota_each(
    make_app: AppMaker, storage: dict[str, Any]
) -> None:
    with make_app(storage).test_client() as client:
        alice = statuses(client, "/secure", 3, headers={"X-API-Key": "alice-key"})
        bob = statuses(client, "/secure", 3, headers={"X-API-Key": "bob-key"})
        refused = client.get("/secure", headers={"X-API-Key": "alice-key"})
    # Same address (the test client) for both: the subject, not the address, is counted.
    assert alice == [200, 200, 429]
    assert bob == [200, 200, 429]
    assert refused.json()["violated-policies"] == ["2-per-1m"]


def test_refused_credentials_are_not_counted(make_app: AppMaker) -> None:
    with make_app().test_client() as client:
        unauthorized = statuses(client, "/secure", 5, headers={"X-API-Key": "wrong"})
        alice = statuses(client, "/secure", 2, headers={"X-API-Key": "alice-key"})
    assert unauthorized == [401] * 5
    assert alice == [200, 200]


def test_api_keys_are_counted_apart_without_security(make_app: AppMaker) -> None:
    with make_app().test_client() as client:
        first = statuses(client, "/text", 3, headers={"X-API-Key": "one"})
        second = statuses(client, "/text", 3, headers={"X-API-Key": "two"})
        anonymous = statuses(client, "/text", 3)
    assert first == second == anonymous == [200, 200, 429]


def test_the_api_key_header_can_be_renamed(make_app: AppMaker) -> None:
    with make_app({"api_key_header": "Api-Token"}).test_client() as client:
        first = statuses(client, "/text", 2, headers={"Api-Token": "one"})
        second = statuses(client, "/text", 3, headers={"Api-Token": "two"})
        ignored = statuses(client, "/text", 2, headers={"X-API-Key": "three"})
    assert first == [200, 200]
    assert second == [200, 200, 429]
    assert ignored == [200, 200]  # X-API-Key is not the key header: counted by address


def test_key_by_address_only_ignores_credentials(make_app: AppMaker) -> None:
    with make_app({"key_by": "address"}).test_client() as client:
        first = statuses(client, "/secure", 2, headers={"X-API-Key": "alice-key"})
        second = statuses(client, "/secure", 1, headers={"X-API-Key": "bob-key"})
    assert first == [200, 200]
    assert second == [429]


def test_an_operation_may_choose_its_own_key(make_app: AppMaker) -> None:
    # /by-address counts by address whatever key_by says.
    with make_app({"key_by": ["api_key", "address"]}).test_client() as client:
        first = client.get("/by-address", headers={"X-API-Key": "one"})
        second = client.get("/by-address", headers={"X-API-Key": "two"})
    assert (first.status_code, second.status_code) == (200, 429)


def test_addresses_have_a_quota_each(make_app: AppMaker) -> None:
    app = make_app()
    with app.test_client(client=("203.0.113.7", 4000)) as one:
        first = statuses(one, "/by-address", 2)
    with app.test_client(client=("203.0.113.8", 4000)) as other:
        second = statuses(other, "/by-address", 2)
    assert first == second == [200, 429]


def test_x_forwarded_for_is_ignored_without_trusted_proxies(make_app: AppMaker) -> None:
    with make_app().test_client(client=("203.0.113.7", 4000)) as client:
        spoofed = [
            client.get("/by-address", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(3)
        ]
    assert spoofed == [200, 429, 429]


def test_a_trusted_proxy_s_x_forwarded_for_names_the_client(make_app: AppMaker) -> None:
    app = make_app({"trusted_proxies": ["10.0.0.0/8"]})
    with app.test_client(client=("10.1.2.3", 4000)) as through_proxy:
        client_a = through_proxy.get("/by-address", headers={"X-Forwarded-For": "198.51.100.1"})
        client_b = through_proxy.get("/by-address", headers={"X-Forwarded-For": "198.51.100.2"})
        # The client wrote a fake address left of the one the proxy appended: not believed.
        forged = through_proxy.get(
            "/by-address", headers={"X-Forwarded-For": "192.0.2.99, 198.51.100.1"}
        )
        # Two trusted proxies: the first untrusted address from the right is the client.
        chained = through_proxy.get(
            "/by-address", headers={"X-Forwarded-For": "198.51.100.3, 10.9.9.9"}
        )
    with app.test_client(client=("203.0.113.50", 4000)) as direct:
        # Not a trusted proxy: its header is not believed, its own address is counted.
        untrusted = direct.get("/by-address", headers={"X-Forwarded-For": "198.51.100.4"})
        again = direct.get("/by-address", headers={"X-Forwarded-For": "198.51.100.5"})
    assert client_a.status_code == 200
    assert client_b.status_code == 200
    assert forged.status_code == 429
    assert chained.status_code == 200
    assert (untrusted.status_code, again.status_code) == (200, 429)


def test_ipv6_clients_are_counted_per_network(make_app: AppMaker) -> None:
    app = make_app()
    with app.test_client(client=("2001:db8:1:2::10", 4000)) as one:
        first = one.get("/by-address")
    with app.test_client(client=("2001:db8:1:2::99", 4000)) as same_network:
        second = same_network.get("/by-address")
    with app.test_client(client=("2001:db8:1:3::10", 4000)) as other_network:
        third = other_network.get("/by-address")
    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)


def test_redis_keys_hold_no_credential(make_app: AppMaker, redis_url: str, key_prefix: str) -> None:
    import redis

    settings = {"storage_url": redis_url, "key_prefix": key_prefix}
    with make_app(settings).test_client() as client:
        client.get("/secure", headers={"X-API-Key": "alice-key"})
        client.get("/text", headers={"X-API-Key": "secret-api-key"})
    connection = redis.Redis.from_url(redis_url)
    try:
        keys = [key.decode() for key in connection.scan_iter(f"{key_prefix}:*")]
    finally:
        connection.close()
    assert len(keys) == 2
    assert all(key.startswith(f"{key_prefix}:") for key in keys)
    assert not any("secret-api-key" in key or "alice" in key for key in keys)
