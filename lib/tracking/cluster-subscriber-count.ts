import type { Cluster } from 'ioredis';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * How many exact-channel subscriptions a classic PUBLISH on a Redis Cluster reaches. PUBLISH's reply
 * on a cluster counts only the subscribers connected to the node that took the PUBLISH (Redis 7),
 * while the message reaches every node's subscribers: so a tracked dispatch asks every node
 * (`PUBSUB NUMSUB`) before it publishes. The channels of one tick share one command per node.
 * Pattern subscriptions have no per-channel count in Redis (`PUBSUB NUMPAT` counts all patterns).
 */
export class ClusterSubscriberCount {
  private queued = new Map<string, Array<{ resolve: (n: number) => void; reject: (err: unknown) => void }>>();
  private scheduled = false;

  constructor(private readonly cluster: () => Cluster | undefined) {}

  count(channel: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const waiting = this.queued.get(channel);
      if (waiting === undefined) this.queued.set(channel, [{ resolve, reject }]);
      else waiting.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        void RESOLVED.then(this.ask);
      }
    });
  }

  private readonly ask = (): void => {
    this.scheduled = false;
    const queued = this.queued;
    this.queued = new Map();
    const channels = [...queued.keys()];
    const fail = (err: unknown): void => {
      for (const list of queued.values()) for (const w of list) w.reject(err);
    };
    const cluster = this.cluster();
    if (cluster === undefined) return fail(new Error('not connected'));
    const nodes = cluster.nodes('all');
    Promise.all(nodes.map((node) => node.call('PUBSUB', 'NUMSUB', ...channels) as Promise<Array<string | number>>)).then(
      (replies) => {
        const totals = new Map<string, number>();
        for (const reply of replies) {
          for (let i = 0; i + 1 < reply.length; i += 2) {
            const name = String(reply[i]);
            totals.set(name, (totals.get(name) ?? 0) + Number(reply[i + 1]));
          }
        }
        for (const [channel, list] of queued) for (const w of list) w.resolve(totals.get(channel) ?? 0);
      },
      fail,
    );
  };
}
