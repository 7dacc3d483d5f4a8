import type { Result } from 'ioredis'
import type { RedisClient } from './redis.js'

/**
 * The broker's atomic multi-step Redis updates, as Lua run by `EVALSHA`
 * (ioredis' `defineCommand` falls back to `EVAL` on NOSCRIPT). Every script's
 * keys share one hash tag, so each runs on one Redis Cluster node.
 */
const SCRIPTS = {
  /**
   * The hand-out's one round trip on a standalone Redis (its keys span hash
   * tags, which only a single node allows): the key must still be on the app,
   * then the call is counted in the app's window and, when it reaches a
   * connection, in the connection's, and the fields the hand-out needs are read.
   * The connection's count is the user's budget, shared by every app: a call the
   * app's own limit refuses does not spend it (it reads the count instead), nor
   * does a call for a user with no connection (it would leave a counter per
   * unknown user behind). The common path costs what it always did: HMGET comes
   * before the INCR it decides on. KEYS: app, app counter, connection,
   * connection counter. ARGV: key id, window ms, the app's limit.
   * Returns `{-1}` for a revoked key (nothing counted), else
   * `{app used, connection used, v, status, sealed, refreshed_at}` (connection
   * used is 0 with no record).
   */
  obHandout: {
    numberOfKeys: 4,
    lua: `
if redis.call('HEXISTS', KEYS[1], 'key:' .. ARGV[1]) == 0 then return {-1} end
local appUsed = redis.call('INCR', KEYS[2])
if appUsed == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
local record = redis.call('HMGET', KEYS[3], 'v', 'status', 'sealed', 'refreshed_at')
local used = 0
if record[1] then
  if appUsed > tonumber(ARGV[3]) then
    used = tonumber(redis.call('GET', KEYS[4]) or '0')
  else
    used = redis.call('INCR', KEYS[4])
    if used == 1 then redis.call('PEXPIRE', KEYS[4], ARGV[2]) end
  end
end
return {appUsed, used, record[1], record[2], record[3], record[4]}`,
  },
  /**
   * The connection's half of the hand-out on Redis Cluster (the app's half is
   * `obAppCount`, sent at the same time): count the call in the connection's
   * window, when there is a connection (see `obHandout`), and read the fields
   * the hand-out needs. A call the app's count then refuses is given back
   * (`obCountBack`). KEYS: connection, counter. ARGV: window ms.
   * Returns `{used, v, status, sealed, refreshed_at}`, or `{0}` with no record.
   */
  obConnRead: {
    numberOfKeys: 2,
    lua: `
local record = redis.call('HMGET', KEYS[1], 'v', 'status', 'sealed', 'refreshed_at')
if not record[1] then return {0} end
local used = redis.call('INCR', KEYS[2])
if used == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return {used, record[1], record[2], record[3], record[4]}`,
  },
  /**
   * Compare-and-set write of a connection record, with its index entries and
   * the tenant's per-key-id count, all in one step.
   * KEYS: connection, the four indexes (active by refreshed_at, active by
   * created_at, reauth_required by refreshed_at, reauth_required by
   * created_at), the key id counts, the tenant's version counter.
   * ARGV: expected version (`*` for any), user id, created_at (kept when already
   * set), then field/value pairs, which include status, sealed, kid, refreshed_at.
   * Returns the new version, or nil when the version did not match. Versions
   * come from the tenant's counter, not the record: a record deleted and made
   * again never repeats one, so a refresh that read the old record cannot
   * compare-and-set over the new one.
   */
  obConnPut: {
    numberOfKeys: 7,
    lua: `
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] ~= '*' and current ~= ARGV[1] then return false end
local fields = {}
for i = 4, #ARGV, 2 do fields[ARGV[i]] = ARGV[i + 1] end
if current then
  local kid = redis.call('HGET', KEYS[1], 'kid')
  if kid and redis.call('HSTRLEN', KEYS[1], 'sealed') > 0 and redis.call('HINCRBY', KEYS[6], kid, -1) <= 0 then
    redis.call('HDEL', KEYS[6], kid)
  end
end
local version = redis.call('INCR', KEYS[7])
-- Records written before the counter existed may be ahead of it.
if current and version <= tonumber(current) then
  version = tonumber(current) + 1
  redis.call('SET', KEYS[7], version)
end
redis.call('HSET', KEYS[1], 'v', version, unpack(ARGV, 4))
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[3])
if fields.sealed ~= '' then redis.call('HINCRBY', KEYS[6], fields.kid, 1) end
local here, other = 2, 4
if fields.status ~= 'active' then here, other = 4, 2 end
redis.call('ZREM', KEYS[other], ARGV[2])
redis.call('ZREM', KEYS[other + 1], ARGV[2])
redis.call('ZADD', KEYS[here], fields.refreshed_at, ARGV[2])
redis.call('ZADD', KEYS[here + 1], redis.call('HGET', KEYS[1], 'created_at'), ARGV[2])
return version`,
  },
  /**
   * Re-seals a connection record (the re-encryption job): the same token set
   * sealed under another key, if the version is still the one read.
   * KEYS: connection, the key id counts. ARGV: expected version, sealed, kid.
   * The version is kept: the token set did not change, so a refresh holding
   * the lock, which read the record before, still writes its newer token set
   * over this one (a bump would make it drop OneUp's rotated refresh token).
   * Returns 1 when written, 0 when the record changed meanwhile.
   */
  obConnReseal: {
    numberOfKeys: 2,
    lua: `
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] or redis.call('HSTRLEN', KEYS[1], 'sealed') == 0 then return 0 end
local kid = redis.call('HGET', KEYS[1], 'kid')
if kid and redis.call('HINCRBY', KEYS[2], kid, -1) <= 0 then redis.call('HDEL', KEYS[2], kid) end
redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'kid', ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
return 1`,
  },
  /**
   * Deletes a connection, its index entries and its count. KEYS: obConnPut's first six.
   * ARGV: user id. Returns the deleted record's metadata as field/value pairs
   * (never the sealed tokens), or an empty list when there was none.
   */
  obConnDelete: {
    numberOfKeys: 6,
    lua: `
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then return {} end
local out, kid, sealed = {}, nil, false
for i = 1, #record, 2 do
  local field, value = record[i], record[i + 1]
  if field == 'sealed' then sealed = value ~= '' else
    if field == 'kid' then kid = value end
    table.insert(out, field)
    table.insert(out, value)
  end
end
if kid and sealed and redis.call('HINCRBY', KEYS[6], kid, -1) <= 0 then redis.call('HDEL', KEYS[6], kid) end
redis.call('DEL', KEYS[1])
for i = 2, 5 do redis.call('ZREM', KEYS[i], ARGV[1]) end
return out`,
  },
  /**
   * One page of one tenant's connection indexes (one or more sorted sets of the
   * same tenant, merged), in (score, user id) order, past a cursor and within a
   * score range. It binary-searches by rank, so a page costs O(log² N) however
   * many entries share a score (a fixed clock in tests, a burst of connects).
   * KEYS: the indexes. ARGV: direction (asc|desc), lowest and highest score,
   * cursor score ('' for none), cursor mode (all: every entry at the cursor
   * score is past it; none: none is; exact: those past the cursor user id are),
   * cursor user id, page size. Returns [user, score, user, score, …].
   */
  obConnPage: {
    lua: `
local dir, lo, hi, cs, mode, cu, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
-- byte order, as Redis orders members of equal score (Lua's < would use the locale)
local function before(a, b)
  local len = math.min(#a, #b)
  for i = 1, len do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
-- the first rank in [a, b) (one score) whose member is not before the cursor's
local function firstNotBefore(key, a, b)
  while a < b do
    local mid = math.floor((a + b) / 2)
    if before(redis.call('ZRANGE', key, mid, mid)[1], cu) then a = mid + 1 else b = mid end
  end
  return a
end
local items = {}
for _, key in ipairs(KEYS) do
  if dir == 'asc' then
    local start = redis.call('ZCOUNT', key, '-inf', '(' .. lo)
    if cs ~= '' then
      local at
      if mode == 'all' then at = redis.call('ZCOUNT', key, '-inf', '(' .. cs)
      elseif mode == 'none' then at = redis.call('ZCOUNT', key, '-inf', cs)
      else
        local a, b = redis.call('ZCOUNT', key, '-inf', '(' .. cs), redis.call('ZCOUNT', key, '-inf', cs)
        at = firstNotBefore(key, a, b)
        if at < b and redis.call('ZRANGE', key, at, at)[1] == cu then at = at + 1 end
      end
      if at > start then start = at end
    end
    local got = redis.call('ZRANGE', key, start, start + n - 1, 'WITHSCORES')
    for i = 1, #got, 2 do
      if tonumber(got[i + 1]) > tonumber(hi) then break end
      table.insert(items, {got[i], tonumber(got[i + 1])})
    end
  else
    local stop = redis.call('ZCOUNT', key, '-inf', hi) - 1
    if cs ~= '' then
      local at
      if mode == 'all' then at = redis.call('ZCOUNT', key, '-inf', cs) - 1
      elseif mode == 'none' then at = redis.call('ZCOUNT', key, '-inf', '(' .. cs) - 1
      else
        local a, b = redis.call('ZCOUNT', key, '-inf', '(' .. cs), redis.call('ZCOUNT', key, '-inf', cs)
        at = firstNotBefore(key, a, b) - 1
      end
      if at < stop then stop = at end
    end
    if stop >= 0 then
      local first = math.max(0, stop - n + 1)
      local got = redis.call('ZRANGE', key, first, stop, 'WITHSCORES')
      for i = #got - 1, 1, -2 do
        if tonumber(got[i + 1]) < tonumber(lo) then break end
        table.insert(items, {got[i], tonumber(got[i + 1])})
      end
    end
  end
end
table.sort(items, function(x, y)
  if x[2] ~= y[2] then
    if dir == 'asc' then return x[2] < y[2] end
    return x[2] > y[2]
  end
  if dir == 'asc' then return before(x[1], y[1]) end
  return before(y[1], x[1])
end)
local out = {}
for i = 1, math.min(n, #items) do
  table.insert(out, items[i][1])
  table.insert(out, string.format('%.0f', items[i][2]))
end
return out`,
  },
  /**
   * The start of a refresh, in one call (under a burst each round trip waits
   * behind every queued request, so the refresh path keeps them few):
   * KEYS: connection, lock, cooldown. ARGV: the version the caller saw, owner, lock ms.
   * Returns `{0}` no record; `{1, record}` the version moved on (someone refreshed);
   * `{2, ms}` cooling down after a OneUp failure (of this version of the record); `{3}` another holder is refreshing;
   * `{4, record}` the lock is now this owner's. A record is HGETALL's flat list.
   */
  obRefreshBegin: {
    numberOfKeys: 3,
    lua: `
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {0} end
if v ~= ARGV[1] then return {1, redis.call('HGETALL', KEYS[1])} end
local cooling = redis.call('PTTL', KEYS[3])
if cooling > 0 and redis.call('GET', KEYS[3]) == v then return {2, cooling} end
if redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3], 'NX') then return {4, redis.call('HGETALL', KEYS[1])} end
return {3}`,
  },
  /** Releases a lock only if this owner still holds it. KEYS: lock. ARGV: owner. */
  obUnlock: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
  /** Extends a lock only if this owner still holds it. KEYS: lock. ARGV: owner, ms. */
  obLockRenew: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
  },
  /**
   * A delivery attempt failed: moves it from the queue (acknowledged and
   * deleted) to the retry set, due at ARGV[3], in one step so it is neither
   * lost nor doubled. KEYS: queue, retries. ARGV: group, entry id, due ms, payload.
   */
  obWebhookRetry: {
    numberOfKeys: 2,
    lua: `
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1`,
  },
  /**
   * Moves deliveries whose retry is due back onto the queue. KEYS: retries,
   * queue. ARGV: now ms, at most how many. Returns how many moved.
   */
  obWebhookDue: {
    numberOfKeys: 2,
    lua: `
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, payload in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'd', payload)
  redis.call('ZREM', KEYS[1], payload)
end
return #due`,
  },
  /**
   * Registers a webhook endpoint unless its app has `max` already (checked and
   * added in one step, so concurrent registrations cannot pass the cap).
   * KEYS: endpoint ids set, the new endpoint's hash. ARGV: endpoint id, app id,
   * max, then the hash's field/value pairs (with app_id). Returns 1, or 0 when full.
   * It also reads the other endpoints' hashes, named from the new one's prefix: all
   * share the `{wh}` hash tag, so on Redis Cluster they are on this script's node.
   */
  obWebhookCreate: {
    numberOfKeys: 2,
    lua: `
local prefix = string.sub(KEYS[2], 1, #KEYS[2] - #ARGV[1])
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('HGET', prefix .. id, 'app_id') == ARGV[2] then count = count + 1 end
end
if count >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('SADD', KEYS[1], ARGV[1])
return 1`,
  },
  /**
   * Removes consumers with nothing pending: ARGV[2] (this one, stopping) and any
   * idle longer than ARGV[3] ms. KEYS: queue. ARGV: group, self, idle ms.
   * Returns how many were removed (0 when there is no group yet).
   */
  obWebhookPrune: {
    numberOfKeys: 1,
    lua: `
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local removed = 0
for _, fields in ipairs(consumers) do
  local c = {}
  for i = 1, #fields, 2 do c[fields[i]] = fields[i + 1] end
  if c.pending == 0 and (c.name == ARGV[2] or c.idle > tonumber(ARGV[3])) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], c.name)
    removed = removed + 1
  end
end
return removed`,
  },
  /** Sets `used:<key id>` to ARGV[2] if the key is still on the app. KEYS: app. ARGV: key id, ms. Returns 1 when set. */
  obTouchKey: {
    numberOfKeys: 1,
    lua: `
if redis.call('HEXISTS', KEYS[1], 'key:' .. ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'used:' .. ARGV[1], ARGV[2])
return 1`,
  },
  /**
   * Gives back one count of a counter (a per-IP authentication attempt that was not a
   * failure; a connection's call made with a revoked key, or refused by its app's own
   * limit), never below zero and never
   * creating the key (it keeps its TTL).
   * KEYS: counter. Returns the new count.
   */
  obCountBack: {
    numberOfKeys: 1,
    lua: `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0`,
  },
  /**
   * Drops the retries waiting for a deleted endpoint. KEYS: retries. ARGV: the
   * endpoint id. A retry is the JSON of a delivery, which starts with its
   * `webhookId`. Returns how many were dropped.
   */
  obWebhookForget: {
    numberOfKeys: 1,
    lua: `
local prefix = '{"webhookId":' .. cjson.encode(ARGV[1]) .. ','
local dropped = 0
for _, payload in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(payload, 1, #prefix) == prefix then
    dropped = dropped + redis.call('ZREM', KEYS[1], payload)
  end
end
return dropped`,
  },
  /** A delivery is over (delivered or given up): acknowledge and delete it. KEYS: queue. ARGV: group, entry id. */
  obWebhookDone: {
    numberOfKeys: 1,
    lua: `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])`,
  },
  /**
   * Starts a background job unless one is running for the same target. KEYS:
   * job hash, the job's lock. ARGV: the name of the target field, then the
   * field/value pairs of the new job (with state = running, the target among
   * them). Returns 1 started, 0 one running for this target already (nothing
   * changes), 2 replaced a running job for another target that nobody runs
   * (its lock is free: no replica seals with its target any more, or none
   * picked it up yet), -1 one running for another target, lock held.
   */
  obJobStart: {
    numberOfKeys: 2,
    lua: `
local field = ARGV[1]
local target
for i = 2, #ARGV, 2 do
  if ARGV[i] == field then target = ARGV[i + 1] end
end
local current = redis.call('HMGET', KEYS[1], 'state', field)
local started = 1
if current[1] == 'running' then
  if current[2] == target then return 0 end
  if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
  started = 2
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return started`,
  },
  /**
   * Saves a job's progress only if it is still that job. KEYS: job hash. ARGV:
   * job id, then field/value pairs. Returns 1 when written, 0 when the job was replaced.
   */
  obJobUpdate: {
    numberOfKeys: 1,
    lua: `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1`,
  },
  /**
   * Removes a `key:` field unless it is the hash's last one (a webhook keeps at
   * least one signing secret). KEYS: hash. ARGV: id. Returns 1 removed, 0 last
   * one, -1 no such field.
   */
  obRevokeUnlessLast: {
    numberOfKeys: 1,
    lua: `
if redis.call('HEXISTS', KEYS[1], 'key:' .. ARGV[1]) == 0 then return -1 end
local count = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 4) == 'key:' then count = count + 1 end
end
if count <= 1 then return 0 end
return redis.call('HDEL', KEYS[1], 'key:' .. ARGV[1])`,
  },
  /** Sets a hash field only if it still holds the expected value. KEYS: hash. ARGV: field, expected, new. */
  obFieldSwap: {
    numberOfKeys: 1,
    lua: `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`,
  },
  /**
   * Counts a call in an app's window, if the key that made it is still active
   * (so a revoked key stops at once, on every replica). KEYS: app, counter.
   * ARGV: key id, window ms. Returns the count, or -1 for a revoked key.
   */
  obAppCount: {
    numberOfKeys: 2,
    lua: `
if redis.call('HEXISTS', KEYS[1], 'key:' .. ARGV[1]) == 0 then return -1 end
local used = redis.call('INCR', KEYS[2])
if used == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return used`,
  },
  /**
   * Adds a key to an app unless it has `ARGV[3]` already. KEYS: app.
   * ARGV: key id, stored value, max keys. Returns 1, 0 when full, -1 when no app.
   */
  obAppAddKey: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local count = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 4) == 'key:' then count = count + 1 end
