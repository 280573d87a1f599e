import { BatchScript } from '../redis/shared/batch-script';

/**
 * The Lua script that publishes a batch. ARGV holds runs of one channel: `<channel> <count>` then
 * `count` payloads (a batch usually names one channel, so it is sent once per run, not per event).
 * The reply has one entry per payload, in order: PUBLISH's reply (the subscriptions that got it), or
 * the error message when that publish was refused.
 */
function publishScript(command: 'PUBLISH' | 'SPUBLISH'): string {
  return `local replies, k, i, n = {}, 0, 1, #ARGV
while i <= n do
  local channel, last = ARGV[i], i + 1 + tonumber(ARGV[i + 1])
  for j = i + 2, last do
    local r = redis.pcall('${command}', channel, ARGV[j])
    if type(r) == 'table' then r = r.err end
    k = k + 1
    replies[k] = r
  end
  i = last + 1
end
return replies`;
}

export function publishBatchScript(sharded: boolean, onRefused: (reason: string) => void): BatchScript {
  return new BatchScript(publishScript(sharded ? 'SPUBLISH' : 'PUBLISH'), onRefused);
}
