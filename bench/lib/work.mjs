// The listener body every case uses: the same tiny amount of work for every library.
export const sink = { calls: 0, total: 0 };

export function listener(event) {
  sink.calls++;
  sink.total += event.n;
}
