import { Injectable, OnApplicationBootstrap, OnModuleInit, type Type } from '@nestjs/common';
import { ContextIdFactory, DiscoveryService, MetadataScanner, ModuleRef } from '@nestjs/core';
import { BusRuntime } from '../core/bus-runtime';
import { eventKeys } from '../routing/event-key';
import type { ListenerCall } from '../routing/listener-entry';
import { ListenerMetadataAccessor } from './listener-metadata.accessor';

type DiscoveredWrapper = ReturnType<DiscoveryService['getProviders']>[number];

/**
 * Finds `@OnEvent` methods in every provider and controller and registers them on the bus,
 * then lets dispatches through. Runs in `onModuleInit`, so listeners (and their driver
 * subscriptions) are attached before `app.init()` resolves.
 */
@Injectable()
export class ListenerExplorer implements OnModuleInit, OnApplicationBootstrap {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: ListenerMetadataAccessor,
    private readonly moduleRef: ModuleRef,
    private readonly bus: BusRuntime,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.bus.start();
    const seen = new Set<object>();
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      await this.explore(wrapper, seen);
    }
    await this.bus.subscriptionsSettled();
    this.bus.markReady();
  }

  /**
   * Listeners registered in code during other modules' `onModuleInit` subscribe in the background;
   * `app.init()` runs this hook after all of those, so it resolves with them confirmed too.
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.bus.subscriptionsSettled(true);
  }

  private async explore(wrapper: DiscoveredWrapper, seen: Set<object>): Promise<void> {
    // An alias (useExisting) points at a provider explored on its own: call it once.
    if (wrapper.isAlias) return;
    const requestScoped = !wrapper.isDependencyTreeStatic();
    // A transient provider's static instance is a bare prototype that was never constructed.
    const transient = wrapper.isTransient && !requestScoped;
    let instance = wrapper.instance as Record<string, unknown> | undefined;
    const prototype =
      requestScoped || transient
        ? (wrapper.metatype as Type | undefined)?.prototype
        : instance !== null && typeof instance === 'object'
          ? Object.getPrototypeOf(instance)
          : undefined;
    if (!prototype || prototype === Object.prototype) return;
    const listeners = this.scanner
      .getAllMethodNames(prototype)
      .map((methodName) => ({ methodName, metadata: this.accessor.getListenerMetadata(prototype[methodName]) }))
      .filter((found) => found.metadata !== undefined);
    if (listeners.length === 0) return;
    if (transient) {
      // The bus gets an instance of its own, built once, so its listeners run once per event.
      instance = (await this.moduleRef.resolve(wrapper.token as Type, undefined, { strict: false })) as Record<string, unknown>;
    }
    if (!requestScoped) {
      if (seen.has(instance!)) return;
      seen.add(instance!);
    }
    const className = (requestScoped ? (wrapper.metatype as Type).name : instance!.constructor?.name) ?? String(wrapper.name);
    for (const { methodName, metadata } of listeners) {
      const name = `${className}.${methodName}`;
      const call = requestScoped ? this.requestScopedCall(wrapper, methodName) : this.boundCall(instance!, methodName);
      for (const { event, options } of metadata!) {
        for (const key of eventKeys(event, `@OnEvent on ${name}`)) this.bus.addListener(key, name, call, options);
      }
    }
  }

  private boundCall(instance: Record<string, unknown>, methodName: string): ListenerCall {
    const method = instance[methodName] as (event: unknown, meta?: unknown) => unknown;
    // Bound, not wrapped in a closure: one call less per listener per dispatch (an eighth of a
    // ten-listener dispatch). The bus calls it with (event, meta) only (see ListenerEntry.plain).
    return method.bind(instance) as ListenerCall;
  }

  /** A request-scoped provider is resolved anew for each event, in a context of its own. */
  private requestScopedCall(wrapper: DiscoveredWrapper, methodName: string): ListenerCall {
    const token = wrapper.token as Type;
    return async (event, meta) => {
      const contextId = ContextIdFactory.create();
      this.moduleRef.registerRequestByContextId({ event }, contextId);
      const instance = (await this.moduleRef.resolve(token, contextId, { strict: false })) as Record<string, unknown>;
      return (instance[methodName] as (event: unknown, meta?: unknown) => unknown).call(instance, event, meta);
    };
  }
}
