import { DriverUnavailableError } from '../../../errors/driver-unavailable.error';

type IoredisModule = typeof import('ioredis');

/**
 * Loads `ioredis`, an optional peer only the Redis drivers need. When it is not installed the
 * error says so and how to fix it, instead of surfacing later as a connection failure.
 */
export async function loadIoredis(driver: string): Promise<IoredisModule> {
  try {
    return await import('ioredis');
  } catch (err) {
    if (isMissing(err)) {
      throw new DriverUnavailableError(
        `driver '${driver}' needs the 'ioredis' package (>= 5.10), which is not installed: run \`npm install ioredis\``,
        err,
      );
    }
    throw err;
  }
}

/** True when the import failed because ioredis itself cannot be resolved (not one of its own imports). */
function isMissing(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return false;
  return /['"]ioredis['"]/.test(err instanceof Error ? err.message : String(err));
}
