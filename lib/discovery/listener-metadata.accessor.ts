import { Injectable } from '@nestjs/common';
import type { OnEventMetadata } from '../decorators/on-event.decorator';
import { EVENT_LISTENER_METADATA } from '../event-bus.constants';

/** Reads `@OnEvent` metadata off methods. */
@Injectable()
export class ListenerMetadataAccessor {
  getListenerMetadata(method: unknown): OnEventMetadata[] | undefined {
    if (typeof method !== 'function') return undefined;
    const metadata = Reflect.getMetadata(EVENT_LISTENER_METADATA, method) as OnEventMetadata[] | undefined;
    // Decorators apply bottom-up; report them top-down, in the order they are written.
    return metadata === undefined ? undefined : [...metadata].reverse();
  }
}
