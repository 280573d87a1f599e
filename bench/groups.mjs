import { clusterGroup } from './groups/cluster.mjs';
import { inProcessGroup, inProcessPairedGroup } from './groups/in-process.mjs';
import { routingGroup } from './groups/routing.mjs';
import {
  redisLatencyGroup,
  redisPairedLatencyGroup,
  redisPairedTrackingGroup,
  redisPubSubGroup,
  redisStreamsGroup,
  redisStreamsListenersGroup,
  redisTrackingLatencyGroup,
  redisTrackingThroughputGroup,
} from './groups/redis.mjs';

/** Every group `npm run bench` knows, in the order it runs them. */
export const GROUPS = [
  inProcessGroup,
  inProcessPairedGroup,
  routingGroup,
  redisPubSubGroup,
  redisStreamsGroup,
  redisLatencyGroup,
  redisPairedLatencyGroup,
  redisStreamsListenersGroup,
  redisTrackingLatencyGroup,
  redisPairedTrackingGroup,
  redisTrackingThroughputGroup,
  clusterGroup,
];
