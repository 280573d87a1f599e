/**
 * What says a stream has new entries, for the consumers of one Redis node: each watched stream has
 * a generation, raised whenever entries past the last known end appeared. A consumer that read its
 * group after seeing generation `g` waits for a generation other than `g` before reading again.
 */
export interface StreamWakeSource {
  start(): void;
  /** Starts watching `streamKey` (counted: one call per consumer). */
  watch(streamKey: string): void;
  unwatch(streamKey: string): void;
  /** The stream's generation (0 until its end was first looked up). */
  generation(streamKey: string): number;
  /**
   * Resolves when the stream's generation is no longer `seen` (true), or after `timeoutMs`, or when
   * `cancel` is called (false). Returns the cancel function through `onCancel`.
   */
  waitForChange(streamKey: string, seen: number, timeoutMs: number, onCancel: (cancel: () => void) => void): Promise<boolean>;
  /** `id` exists in the stream (a consumer read it): wakes the stream's other consumers if it is past the known end. */
  advance(streamKey: string, id: string): void;
  close(): Promise<void>;
}
