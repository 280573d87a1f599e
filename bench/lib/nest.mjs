// Plain-JS helpers to build small Nest applications: decorators are called as functions.
import 'reflect-metadata';
import { createRequire } from 'node:module';

export const require = createRequire(import.meta.url);

/**
 * The package under test, as a user gets it: the built dist/ through the package's own name — or
 * the runner's snapshot of it (BENCH_PACKAGE_MAIN), so a rebuild of dist/ during a run changes nothing.
 */
export function eventBusPackage() {
  return require(process.env.BENCH_PACKAGE_MAIN ?? 'nestjs-event-bus');
}

/** Applies a method decorator to `Class.prototype[method]`. */
export function decorateMethod(Class, method, decorator) {
  const descriptor = Object.getOwnPropertyDescriptor(Class.prototype, method);
  const result = decorator(Class.prototype, method, descriptor);
  Object.defineProperty(Class.prototype, method, result ?? descriptor);
}

/**
 * A class with `count` listener methods `handle0..handleN-1`, each calling `body`. Each method is
 * its own function: decorators keep their metadata on the function object.
 */
export function listenerClass(name, count, body, { asyncFunctions = false } = {}) {
  const Class = { [name]: class {} }[name];
  for (let i = 0; i < count; i++) {
    Class.prototype[`handle${i}`] = asyncFunctions
      ? async function (event) {
          return body(event);
        }
      : function (event) {
          return body(event);
        };
  }
  return Class;
}
