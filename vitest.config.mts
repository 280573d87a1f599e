import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [
    // SWC keeps legacy decorators and emits decorator metadata, which Nest needs to inject by type.
    swc.vite({
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
        target: 'es2022',
      },
    }),
  ],
  resolve: {
    alias: { 'nestjs-event-bus': resolve(dirname(fileURLToPath(import.meta.url)), 'lib/index.ts') },
  },
  test: {
    include: ['test/**/*.spec.ts'],
    globals: false,
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    setupFiles: ['test/support/no-unhandled-rejections.ts'],
    reporters: ['default', './test/support/summary.reporter.ts'],
  },
});
