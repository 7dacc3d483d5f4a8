import type { Result } from 'ioredis'
import type { RedisClient } from './redis.js'

/**
 * The broker's atomic multi-step Redis updates, as Lua run by `EVALSHA`
 * (ioredis' `defineCommand` falls back to `EVAL` on NOSCRIPT). Every script's
 * keys share one hash tag, so each runs on one Redis Cluster node.
 */
const SCRIPTS = {
  /**
   * The hand-out's one round trip: count the call in the connection's window
   * and read the record. KEYS: connection, rate counter. ARGV: window ms.
   * Returns `[used, field, value, …]`.
   */
  obConnRead: {
    numberOfKeys: 2,
    lua: `
local used = redis.call('INCR', KEYS[2])
if used == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
local record = redis.call('HGETALL', KEYS[1])
table.insert(record, 1, used)
return record`,
  },
  /**
   * Compare-and-set write of a connection record, with its index entry.
   * KEYS: connection, tenant index. ARGV: expected version (`*` for any),
   * user id, index score, created_at (kept when already set), then field/value pairs.
   * Returns the new version, or nil when the version did not match.
   */
  obConnPut: {
    numberOfKeys: 2,
    lua: `
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] ~= '*' and current ~= ARGV[1] then return false end
local version = (tonumber(current) or 0) + 1
redis.call('HSET', KEYS[1], 'v', version, unpack(ARGV, 5))
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return version`,
  },
  /** Deletes a connection and its index entry. KEYS: connection, tenant index. ARGV: user id. */
  obConnDelete: {
    numberOfKeys: 2,
    lua: `
local deleted = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return deleted`,
  },
  /**
   * What a caller waiting for another replica's refresh needs, in one call.
   * KEYS: connection, lock, cooldown. Returns `[version or nil, lock held (0/1), cooldown ms left]`.
   */
  obConnProbe: {
    numberOfKeys: 3,
    lua: `return {redis.call('HGET', KEYS[1], 'v'), redis.call('EXISTS', KEYS[2]), redis.call('PTTL', KEYS[3])}`,
  },
  /** Releases a lock only if this owner still holds it. KEYS: lock. ARGV: owner. */
  obUnlock: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
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
    obConnRead(connection: string, counter: string, windowMs: number): Result<Array<string | number>, Context>
    obConnPut(connection: string, index: string, ...args: Array<string | number>): Result<number | null, Context>
    obConnDelete(connection: string, index: string, userId: string): Result<number, Context>
    obConnProbe(connection: string, lock: string, cooldown: string): Result<[string | null, number, number], Context>
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
