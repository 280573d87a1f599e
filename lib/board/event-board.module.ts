import { Module, type DynamicModule } from '@nestjs/common';
import { BOARD_SOURCE, EventBoardRoutes } from './board-routes';
import { BusBoardSource } from './bus-board-source';
import { BOARD_OPTIONS, resolveBoardOptions, type EventBoardOptions } from './event-board-options';
import { EventBoardRecorder } from './event-board.recorder';

/**
 * `EventBoardModule.register({ path: '/_events', guard, readOnly: true, showPayloads: false })`: a
 * live page of the bus's listeners, events, errors and dead letters in the app's own HTTP server.
 * Needs the bus of `EventBusModule` (global by default).
 */
@Module({})
export class EventBoardModule {
  static register(options: EventBoardOptions = {}): DynamicModule {
    const resolved = resolveBoardOptions(options);
    return {
      module: EventBoardModule,
      providers: [
        { provide: BOARD_OPTIONS, useValue: resolved },
        { provide: EventBoardRecorder, useFactory: () => new EventBoardRecorder(resolved.showPayloads) },
        BusBoardSource,
        { provide: BOARD_SOURCE, useExisting: BusBoardSource },
        EventBoardRoutes,
      ],
    };
  }
}
