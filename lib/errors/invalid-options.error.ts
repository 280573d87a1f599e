/** A module or listener option is invalid; the message names the option and what is allowed. */
export class InvalidOptionsError extends Error {
  override readonly name = 'InvalidOptionsError';
  constructor(
    readonly option: string,
    message: string,
    /** The listener (`EmailNotifier.handle`) whose option it is; absent for module options. */
    readonly listener?: string,
  ) {
    super(listener === undefined ? `EventBusModule option '${option}' ${message}` : `listener option '${listener}: ${option}' ${message}`);
  }
}
