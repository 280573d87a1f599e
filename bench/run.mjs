#!/usr/bin/env node
// npm run bench — this package and its peers side by side, in one run.
//
//   node bench/run.mjs [--quick] [--group in-process,routing,redis] [--rounds N] [--results file | --no-results]
//   BENCH_QUICK=1     same as --quick: small N, one round (the smoke test uses it); writes no results
//                     file unless --results is given
//   Full runs write bench/RESULTS.md. In-process groups run 5 rounds, redis groups 3 (--rounds overrides).
//
// Every sample is a fresh Node process running one case (bench/cases/*.mjs) on the built dist/.
// Rounds interleave the cases (each round starts at a different case), ratios are computed per
// round and their median is reported, so a noisy neighbour on a shared machine skews one round,
// not one library.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, type as osType, release as osRelease } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { fmtRatio } from './lib/format.mjs';
import { median } from './lib/harness.mjs';
import { GROUPS } from './groups.mjs';
import { startRedis } from './lib/redis-launcher.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);

const args = parseArgs(process.argv.slice(2));
const quick = args.quick || process.env.BENCH_QUICK === '1';
const roundsArg = args.rounds !== undefined ? Number(args.rounds) : undefined;
const wanted = (args.group ?? 'in-process,routing,redis,tracking').split(',');
const scale = quick ? 'quick' : 'full';

// Cases load a snapshot of dist/ taken now (inside the repo, so its imports resolve to
// node_modules): other work may rebuild dist/ while the bench runs. One per run (the smoke test
// may run beside a full bench).
const snapshot = join(here, '.out', `dist-${process.pid}`);
rmSync(snapshot, { recursive: true, force: true });
cpSync(join(root, 'dist'), snapshot, { recursive: true });
process.env.BENCH_PACKAGE_MAIN = join(snapshot, 'index.js');

const started = new Date();
const sections = [];
let redis;
let noRedis;
try {
  for (const group of GROUPS.filter((g) => wanted.includes(g.family))) {
    if (group.needsRedis && redis === undefined && noRedis === undefined) {
      try {
        redis = await startRedis();
      } catch (err) {
        // No redis-server here: the in-process results still count; say what was not run.
        noRedis = String(err?.message ?? err);
      }
    }
    if (group.needsRedis && noRedis !== undefined) {
      const section = `### ${group.title}\n\nNot run: could not start redis-server (${noRedis}). Install Redis (redis-server on the PATH).`;
      process.stdout.write('\n' + section + '\n');
      sections.push(section);
      continue;
    }
    const env = group.needsRedis ? { BENCH_REDIS_URL: redis.url } : {};
    const rounds = quick ? 1 : (roundsArg ?? group.rounds ?? 5);
    group.roundsRun = rounds;
    process.stderr.write(`\n# ${group.title} (${rounds} round${rounds > 1 ? 's' : ''}, ${scale})\n`);
    let samples;
    try {
      samples = await runGroup(group, env, rounds);
    } finally {
      // A group that starts servers of its own (the cluster group) stops them.
      await group.teardown?.();
    }
    const section = renderGroup(group, samples);
    process.stdout.write('\n' + section + '\n');
    sections.push(section);
  }
} finally {
  await redis?.stop();
  rmSync(snapshot, { recursive: true, force: true });
}
// The last full run is the record; a quick run (the smoke test) writes only where it is told to.
const resultsFile = typeof args.results === 'string' ? args.results : quick || args['no-results'] ? undefined : join(here, 'RESULTS.md');
if (resultsFile) writeResults(resultsFile);

// ---------------------------------------------------------------- running

