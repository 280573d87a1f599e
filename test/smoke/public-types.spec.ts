import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The published types show only the public API: every declaration file reachable from
 * dist/index.d.ts is free of the bus's internals (built with `stripInternal`), and every type those
 * files name is one the package root exports (a user can name what the API hands them).
 * Reads dist/, which `npm test` builds first.
 */
const dist = resolve(__dirname, '../../dist');
const entry = join(dist, 'index.d.ts');

/** Members and types that exist only for the bus itself. */
const INTERNAL_NAMES = [
  // the runtime and its collaborators
  'BusRuntime',
  'BusLifecycle',
  'BusTelemetry',
  'BusObserver',
  'LocalDispatcher',
  'OutboundPublisher',
  'InboundDelivery',
  'SubscriptionManager',
  'InflightTracker',
  'runtime',
  // what the explorer, the module and drivers call on the bus
  'start',
  'markReady',
  'addListener',
  'removeEntry',
  'removeListener',
  'subscriptionsSettled',
  'eventKeys',
  'getDriver',
  'recordError',
  'handleSettled',
  'nextHandleId',
  'onApplicationShutdown',
  // a handle's bookkeeping
  'HandleOwner',
  '_pending',
  '_tracked',
  '_fail',
  '_release',
  '_settle',
  '_owner',
  '_errors',
  '_done',
  '_resolve',
  '_id',
  // exported for nothing
  'DeliveryHooks',
  'DeliveryPipelineSettings',
  'OnEventTarget',
];

/** Declaration files reachable from `file` through relative imports and re-exports. */
function reachable(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/(?:from\s+|import\(\s*)['"](\.[^'"]+)['"]/g)) {
    const base = resolve(dirname(file), match[1]!);
    const target = [`${base}.d.ts`, join(base, 'index.d.ts')].find((candidate) => existsSync(candidate));
    if (target !== undefined) reachable(target, seen);
  }
  return seen;
}

/** Every identifier in the file's code (names of members, types and references alike). */
function identifiers(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) names.add(node.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return names;
}

describe('the published declaration files', () => {
  it('dist/index.d.ts exists (npm test builds it before running)', () => {
    expect(existsSync(entry)).toBe(true);
  });

  const files = existsSync(entry) ? [...reachable(entry)] : [];
  const program = ts.createProgram(files.length > 0 ? [entry] : [], { noEmit: true, skipLibCheck: true });
  const checker = program.getTypeChecker();

  it('reach more than the index (the walk follows re-exports)', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it('name none of the internals', () => {
    const offenders: string[] = [];
    for (const file of files) {
      const source = program.getSourceFile(file)!;
      const found = identifiers(source);
      for (const name of INTERNAL_NAMES) if (found.has(name)) offenders.push(`${file.slice(dist.length + 1)}: ${name}`);
      if (/@internal\b/.test(source.text)) offenders.push(`${file.slice(dist.length + 1)}: an @internal comment survived`);
    }
    expect(offenders).toEqual([]);
  });

  it('name only types the package root exports', () => {
    const root = program.getSourceFile(entry)!;
    const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(root)!).map((symbol) => symbol.name));
    const ours = new Set(files.map((file) => program.getSourceFile(file)!));
    const offenders = new Set<string>();
    for (const file of files) {
      const source = program.getSourceFile(file)!;
      const visit = (node: ts.Node): void => {
        const name = ts.isTypeReferenceNode(node)
          ? node.typeName
          : ts.isExpressionWithTypeArguments(node) && ts.isIdentifier(node.expression)
            ? node.expression
            : undefined;
        if (name !== undefined) {
          let symbol = checker.getSymbolAtLocation(name);
          if (symbol !== undefined && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
          const declaredInPackage = symbol?.declarations?.some((d) => ours.has(d.getSourceFile())) ?? false;
          // A value in a heritage clause (the module's ConfigurableModuleBuilder base) has a type from Nest.
          const notAType = symbol !== undefined && (symbol.flags & (ts.SymbolFlags.TypeParameter | ts.SymbolFlags.Variable)) !== 0;
          if (declaredInPackage && !notAType && !exported.has(symbol!.name)) {
            offenders.add(`${file.slice(dist.length + 1)}: ${symbol!.name}`);
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect([...offenders]).toEqual([]);
  });
});
