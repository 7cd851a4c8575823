// `npm run bench`: runs each server and the load generators in processes of their own, and prints every Switchboard
// figure beside a plain ws server measured in the same run (see docs/performance.md).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { backgroundLoad, describeCpu, type CpuUse } from './lib/machine.ts';
import { parseConfig, USAGE, type BenchConfig, type ScenarioName } from './lib/config.ts';
import { formatTable } from './lib/report.ts';
import { runChannels } from './scenarios/channels.ts';
import type { Row, ScenarioResult } from './scenarios/common.ts';
import { runFanoutLatency, runFanoutRate } from './scenarios/fanout.ts';
import { runLive } from './scenarios/live.ts';
import { runMemory } from './scenarios/memory.ts';
import { runRequests } from './scenarios/requests.ts';
import { runRooms } from './scenarios/rooms.ts';
import { runAudit } from './scenarios/audit.ts';
import { runCluster } from './scenarios/cluster.ts';

// Every loop below is bounded; this is the backstop should a child hang in a way no timeout caught.
const WATCHDOG_MS = 15 * 60_000;

function openFileLimit(): number {
  const out = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
  return out === 'unlimited' ? Infinity : Number(out) || 1024;
}

const TITLES: Record<ScenarioName, string> = {
  requests: '1  request/reply through the plug pipeline',
  'fanout-rate': '2a broadcast fan-out: highest sustained rate',
  'fanout-latency': '2b broadcast fan-out: latency and losses at a fixed rate',
  memory: '3  memory per idle connection',
  channels: '4  channel fan-out beside broadcast',
  live: '5  live data: resource fan-out and recovery',
  rooms: '6  rooms: 1,000 x 4 members, memory per room, thread vs inline, a stuck thread room',
  audit: '7  request/reply with every message audited (SQLite, PostgreSQL) vs not',
  cluster: '8  cluster: fan-out through an agent with 1 and 2 workers; two nodes over Redis',
};

function runScenario(name: ScenarioName, config: BenchConfig, nofile: number): Promise<ScenarioResult> {
  switch (name) {
    case 'requests':
      return runRequests(config);
    case 'fanout-rate':
      return runFanoutRate(config);
    case 'fanout-latency':
      return runFanoutLatency(config);
    case 'memory':
      // The server holds one descriptor per connection, plus its own handful.
      return runMemory(config, Number.isFinite(nofile) ? nofile - 100 : Infinity);
    case 'channels':
      return runChannels(config);
    case 'live':
      return runLive(config);
    case 'rooms':
      return runRooms(config);
    case 'audit':
      return runAudit(config);
    case 'cluster':
      return runCluster(config);
  }
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 2;
    return;
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return;
  }
  const config = parsed;
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${WATCHDOG_MS / 60_000} minutes; giving up`);
    process.exit(3);
  }, WATCHDOG_MS);
  watchdog.unref();

  const nofile = openFileLimit();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    openFileLimit: nofile,
    backgroundLoad: undefined as CpuUse | undefined,
  };
  const started = new Date();
  console.log(`Switchboard bench ${config.quick ? '(quick) ' : ''}— ${started.toISOString()}`);
  console.log(`${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, ulimit -n ${nofile}`);
  console.log(`scenarios: ${config.only.join(', ')}; subscriber generators: ${config.generators}`);
  // One descriptor per connection on each side: the server holds them all, each generator its share.
  const largest = Math.max(config.memory.connections, config.fanoutLatency.subscribers, config.channels.subscribers, config.live.subscribers, config.rooms.rooms * config.rooms.members);
  if (nofile < largest + 100) {
    console.log(`WARNING: ulimit -n is ${nofile}; ${largest.toLocaleString('en-US')} connections need about ${largest + 100}: run \`ulimit -n 20000\` first`);
  }
  // Two cores leave no headroom: anything else running skews every figure, so say so up front.
  const background = (machine.backgroundLoad = await backgroundLoad());
  console.log(`before the run: ${describeCpu(background)}${background && background.busyPercent > 10 ? ' — WARNING: the machine is not idle; figures will be low and noisy' : ''}\n`);

  const rows: Row[] = [];
  const scenarios: Record<string, unknown> = {};
  const notes: string[] = [];
  for (const name of config.only) {
    const t0 = performance.now();
    process.stdout.write(`▶ ${TITLES[name]} … `);
    let result: ScenarioResult;
    try {
      result = await runScenario(name, config, nofile);
    } catch (error) {
      process.exitCode = 1;
      const message = (error as Error).message.split('\n')[0] ?? String(error);
      result = { rows: [], details: { error: (error as Error).stack }, notes: [], skipped: `error: ${message}` };
    }
    const seconds = ((performance.now() - t0) / 1000).toFixed(0);
    console.log(result.skipped ? `${result.skipped} (${seconds} s)` : `done (${seconds} s)`);
    for (const note of result.notes) console.log(`   ${note}`);
    if (result.skipped) {
      rows.push({ scenario: TITLES[name].replace(/\s+/, ' '), figure: result.skipped, unit: 'count', switchboard: null, baseline: null, compare: '', target: '', pass: null });
    }
    rows.push(...result.rows);
    scenarios[name] = { ...result, seconds: Number(seconds) };
    notes.push(...result.notes.map((note) => `${name}: ${note}`));
  }

  const seconds = (Date.now() - started.getTime()) / 1000;
  console.log(`\n${formatTable(rows)}\n`);
  console.log(
    'baseline = a plain ws server in the same run (scenario 4: Switchboard broadcast-to-all; scenario 5: a Switchboard channel to the same subscribers; ' +
      'scenario 6: an inline room (thread vs inline), the undisturbed window (stuck thread room); scenario 7: the same server with auditing off; ' +
      'scenario 8: the agent with 1 worker (8a, "switchboard" = 2 workers), one node without Redis (8b); all in the same run)',
  );
  const out = new URL('../.tmp/bench-results.json', import.meta.url);
  mkdirSync(new URL('.', out), { recursive: true });
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  writeFileSync(out, `${JSON.stringify({ date: started.toISOString(), seconds, command, machine, config, rows, notes, scenarios }, null, 2)}\n`);
  console.log(`results: .tmp/bench-results.json (${seconds.toFixed(0)} s)`);
}

await main();
