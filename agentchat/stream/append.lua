-- Fenced, deduplicated, batched appends of one or more producers' envelopes to chat streams.
-- Every group is one producer's batch for one chat, so one call serves many chats at once (a
-- worker sends what all its running steps queued; on a Redis Cluster, one group per call).
-- KEYS: per group, the chat's events stream, meta hash and fence hash.
-- ARGV: per group, its argument count, then producer, attempt, turn, role ("start" | "step" |
--       "end"), maxlen, ttl, keep_turns, idle_ttl, then (seq, envelope) pairs.
-- Returns one {status, last_id, stop} per group: status is "OK", "FENCED" (a newer attempt owns
-- the producer, or the turn already ended), "ENDED" (an end record was already written) or
-- "ERR" with the error in place of last_id (one chat's failure leaves the others written).

local function append(events, meta, fence, a, b)
  local producer, attempt, turn, role = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]),
    ARGV[a + 3]
  local maxlen, ttl, keep = ARGV[a + 4], tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  -- A turn that ends leaves the chat idle: its keys then live only `idle_ttl` more seconds
  -- unless another turn starts (any write restores `ttl`).
  if role == 'end' then ttl = tonumber(ARGV[a + 7]) end

  local ended = tonumber(redis.call('HGET', meta, 'ended') or '0')
  local stop = 0
  if tonumber(redis.call('HGET', meta, 'stop') or '-1') == turn then stop = 1 end
  if ended >= turn and role == 'start' then
    -- The stream is ahead of the conversation: the workflow lost its history (retention)
    -- while Redis kept the keys. The workflow is the record; start the stream afresh.
    redis.call('DEL', events, meta, fence)
    ended, stop = 0, 0
  elseif ended >= turn then
    if role == 'end' then return {'ENDED', '', stop} end
    return {'FENCED', '', stop}
  end

  local cur_a, cur_s = 0, 0
  local cur = redis.call('HGET', fence, producer)
  if cur then
    local sep = string.find(cur, ':', 1, true)
    cur_a, cur_s = tonumber(string.sub(cur, 1, sep - 1)), tonumber(string.sub(cur, sep + 1))
  end
  if attempt < cur_a then return {'FENCED', '', stop} end

  local last_id = ''
  if attempt > cur_a and cur_a > 0 then
    last_id = redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'e',
      '{"v":1,"k":"attempt-start","turn":' .. turn .. ',"p":"' .. producer .. '","a":' ..
      attempt .. ',"supersedes":' .. cur_a .. '}')
  end
  if attempt > cur_a then cur_s = 0 end

  local first_id = ''
  for i = a + 8, b, 2 do
    local seq = tonumber(ARGV[i])
    if seq > cur_s then
      last_id = redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[i + 1])
      if first_id == '' then first_id = last_id end
      cur_s = seq
    end
  end
  if b >= a + 8 then redis.call('HSET', fence, producer, attempt .. ':' .. cur_s) end

  if role == 'start' and first_id ~= '' then
    redis.call('HSET', meta, 'active', turn, 'start:' .. turn, first_id, 'last_turn', turn)
  elseif role == 'end' then
    redis.call('HSET', meta, 'ended', turn)
    if tonumber(redis.call('HGET', meta, 'active') or '-1') == turn then
      redis.call('HDEL', meta, 'active')
    end
    redis.call('HDEL', meta, 'stop')
    redis.call('DEL', fence)
    -- Keep the last `keep` turns whole: trim everything before the oldest kept turn's start.
    local oldest = redis.call('HGET', meta, 'start:' .. (turn - keep + 1))
    if oldest then
      redis.call('XTRIM', events, 'MINID', oldest)
      -- Readers tell a trimmed stream from one that expired and started afresh by this.
      redis.call('HSET', meta, 'trimmed', oldest)
    end
    redis.call('HDEL', meta, 'start:' .. (turn - keep))
  end
  redis.call('EXPIRE', events, ttl)
  redis.call('EXPIRE', meta, ttl)
  if redis.call('EXISTS', fence) == 1 then redis.call('EXPIRE', fence, ttl) end
  return {'OK', last_id, stop}
end

local replies = {}
local at = 1
for group = 1, #KEYS / 3 do
  local k, count = group * 3 - 2, tonumber(ARGV[at])
  local ok, reply = pcall(append, KEYS[k], KEYS[k + 1], KEYS[k + 2], at + 1, at + count)
  if not ok then
    reply = {'ERR', type(reply) == 'table' and tostring(reply.err) or tostring(reply), 0}
  end
  replies[group] = reply
  at = at + count + 1
end
return replies
