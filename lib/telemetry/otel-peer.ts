import type * as OtelApi from '@opentelemetry/api';
import { InvalidOptionsError } from '../errors/invalid-options.error';

/** The `@opentelemetry/api` module, as the bus uses it. */
export type OtelApiModule = typeof OtelApi;

/**
 * Loads the optional peer `@opentelemetry/api`, only when telemetry is asked for: an app without
 * telemetry never loads it. Missing, it fails start-up saying what to install.
 */
export async function loadOpenTelemetry(option: string): Promise<OtelApiModule> {
  try {
    return await import('@opentelemetry/api');
  } catch (err) {
    throw new InvalidOptionsError(
      option,
      `needs the optional peer dependency @opentelemetry/api, which could not be loaded (${(err as Error)?.message ?? String(err)}): ` +
        'npm install @opentelemetry/api (and an OpenTelemetry SDK to export what the bus records), or turn the option off',
    );
  }
}
