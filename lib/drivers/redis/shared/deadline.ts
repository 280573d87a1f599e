/** What `beforeDeadline` resolves to when the deadline came first. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * Settles like `promise`, or resolves to `TIMED_OUT` at `deadline` (epoch ms) if it has not settled
 * by then. The one timeout race of the redis drivers: a late rejection of `promise` is handled here,
 * never unhandled, and the timer is cleared as soon as `promise` settles.
 */
export function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
  return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
    const timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** True when `promise` settled (either way) before `deadline`; never rejects. */
export async function settlesBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  return (await beforeDeadline(settled, deadline)) !== TIMED_OUT;
}

/** `ms` later (an unref'd timer: it never keeps the process alive). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
}
