"""The Lua scripts that make each Redis engine step atomic, and their registration.

Each script touches keys of one hash-tag slot only, all passed in KEYS (never built in Lua), so
they run unchanged on Redis Cluster. Steps that must see or change several keys at one moment
are scripts even when MULTI would do on one Redis: redis-py's async cluster client runs a
MULTI's commands through a thread that blocks the event loop. Records arrive as JSON made in
Python and are stored as given: Lua decodes them to read a field but never re-encodes one, as
cjson would round floats.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from redis.asyncio import Redis, RedisCluster
from redis.commands.core import AsyncScript

# KEYS: challenge, pending, rate, idempotency, standing, devices
# ARGV: id, record, expires_at, keep_ms, max_pending, rate_limit, window, idempotency_ms
#       (0: no key), look_up (1: honour an earlier challenge), now, retention, channel, message,
#       max_strikes, max_unapproved, app id
CREATE_CHALLENGE = """
local now = tonumber(ARGV[10])
if ARGV[9] == '1' then
  local earlier = redis.call('GET', KEYS[4])
  if earlier then return {'existing', earlier} end
end
-- As Device.serves: a device enrolled for no app in particular serves them all.
local served = false
for _, record in ipairs(redis.call('HVALS', KEYS[6])) do
  local app_ids = cjson.decode(record)['app_ids']
  if app_ids == nil or app_ids == cjson.null then
    served = true
  else
    for _, app_id in ipairs(app_ids) do
      if app_id == ARGV[16] then served = true end
    end
  end
  if served then break end
end
if not served then return {'no_devices'} end
-- Entries whose records Redis has already dropped must not count against the cap.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[11]))
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return {'too_many_pending'}
end
local window = tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then
  local oldest = tonumber(redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2])
  return {'rate_limited', math.max(1, math.floor(oldest + window - now + 0.999))}
end
-- The same three tests as fatigue.refusal, which words the refusal from what is returned.
local standing = redis.call('HMGET', KEYS[5], 'strikes', 'unapproved', 'locked_until')
local strikes, unapproved = tonumber(standing[1] or 0), tonumber(standing[2] or 0)
if tonumber(standing[3] or 0) > now or strikes >= tonumber(ARGV[14])
    or unapproved >= tonumber(ARGV[15]) then
  return {'fatigued', tostring(strikes), tostring(unapproved), standing[3] or '0'}
end
redis.call('HINCRBY', KEYS[5], 'unapproved', 1)
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('PEXPIRE', KEYS[3], math.ceil(window * 1000))
if ARGV[8] ~= '0' then
  redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[8])
end
redis.call('PUBLISH', ARGV[12], ARGV[13])
return {'created'}
"""

# Stores a webhook delivery: kept while scheduled (expire_at 0), else until expire_at (ms).
_SAVE_DELIVERY = """
local function save_delivery(key, record, next_at, expire_at)
  redis.call('HSET', key, 'record', record, 'next_at', next_at)
  if expire_at == '0' then
    redis.call('PERSIST', key)
  else
    redis.call('PEXPIREAT', key, expire_at)
  end
end
"""

# Applies a fatigue.Change to a standing, as fatigue.apply does.
_APPLY_CHANGE = """
local function apply_change(key, reset, strike, lock_until)
  if reset == '1' then
    redis.call('HSET', key, 'strikes', 0, 'unapproved', 0)
  elseif strike == '1' then
    redis.call('HINCRBY', key, 'strikes', 1)
  end
  local locked = redis.call('HGET', key, 'locked_until')
  if tonumber(lock_until) > tonumber(locked or 0) then
    redis.call('HSET', key, 'locked_until', lock_until)
  end
end
"""

# KEYS: challenge, pending, delivery, standing, the answer's jti
# ARGV: id, ended record, channel, message, delivery record ('' for none), next_at, expire_at,
#       change (1: apply one), reset, strike, lock_until, jti_ms (0: no token to spend)
# Returns 1 (applied), 0 (not pending) or -1 (the token was spent before: nothing changes).
FINISH = (
    _SAVE_DELIVERY
    + _APPLY_CHANGE
    + """
if ARGV[12] ~= '0' and not redis.call('SET', KEYS[5], '1', 'PX', ARGV[12], 'NX') then
  return -1
end
local stored = redis.call('GET', KEYS[1])
if not stored or cjson.decode(stored)['status'] ~= 'pending' then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[5] ~= '' then
  save_delivery(KEYS[3], ARGV[5], ARGV[6], ARGV[7])
end
if ARGV[8] == '1' then
  apply_change(KEYS[4], ARGV[9], ARGV[10], ARGV[11])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""
)

