import type { RedisClient } from './redis-connection.js';

/**
 * The Lua scripts of the Redis bus. Each runs atomically on the shard that owns its keys, so
 * that a room's order is decided in one place. Numbers that go back to Redis as arguments are
 * formatted with `%d`: Lua would otherwise print large ones in exponent notation.
 */

/**
 * Appends a batch of entries to a room and publishes it, in one step.
 *
 * KEYS: seq counter, log stream, writers hash, move marker.
 * ARGV: channel, publish command (`PUBLISH` or `SPUBLISH`), floor seq, writer (node id),
 *       batch token, entry 1, entry 2, …
 * Returns the first seq of the batch; the others follow it. Fails with `WEFTMOVE <marker>`
 * while the room takes part in a rename (see {@link RoomKeys.move}).
 *
 * The next seq is one past the highest of: the counter, the floor (the highest seq the writer
 * has seen, so that seqs never go backwards after Redis lost data) and the stream's top id. Each
 * entry becomes stream id `<seq>-0`. The published frame is `E<prev seq>\n` followed by each
 * entry as a 4-byte big-endian length and its bytes: subscribers that know `prev` detect gaps.
 * A writer that retries a batch (same token) after losing the reply gets the seqs it was given
 * instead of a second copy: each writer has at most one batch per room in flight.
 */
const APPEND_LUA = `
local move = redis.call('GET', KEYS[4])
if move then
  return redis.error_reply('WEFTMOVE ' .. move)
end
local record = redis.call('HGET', KEYS[3], ARGV[4])
if record then
  local token, first = string.match(record, '^(%S+) (%d+)$')
  if token == ARGV[5] then
    return tonumber(first)
  end
end
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[3])
if floor > last then
  last = floor
end
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local topSeq = tonumber(string.match(top[1][1], '^(%d+)-'))
  if topSeq > last then
    last = topSeq
  end
end
local first = last + 1
local frame = { 'E', string.format('%d', last), '\\n' }
for i = 6, #ARGV do
  last = last + 1
  redis.call('XADD', KEYS[2], string.format('%d-0', last), 'd', ARGV[i])
  frame[#frame + 1] = struct.pack('>I4', #ARGV[i])
  frame[#frame + 1] = ARGV[i]
end
redis.call('SET', KEYS[1], string.format('%d', last))
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5] .. ' ' .. string.format('%d', first))
redis.call(ARGV[2], ARGV[1], table.concat(frame))
return first
`;

/**
 * Reads a page of entries after a seq and the counter, atomically, raising the counter first.
 *
 * KEYS: seq counter, log stream. ARGV: after seq, floor seq, page size.
 * Returns `{ counter, XRANGE reply }`. Because the counter is read in the same step as the
 * page, a last page that stops below the counter proves the missing seqs are gone from the
 * stream (lost with Redis data, or never written because a floor raised the counter).
 */
const READ_LUA = `
local counter = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[2])
if floor > counter then
  counter = floor
  redis.call('SET', KEYS[1], string.format('%d', floor))
end
local entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[3])
return { counter, entries }
`;

/**
 * Hands out the next actor id of a room.
 *
 * KEYS: actor counter. ARGV: floor ('' when the caller has none).
 * Returns the new id, or 0 when the counter is missing and no floor was given: the caller then
 * reads the store's counter and calls again with it, so that ids are never reused after Redis
 * lost the counter.
 */
const ACTOR_LUA = `
local current = redis.call('GET', KEYS[1])
if not current then
  if ARGV[1] == '' then
    return 0
  end
  redis.call('SET', KEYS[1], ARGV[1])
elseif ARGV[1] ~= '' and tonumber(current) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return redis.call('INCR', KEYS[1])
`;

/**
 * Finishes a snapshot: raises the counter to the snapshot's seq, trims the stream before
 * `min id` and releases the lease if this node still holds it.
 *
 * KEYS: seq counter, log stream, lease. ARGV: snapshot seq, min seq kept, lease token.
 */
