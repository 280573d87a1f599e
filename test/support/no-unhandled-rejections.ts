import 'reflect-metadata';
import { afterAll, afterEach } from 'vitest';

/**
 * Every spec runs with a process-level hook: an unhandled rejection or uncaught exception
 * anywhere during a test fails that test (a listener failure never leaves one).
 */
const seen: unknown[] = [];
const onRejection = (reason: unknown): void => {
  seen.push(reason);
};
process.on('unhandledRejection', onRejection);
process.on('uncaughtException', onRejection);

afterEach(async () => {
  // Let pending rejections surface before judging the test.
  await new Promise((resolve) => setImmediate(resolve));
  if (seen.length > 0) {
    const reasons = seen.splice(0);
    throw new Error(
      `unhandled rejection or exception during the test: ${reasons.map((r) => (r instanceof Error ? r.stack : String(r))).join('\n')}`,
    );
  }
});

afterAll(() => {
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onRejection);
});