async function runGroup(group, env, rounds) {
  const cases = group.cases.filter((c) => c.available?.() ?? true);
  for (const c of group.cases) if (!cases.includes(c)) process.stderr.write(`  skipped ${c.id}: ${c.unavailable}\n`);
  group.skipped = group.cases.filter((c) => !cases.includes(c));
  const samples = new Map(cases.map((c) => [c.id, []]));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + round) % cases.length];
      try {
        const result = await group.sample(c, { round, quick, env });
        samples.get(c.id)[round] = result;
        process.stderr.write(`  round ${round + 1} ${c.id}: ${group.summary(result)}\n`);
      } catch (err) {
        // One broken sample must not lose the run: it is reported and left out.
        (group.failures ??= []).push(`${c.id} round ${round + 1}: ${String(err?.message ?? err).split('\n')[0]}`);
        process.stderr.write(`  round ${round + 1} ${c.id}: FAILED ${err?.stack ?? err}\n`);
      }
    }
  }
  // Measured once: deterministic (allocation) or long (retained heap).
  if (group.once) {
    for (const c of cases) {
      if (samples.get(c.id).every((s) => s === undefined)) continue;
      let extra;
      try {
        extra = await group.once(c, { quick, env });
      } catch (err) {
        (group.failures ??= []).push(`${c.id} (memory): ${String(err?.message ?? err).split('\n')[0]}`);
        process.stderr.write(`  ${c.id} (memory): FAILED ${err?.stack ?? err}\n`);
      }
      if (extra) {
        for (const s of samples.get(c.id)) if (s) Object.assign(s, extra);
        process.stderr.write(`  ${c.id}: ${JSON.stringify(extra)}\n`);
      }
    }
  }
  return samples;
}

// ---------------------------------------------------------------- rendering

function renderGroup(group, samples) {
  const rounds = group.roundsRun;
  const lines = [`### ${group.title}`, '', `${rounds} round${rounds > 1 ? 's' : ''}.`, ''];
  if (group.note) lines.push(group.note(quick), '');
  const columns = group.columns;
  lines.push(`| case | ${columns.map((c) => c.title).join(' | ')} |`);
  lines.push(`|---|${columns.map(() => '---:').join('|')}|`);
  for (const c of group.cases) {
    const list = samples.get(c.id);
    if (list === undefined || list.every((s) => s === undefined)) continue;
    const cells = columns.map((col) => col.cell(list.filter(Boolean), c, samples));
    lines.push(`| ${c.label} | ${cells.join(' | ')} |`);
  }
  for (const c of group.skipped ?? []) lines.push(`| ${c.label} | ${columns.map(() => '—').join(' | ')} |`);
  if (group.skipped?.length) lines.push('', ...group.skipped.map((c) => `- ${c.label}: not measured — ${c.unavailable}`));
  if (group.failures?.length) lines.push('', 'Failed samples (left out):', ...group.failures.map((f) => `- ${f}`));
  const targets = group.targets ?? [];
  const rows = [];
  for (const t of targets) {
    const values = [];
    for (let r = 0; r < rounds; r++) {
      const v = t.perRound(samples, r);
      if (Number.isFinite(v)) values.push(v);
    }
    if (values.length === 0) continue;
    const m = median(values);
    const fmt = t.fmt ?? fmtRatio;
    const range = values.length > 1 ? ` (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})` : '';
    const met = t.target === undefined ? '' : t.target.test(m) ? 'yes' : '**no**';
    rows.push(`| ${t.label} | ${fmt(m)}${range} | ${t.target?.text ?? ''} | ${met} |`);
  }
  if (rows.length > 0) {
    lines.push('', '| this package vs | median of per-round values (min–max) | target | met |', '|---|---:|---:|:---:|', ...rows);
  }
  return lines.join('\n');
}

function writeResults(file) {
  const versions = ['@nestjs/core', '@nestjs/event-emitter', '@nestjs/cqrs', '@nestjs/microservices', 'eventemitter2', 'ioredis', 'rxjs']
    .map((name) => {
      try {
        // Read from node_modules: some packages' export maps hide their package.json.
        return `${name} ${JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version}`;
      } catch {
        return `${name} (not installed)`;
      }
    })
    .join(', ');
  const own = require(join(root, 'package.json')).version;
  const cpu = cpus();
  const command = `${quick ? 'BENCH_QUICK=1 ' : ''}npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  const text = [
    '# Benchmark results (last run)',
    '',
    `- date: ${started.toISOString()} (took ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`,
    `- command: \`${command}\`${quick ? ' (quick mode: small N, one round — not comparable)' : ''}`,
    `- machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${osType()} ${osRelease()}`,
    `- node ${process.version}; nestjs-event-bus ${own}; ${versions}${redis ? `; redis-server ${redis.version}` : ''}`,
    '',
    'Every sample is a fresh Node process; rounds interleave the cases; ratios are computed within each',
    'round and the median is shown with the range over rounds.',
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
  writeFileSync(file, text);
  process.stderr.write(`\nwrote ${file}\n`);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const [key, inline] = a.slice(2).split('=');
    if (inline !== undefined) out[key] = inline;
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) out[key] = argv[++i];
    else out[key] = true;
  }
  return out;
}