end
if count >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'key:' .. ARGV[1], ARGV[2])
return 1`,
  },
} as const

declare module 'ioredis' {
  interface RedisCommander<Context> {
    obHandout(app: string, appCounter: string, connection: string, counter: string, keyId: string, windowMs: number, appLimit: number): Result<Array<string | number | null>, Context>
    obConnRead(connection: string, counter: string, windowMs: number): Result<Array<string | number | null>, Context>
    obConnPut(...keysThenArgs: Array<string | number>): Result<number | null, Context>
    obConnReseal(connection: string, kidCounts: string, expected: number, sealed: string, kid: string): Result<number, Context>
    obConnDelete(...keysThenArgs: string[]): Result<string[], Context>
    obConnPage(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Result<string[], Context>
    obJobStart(job: string, lock: string, targetField: string, ...fieldsAndValues: Array<string | number>): Result<number, Context>
    obJobUpdate(job: string, id: string, ...fieldsAndValues: string[]): Result<number, Context>
    obRevokeUnlessLast(hash: string, id: string): Result<number, Context>
    obFieldSwap(hash: string, field: string, expected: string, next: string): Result<number, Context>
    obLockRenew(lock: string, owner: string, ms: number): Result<number, Context>
    obWebhookRetry(queue: string, retries: string, group: string, entryId: string, due: number, payload: string): Result<number, Context>
    obWebhookDue(retries: string, queue: string, now: number, max: number): Result<number, Context>
    obWebhookDone(queue: string, group: string, entryId: string): Result<number, Context>
    obWebhookForget(retries: string, webhookId: string): Result<number, Context>
    obWebhookPrune(queue: string, group: string, self: string, idleMs: number): Result<number, Context>
    obCountBack(counter: string): Result<number, Context>
    obTouchKey(app: string, keyId: string, at: number): Result<number, Context>
    obWebhookCreate(endpoints: string, endpoint: string, id: string, appId: string, max: number, ...fieldsAndValues: string[]): Result<number, Context>
    obRefreshBegin(connection: string, lock: string, cooldown: string, seenVersion: number, owner: string, lockMs: number): Result<[number, (string[] | number)?], Context>
    obUnlock(lock: string, owner: string): Result<number, Context>
    obAppCount(app: string, counter: string, keyId: string, windowMs: number): Result<number, Context>
    obAppAddKey(app: string, keyId: string, value: string, maxKeys: number): Result<number, Context>
  }
}

/** Defines every script on a client (standalone or cluster). */
export function defineScripts(client: RedisClient): void {
  for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition)
}

/** Each script's Lua source by name: metrics name an `EVALSHA` by the script it runs. */
export const SCRIPT_SOURCES: Record<string, string> = Object.fromEntries(Object.entries(SCRIPTS).map(([name, script]) => [name, script.lua]))
