import { BatchScript } from '../redis/shared/batch-script';
import { FIELD_ENVELOPE } from './stream-fields';

/**
 * The Lua script that appends a batch. ARGV: `maxLen`, the number of streams, the streams, then a pair
 * per event: the index of its stream (negated on the stream's last append of the batch, which also
 * trims it with MAXLEN ~) and the envelope. The reply has one entry per event, in order: 1 when
 * appended, or the error message when that append was refused.
 *
 * The streams are arguments, not KEYS, on purpose (this runs on one node only, never a cluster): Redis
 * checks an ACL against every declared key before the script runs and refuses the whole batch for one
 * stream the user may not write; undeclared, each XADD is checked on its own, as a plain command is.
 */
const APPEND_SCRIPT = `local maxLen, streams, replies, k = ARGV[1], tonumber(ARGV[2]), {}, 0
for i = 3 + streams, #ARGV, 2 do
  local s, r = tonumber(ARGV[i])
  if s < 0 then
    r = redis.pcall('XADD', ARGV[2 - s], 'MAXLEN', '~', maxLen, '*', '${FIELD_ENVELOPE}', ARGV[i + 1])
  else
    r = redis.pcall('XADD', ARGV[2 + s], '*', '${FIELD_ENVELOPE}', ARGV[i + 1])
  end
  k = k + 1
  if type(r) == 'table' then replies[k] = r.err else replies[k] = 1 end
end
return replies`;

export function appendBatchScript(onRefused: (reason: string) => void): BatchScript {
  return new BatchScript(APPEND_SCRIPT, onRefused);
}
