import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule, eventBusOptions } from './app.module';

async function bootstrap(): Promise<void> {
  if (process.env.OTEL_CONSOLE === '1') {
    // Loaded only when asked for: without it the app loads nothing of OpenTelemetry.
    const { startConsoleTelemetry } = await import('./observability/console-telemetry');
    startConsoleTelemetry();
  }
  const app = await NestFactory.create(AppModule, { logger: process.env.QUIET ? ['error', 'warn'] : undefined });
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, '127.0.0.1');
  const { driver } = eventBusOptions();
  // One line for people and for the multi-process tests, which wait for it.
  console.log(`READY ${port} (driver: ${String(driver)}) — try: curl -X POST localhost:${port}/users`);
}

void bootstrap();