# KEYS: delivery   ARGV: record, next_at, expire_at
SAVE_DELIVERY = (
    _SAVE_DELIVERY
    + """
save_delivery(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
return 1
"""
)

# KEYS: delivery   ARGV: now, leased until
# The judge between senders: only one of them finds it due and moves it out of the others' way.
CLAIM_DELIVERY = """
local record = redis.call('HGET', KEYS[1], 'record')
if not record then return {'missing'} end
local state = cjson.decode(record)['state']
if state ~= 'pending' and state ~= 'failing' then return {'done'} end
local next_at = redis.call('HGET', KEYS[1], 'next_at')
if tonumber(next_at) > tonumber(ARGV[1]) then return {'later', next_at} end
redis.call('HSET', KEYS[1], 'next_at', ARGV[2])
return {'claimed', record, next_at}
"""

# KEYS: enrollment, enrollment fails, devices   ARGV: now, device id, device record
REDEEM_ENROLLMENT = """
local stored = redis.call('GET', KEYS[1])
if not stored or tonumber(cjson.decode(stored)['expires_at']) <= tonumber(ARGV[1]) then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return 1
"""

# KEYS: enrollment, enrollment fails   ARGV: attempts that burn the code
FAIL_ENROLLMENT = """
local left = redis.call('PTTL', KEYS[1])
if left == -2 then
  redis.call('DEL', KEYS[2])
  return 0
end
if redis.call('INCR', KEYS[2]) >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
if left > 0 then
  redis.call('PEXPIRE', KEYS[2], left)
end
return 0
"""

# KEYS: devices, device keys, device seen, revoked   ARGV: device id, channel, message
REVOKE_DEVICE = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return false end
local key = redis.call('HGET', KEYS[2], ARGV[1]) or ''
local seen = redis.call('HGET', KEYS[3], ARGV[1]) or ''
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], record)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {record, key, seen}
"""

# KEYS: devices, device keys, device seen   ARGV: device id
# A device's record and changed fields, or nils; `false` becomes a nil reply.
READ_DEVICE = """
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGET', KEYS[2], ARGV[1]),
        redis.call('HGET', KEYS[3], ARGV[1])}
"""

# KEYS: devices, device keys, device seen
LIST_DEVICES = """
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('HGETALL', KEYS[3])}
"""

# KEYS: devices, the hash to update   ARGV: device id, value
# Writes only for an active device, so a late touch or rotation cannot revive a revoked one.
SET_DEVICE_FIELD = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

# KEYS: devices, the token's jti   ARGV: device id, keep_ms
# A token id is spent only for an active device: a revoked one's tokens are good for nothing.
USE_JTI = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[2], 'NX') then return 1 end
return 0
"""

# KEYS: by id, by key hash   ARGV: app id, record, key hash
ADD_APP = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# KEYS: by key hash, by id   ARGV: key hash
APP_BY_KEY_HASH = """
local app_id = redis.call('HGET', KEYS[1], ARGV[1])
if not app_id then return false end
return redis.call('HGET', KEYS[2], app_id)
"""

# KEYS: by id, by key hash   ARGV: app id
DELETE_APP = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return 0 end
redis.call('HDEL', KEYS[2], cjson.decode(record)['key_hash'])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class Scripts:
    """The scripts registered on one client (EVALSHA, loading the source when Redis lacks it)."""

    create_challenge: AsyncScript
    finish: AsyncScript
    save_delivery: AsyncScript
    claim_delivery: AsyncScript
    redeem_enrollment: AsyncScript
    fail_enrollment: AsyncScript
    revoke_device: AsyncScript
    read_device: AsyncScript
    list_devices: AsyncScript
    set_device_field: AsyncScript
    use_jti: AsyncScript
    add_app: AsyncScript
    app_by_key_hash: AsyncScript
    delete_app: AsyncScript

    @classmethod
    def register(cls, client: Redis | RedisCluster) -> Scripts:
        sources = {
            "create_challenge": CREATE_CHALLENGE,
            "finish": FINISH,
            "save_delivery": SAVE_DELIVERY,
            "claim_delivery": CLAIM_DELIVERY,
            "redeem_enrollment": REDEEM_ENROLLMENT,
            "fail_enrollment": FAIL_ENROLLMENT,
            "revoke_device": REVOKE_DEVICE,
            "read_device": READ_DEVICE,
            "list_devices": LIST_DEVICES,
            "set_device_field": SET_DEVICE_FIELD,
            "use_jti": USE_JTI,
            "add_app": ADD_APP,
            "app_by_key_hash": APP_BY_KEY_HASH,
            "delete_app": DELETE_APP,
        }
        return cls(**{name: client.register_script(text) for name, text in sources.items()})

    def all(self) -> list[AsyncScript]:
        return [getattr(self, f.name) for f in fields(self)]
