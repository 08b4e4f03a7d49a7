"""Every Redis key and channel name the Redis engine uses, built from one prefix in one place.

Layout (P is the configured prefix, `<u>` an escaped user id; `owner:*` keys hold a user id):

    P{u:<u>}:challenge:<id>     string, challenge record    ephemeral: expiry + 24 h
    P{u:<u>}:pending            zset id -> expires_at       ephemeral: longest pending + 24 h
    P{u:<u>}:rate               zset id -> created_at       ephemeral: the rate window
    P{u:<u>}:idempotency:<h>    string, challenge id        ephemeral: 24 h
    P{u:<u>}:enrollment:<hash>  string, enrollment record   ephemeral: until it expires
    P{u:<u>}:enrollment-fails:<hash>  counter               ephemeral: as its enrollment
    P{u:<u>}:devices            hash id -> device record    durable (the user -> devices index)
    P{u:<u>}:device-keys        hash id -> rotated key      durable
    P{u:<u>}:device-seen        hash id -> last seen        durable
    P{u:<u>}:revoked            hash id -> device record    durable (revocation log)
    P{u:<u>}:delivery:<id>      hash record, next_at        while scheduled, then 24 h
    P{u:<u>}:standing           hash strikes, unapproved, locked_until     durable
    P{u:<u>}:jti:<device>:<jti> string                      ephemeral: until the token expires
    P{apps}:by-id, P{apps}:by-key-hash                      durable hashes (app registry)
    P owner:challenge:<id>, owner:device:<id>, owner:enrollment:<hash>, owner:delivery:<id>
                                each as long as its record (a device's: durable until revoked)
    P deadlines (zset ref -> expires_at), P challenges (zset ref -> created_at)
    P outbox (zset ref -> next_at), P deliveries (zset ref -> created_at), P match-key
    P presence:<device>         zset instance -> until      ephemeral: until the last `until`
    P audit                     list, newest first          bounded by its `keep`
    P events                    the pub/sub channel

Hash tags, for Redis Cluster: whatever one script changes lives under one user's tag `{u:<u>}`,
because every atomic step (create with its limits, finish with its webhook, redeem, revoke,
claiming a webhook) is about one user; a webhook delivery lives with its challenge's user.
Ids alone (a challenge id from a phone, a device id from a token's `kid`, an enrollment code,
a delivery id) do not name a user, so each has a small `owner:` key pointing to its user;
owners never change, which lets the engine cache them. Apps are few and share the `{apps}` tag,
so their two hashes change together. The deadline, outbox and listing indexes are global zsets,
each touched by single-key commands only; their members are refs (a JSON `[user_id, record_id]`)
so a reader reaches the record without the owner key. Refs may briefly precede or outlive their
record; readers treat the record as the truth and drop refs that point nowhere.
Id parts are escaped (`%`, `{`, `}`, `:`) so no id can close a tag early or make two keys
collide; a prefix with its own tag (`{push}:`) is also safe: every key then shares one slot.
"""

from __future__ import annotations

import hashlib
import json

_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A"})


def escape(part: str) -> str:
    """An id made safe to embed in a key: it can neither end a hash tag nor fake a separator."""
    return part.translate(_ESCAPES)


def ref(user_id: str, record_id: str) -> str:
    """A record's member in the global indexes; deterministic so it can be removed by value."""
    return json.dumps([user_id, record_id], separators=(",", ":"))


def unref(member: bytes | str) -> tuple[str, str]:
    user_id, record_id = json.loads(member)
    return str(user_id), str(record_id)


class UserKeys:
    """The keys of one user's slot."""

    def __init__(self, prefix: str, user_id: str) -> None:
        self._base = f"{prefix}{{u:{escape(user_id)}}}:"

    def challenge(self, challenge_id: str) -> str:
        return f"{self._base}challenge:{escape(challenge_id)}"

    @property
    def pending(self) -> str:
        return f"{self._base}pending"

    @property
    def rate(self) -> str:
        return f"{self._base}rate"

    def idempotency(self, app_id: str, key: str) -> str:
        # Hashed: the key is the app's free text, of any length.
        digest = hashlib.sha256(f"{app_id}\x00{key}".encode()).hexdigest()
        return f"{self._base}idempotency:{digest}"

    def enrollment(self, code_hash: str) -> str:
        return f"{self._base}enrollment:{escape(code_hash)}"

    def enrollment_fails(self, code_hash: str) -> str:
        return f"{self._base}enrollment-fails:{escape(code_hash)}"

    @property
    def devices(self) -> str:
        return f"{self._base}devices"

    @property
    def device_keys(self) -> str:
        return f"{self._base}device-keys"

    @property
    def device_seen(self) -> str:
        return f"{self._base}device-seen"

    @property
    def revoked(self) -> str:
        return f"{self._base}revoked"

    def delivery(self, delivery_id: str) -> str:
        return f"{self._base}delivery:{escape(delivery_id)}"

    @property
    def standing(self) -> str:
        return f"{self._base}standing"

    def jti(self, device_id: str, jti: str) -> str:
        # In the slot of the device's user, which is the answered challenge's user: the finish
        # script spends an answer's jti in the same step as the decision.
        return f"{self._base}jti:{escape(device_id)}:{escape(jti)}"


class Keys:
    """The key names under one prefix; the only place a key name is spelled."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.channel = f"{prefix}events"
        self.match_key = f"{prefix}match-key"
        self.apps = f"{prefix}{{apps}}:by-id"
        self.app_key_hashes = f"{prefix}{{apps}}:by-key-hash"
        self.deadlines = f"{prefix}deadlines"
        self.challenges = f"{prefix}challenges"
        self.outbox = f"{prefix}outbox"
        self.deliveries = f"{prefix}deliveries"
        self.audit = f"{prefix}audit"

    def user(self, user_id: str) -> UserKeys:
        return UserKeys(self.prefix, user_id)

    def challenge_owner(self, challenge_id: str) -> str:
        return f"{self.prefix}owner:challenge:{escape(challenge_id)}"

    def device_owner(self, device_id: str) -> str:
        return f"{self.prefix}owner:device:{escape(device_id)}"

    def enrollment_owner(self, code_hash: str) -> str:
        return f"{self.prefix}owner:enrollment:{escape(code_hash)}"

    def delivery_owner(self, delivery_id: str) -> str:
        return f"{self.prefix}owner:delivery:{escape(delivery_id)}"

    def presence(self, device_id: str) -> str:
        return f"{self.prefix}presence:{escape(device_id)}"
