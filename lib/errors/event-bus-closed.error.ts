/** The bus is closed (or closing): the event was not dispatched. */
export class EventBusClosedError extends Error {
  override readonly name = 'EventBusClosedError';
  constructor(message = 'the event bus is closed: dispatch before app.close() / bus.close()') {
    super(message);
  }
}