const TRIM_LUA = `
local counter = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > counter then
  redis.call('SET', KEYS[1], ARGV[1])
end
if tonumber(ARGV[2]) > 1 then
  redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2] .. '-0')
end
if redis.call('GET', KEYS[3]) == ARGV[3] then
  redis.call('DEL', KEYS[3])
end
return 1
`;

/**
 * Copies a page of a renamed room's entries into the log of its new id, keeping their seqs,
 * and raises the new counter to the last one. Entries at or below the new log's top are
 * skipped, so that a retried page adds nothing twice.
 *
 * KEYS: new seq counter, new log stream. ARGV: floor (the old counter: seqs lost from the old
 * stream are not handed out again), seq 1, entry 1, seq 2, entry 2, …
 */
const MOVE_IN_LUA = `
local top = 0
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if last[1] then
  top = tonumber(string.match(last[1][1], '^(%d+)-'))
end
for i = 2, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq > top then
    redis.call('XADD', KEYS[2], string.format('%d-0', seq), 'd', ARGV[i + 1])
    top = seq
  end
end
local counter = tonumber(redis.call('GET', KEYS[1]) or '0')
local raised = math.max(counter, top, tonumber(ARGV[1]))
if raised > counter then
  redis.call('SET', KEYS[1], string.format('%d', raised))
end
return raised
`;

/** Releases a lease if it still holds the given token. KEYS: lease. ARGV: token. */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/**
 * Records a node's heartbeat at Redis time (one clock for every node) and lists stale nodes.
 *
 * KEYS: nodes sorted set. ARGV: node id, timeout ms, forget ms, `beat` or `leave`.
 * `beat` returns `{ 1 when this node's previous beat was already stale else 0, stale ids }`;
 * entries older than `forget ms` are removed. `leave` backdates the node so that the others
 * report it down at their next check, and returns `{ 0, {} }`.
 */
const HEARTBEAT_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local timeout = tonumber(ARGV[2])
if ARGV[4] == 'leave' then
  redis.call('ZADD', KEYS[1], string.format('%d', now - timeout - 1), ARGV[1])
  return { 0, {} }
end
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
local wasStale = 0
if previous and tonumber(previous) < now - timeout then
  wasStale = 1
end
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - tonumber(ARGV[3])))
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - timeout))
return { wasStale, stale }
`;

const SCRIPTS = {
  weftAppend: { lua: APPEND_LUA, numberOfKeys: 4 },
  weftMoveIn: { lua: MOVE_IN_LUA, numberOfKeys: 2 },
  weftRead: { lua: READ_LUA, numberOfKeys: 2 },
  weftActor: { lua: ACTOR_LUA, numberOfKeys: 1 },
  weftTrim: { lua: TRIM_LUA, numberOfKeys: 3 },
  weftRelease: { lua: RELEASE_LUA, numberOfKeys: 1 },
  weftHeartbeat: { lua: HEARTBEAT_LUA, numberOfKeys: 1 },
} as const;

/** Names of the bus's scripts. */
export type ScriptName = keyof typeof SCRIPTS;

type ScriptArg = string | number | Buffer | Uint8Array;
type ScriptMethod = (...args: ScriptArg[]) => Promise<unknown>;

/** The Lua source of a script (tests run it by hand to simulate a lost publish). */
export function scriptSource(name: ScriptName): string {
  return SCRIPTS[name].lua;
}

/**
 * Registers the scripts on a client. ioredis then sends EVALSHA, and EVAL when a (restarted)
 * server does not know the script yet.
 */
export function defineScripts(client: RedisClient): void {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    client.defineCommand(name, { lua: script.lua, numberOfKeys: script.numberOfKeys });
  }
}

/**
 * Runs a script registered by {@link defineScripts}. `binary` returns bulk strings as Buffers
 * (entry bytes); otherwise as strings.
 */
export function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly ScriptArg[],
  binary = false,
): Promise<unknown> {
  const method = (client as unknown as Record<string, ScriptMethod>)[
    binary ? `${name}Buffer` : name
  ];
  if (!method) throw new Error(`script ${name} is not defined on this client`);
  return method.call(client, ...keys, ...args);
}
