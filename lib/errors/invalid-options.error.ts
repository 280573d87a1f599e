/** A module or listener option is invalid; the message names the option and what is allowed. */
export class InvalidOptionsError extends Error {
  override readonly name = 'InvalidOptionsError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`EventBusModule option '${option}' ${message}`);
  }
}
