"""Ratings: each user reads and changes only their own; anonymous writes are refused."""

from __future__ import annotations

import pytest


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_rating_crud(client, signup) -> None:
    me = signup(client, "alice")["user"]["id"]
    base = f"/api/users/{me}/ratings"
    put = client.put(f"{base}/50", json={"rating": 5})
    assert put.status_code == 200 and put.json()["title"] == "Star Wars (1977)"
    client.put(f"{base}/1", json={"rating": 3})
    client.put(f"{base}/1", json={"rating": 4})  # replaces, no duplicate
    listed = client.get(base).json()
    assert listed["count"] == 2
    assert {r["movie_id"]: r["rating"] for r in listed["data"]} == {50: 5, 1: 4}
    assert client.get(f"{base}/1").json()["rating"] == 4
    assert client.delete(f"{base}/1").status_code == 204
    assert client.get(f"{base}/1").status_code == 404
    assert client.delete(f"{base}/1").status_code == 404


@pytest.mark.parametrize(("rating", "status"), [(0, 422), (6, 422), ("five", 422), (2.5, 422)])
def test_rating_out_of_range_is_refused(client, signup, rating, status) -> None:
    me = signup(client, "bob")["user"]["id"]
    response = client.put(f"/api/users/{me}/ratings/50", json={"rating": rating})
    assert response.status_code == status
    assert response.json()["detail"][0]["loc"] == ["body", "rating"]


def test_unknown_movie_is_404(client, signup) -> None:
    me = signup(client, "carol")["user"]["id"]
    response = client.put(f"/api/users/{me}/ratings/999999", json={"rating": 3})
    assert response.status_code == 404 and "no movie has this id" in response.text


def test_user_a_cannot_read_change_or_delete_user_bs_ratings(make_client, signup) -> None:
    client_a, client_b = make_client(), make_client()
    a = signup(client_a, "alice")
    b = signup(client_b, "bobby")
    b_base = f"/api/users/{b['user']['id']}/ratings"
    assert client_b.put(f"{b_base}/50", json={"rating": 2}).status_code == 200
    for headers in ({}, bearer(a["token"])):  # A by cookie, then A by bearer token
        assert client_a.get(b_base, headers=headers).status_code == 403
        assert client_a.get(f"{b_base}/50", headers=headers).status_code == 403
        change = client_a.put(f"{b_base}/50", json={"rating": 5}, headers=headers)
        assert change.status_code == 403
        assert change.json()["detail"][0]["loc"] == ["path", "user_id"]
        assert client_a.delete(f"{b_base}/50", headers=headers).status_code == 403
    assert client_b.get(f"{b_base}/50").json()["rating"] == 2


def test_unauthenticated_writes_are_refused(make_client, signup) -> None:
    owner = make_client()
    me = signup(owner, "dave")["user"]["id"]
    owner.put(f"/api/users/{me}/ratings/50", json={"rating": 4})
    anonymous = make_client()
    base = f"/api/users/{me}/ratings"
    assert anonymous.put(f"{base}/1", json={"rating": 5}).status_code == 401
    assert anonymous.delete(f"{base}/50").status_code == 401
    assert anonymous.get(base).status_code == 401
    forged = anonymous.put(f"{base}/1", json={"rating": 5}, headers=bearer("forged-token"))
    assert forged.status_code == 401 and "unknown or expired" in forged.text
    assert owner.get(base).json()["count"] == 1


def test_cross_site_cookie_write_is_refused(client, signup) -> None:
    me = signup(client, "erin")["user"]["id"]
    url = f"/api/users/{me}/ratings/50"
    evil = client.put(url, json={"rating": 1}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "CSRF" in evil.text
    fetch = client.put(url, json={"rating": 1}, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    same = client.put(url, json={"rating": 1}, headers={"Origin": "http://testserver"})
    assert same.status_code == 200
