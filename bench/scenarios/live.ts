// Scenario 5: live data. (a) Operations on one resource fanned out to 1,000 subscribers, beside a channel of the same
// subscribers with frames of the same size, in the same server: the highest sustained rate, and latency at a fixed
// rate. (b) Recovery: a client that missed 10,000 operations comes back and resubscribes from its position.
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { BenchConfig } from '../lib/config.ts';
import { Child } from '../lib/ipc.ts';
import { CpuWindow, describeCpu, type CpuUse } from '../lib/machine.ts';
import { FanoutRig, median, startServer, stopAll, type Row, type ScenarioResult, type Server, type StepResult } from './common.ts';
import { describe, DISTURBED_PERCENT, searchMaxRates, type SearchResult, type Step, type StepMessage } from './fanout.ts';

const RESOURCE = 'items';
const CHANNEL = 'bench-live';
/** `,"pad":""`: what the pad field adds to a channel message besides its characters. */
const PAD_OVERHEAD = 10;

interface Reply {
  error?: { code: string; message: string };
}

interface RequestAll {
  ok: number;
  failed: number;
  codes: Record<string, number>;
  firstError: string;
  replyBytes: number;
}

const LIVE: StepMessage = { type: 'bench.live' };
const channelMessage = (pad: string): StepMessage => ({ type: 'bench.publish', extra: pad ? { channel: CHANNEL, pad } : { channel: CHANNEL } });

/** The size of a `$live.subscribe` snapshot reply each rig's subscribers got. */
const snapshotBytes = new WeakMap<FanoutRig, number>();

/** The server has no live data: the scenario is skipped. */
class Unavailable extends Error {}

/** A server with the records seeded, and subscribers that each follow the whole resource and the channel. */
async function startLiveRig(config: BenchConfig, label: string): Promise<FanoutRig> {
  const c = config.live;
  const rig = await FanoutRig.start('switchboard', c.subscribers, config, label);
  try {
    // Probe before subscribing a thousand: `unknown_type` means the server has no live data.
    const probe = await rig.publisher.call<Reply>('request', { type: '$live.subscribe', data: { resource: 'bench-no-such-resource' } });
    if (probe.error?.code === 'unknown_type') throw new Unavailable('the server answers $live.subscribe with unknown_type');
    if (probe.error?.code !== 'unknown_resource') throw new Error(`$live.subscribe probe: expected unknown_resource, got ${JSON.stringify(probe)}`);
    await rig.server.child.call('live.seed', { records: c.records });
    const live = await Promise.all(rig.generators.map((g) => g.call<RequestAll>('request.all', { type: '$live.subscribe', data: { resource: RESOURCE } }, 60_000)));
    const liveFailed = live.reduce((n, s) => n + s.failed, 0);
    if (liveFailed > 0) throw new Error(`${liveFailed} $live.subscribe failed: ${live.find((s) => s.firstError)?.firstError}`);
    snapshotBytes.set(rig, live[0]?.replyBytes ?? 0);
    const channel = await Promise.all(
      rig.generators.map((g, i) => g.call<{ failed: number; firstError: string }>('subscribe', { channels: [{ name: CHANNEL }], offset: rig.offsets[i] }, 60_000)),
    );
    const channelFailed = channel.reduce((n, s) => n + s.failed, 0);
    if (channelFailed > 0) throw new Error(`${channelFailed} $subscribe failed: ${channel.find((s) => s.firstError)?.firstError}`);
    return rig;
  } catch (error) {
    await rig.stop();
    throw error;
  }
}

interface FixedRate {
  live: StepResult;
  channel: StepResult;
  /** The channel messages' padding, in characters, so that their frames are as large as the operations'. */
  pad: number;
  /** Frame sizes before padding: a `$live.op` and a `$message` carrying the same tick. */
  liveFrameBytes: number;
  unpaddedChannelFrameBytes: number;
  snapshotReplyBytes: number;
}

async function atFixedRate(config: BenchConfig): Promise<FixedRate> {
  const c = config.live;
  const live = await startLiveRig(config, 'live');
  try {
    const step = (message: StepMessage, durationMs: number) => live.step({ ...message, rate: c.rate, durationMs, drainMs: c.drainMs });
    // Warm-ups, which also give the frame sizes: the channel messages are then padded to the operations' size.
    const liveWarm = await step(LIVE, c.warmupMs);
    const unpadded = await step(channelMessage(''), Math.min(500, c.warmupMs));
    const pad = Math.max(0, Math.round(liveWarm.meanFrameBytes - unpadded.meanFrameBytes) - PAD_OVERHEAD);
    const channel = channelMessage('x'.repeat(pad));
    await step(channel, c.warmupMs);
    const liveStep = await step(LIVE, c.durationMs);
    const channelStep = await step(channel, c.durationMs);
    return {
      live: liveStep,
      channel: channelStep,
      pad,
      liveFrameBytes: liveWarm.meanFrameBytes,
      unpaddedChannelFrameBytes: unpadded.meanFrameBytes,
      snapshotReplyBytes: snapshotBytes.get(live) ?? 0,
    };
  } finally {
    await live.stop();
  }
}

/** One recovery, as the recovering client measured it. */
interface Round {
  recovered: boolean;
  operations: number;
  records: number;
  replyBytes: number;
  replyMs: number;
  applyMs: number;
  totalMs: number;
  /** How long the server took to apply the missed operations (not part of the recovery). */
  writeMs: number;
  /** The `$live.subscribe` handler on the server (reading the history, building the operations; not encoding them). */
  handlerMs: number;
  warmup: boolean;
  /** The machine while the client recovered; `otherPercent` above DISTURBED_PERCENT: disturbed, not counted. */
  machine: CpuUse | undefined;
  disturbed: boolean;
}

interface HandlerStats {
  count: number;
  meanMs: number;
}

/** Total time the server's `$live.subscribe` handler has run so far, from its per-type metrics. */
async function subscribeHandlerTotalMs(server: Server): Promise<number> {
  const stats = await server.child.call<{ metrics: Record<string, { handler?: HandlerStats } | undefined> }>('stats');
  const handler = stats.metrics['$live.subscribe']?.handler;
  return handler ? handler.count * handler.meanMs : NaN;
}

async function waitForNoConnections(server: Server, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const stats = await server.child.call<{ connections: number }>('stats');
    if (stats.connections === 0) return;
    await sleep(10);
  }
  throw new Error(`the recovering client's connection was still open ${timeoutMs} ms after it went away`);
}

async function recovery(config: BenchConfig): Promise<{ rounds: Round[]; equal: boolean; records: number }> {
  const c = config.live;
  const r = c.recover;
  let server: Server | undefined;
  let client: Child | undefined;
  try {
    // A server of its own, with the default history (10,000 operations kept, 10,000 replayed at most).
    server = await startServer('switchboard', config, 'live-recover');
    await server.child.call('live.seed', { records: c.records });
    client = await Child.start('recovering client', 'load/live-client.ts');
    await client.call('open', { port: server.port, path: server.path, resource: RESOURCE });
    const rounds: Round[] = [];
    let seq = 1;
    // Round 0 warms up both sides (JIT, buffers) and is not counted; a disturbed round is made up for, within bounds.
    for (let i = 0, counted = 0; counted < r.rounds && i <= 2 * r.rounds; i++) {
      await client.call('away', {});
      await waitForNoConnections(server);
      const written = await server.child.call<{ ms: number }>('live.write', { count: r.operations, seqStart: seq }, 120_000);
      seq += r.operations;
      const handlerBefore = await subscribeHandlerTotalMs(server);
      const window = CpuWindow.start([server.child.pid, client.pid]);
      const back = await client.call<Omit<Round, 'writeMs' | 'handlerMs' | 'warmup' | 'machine' | 'disturbed'>>('back', { timeoutMs: r.timeoutMs }, r.timeoutMs + 5_000);
      const machine = window.end();
      const handlerAfter = await subscribeHandlerTotalMs(server);
      const disturbed = (machine?.otherPercent ?? 0) > DISTURBED_PERCENT;
      const warmup = i === 0;
      if (!warmup && !disturbed) counted++;
      rounds.push({ ...back, writeMs: written.ms, handlerMs: handlerAfter - handlerBefore, warmup, machine, disturbed });
    }
    // The copy must equal the server's records after all that.
    const held = await server.child.call<{ key: string; value: unknown }[]>('live.records');
    const copy = await client.call<{ key: string; value: unknown }[]>('records');
    const byKey = (list: { key: string; value: unknown }[]) => Object.fromEntries(list.map((record) => [record.key, record.value]));
    return { rounds, equal: isDeepStrictEqual(byKey(held), byKey(copy)), records: held.length };
  } finally {
    await stopAll(server, [client]);
  }
}

function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}x` : '';
}

export async function runLive(config: BenchConfig): Promise<ScenarioResult> {
  const c = config.live;
  let fixed: FixedRate;
  try {
    fixed = await atFixedRate(config);
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    return { rows: [], details: { skipped: error.message }, notes: [error.message], skipped: 'skipped: live data not available' };
  }
  const channel = channelMessage('x'.repeat(fixed.pad));
  // Both searches in one rig, a step of each in turn: a burst of other work lands on both.
  const [channelRate, liveRate] = (await searchMaxRates(() => startLiveRig(config, 'live-rate'), c, [channel, LIVE])) as [SearchResult, SearchResult];
  const recovered = await recovery(config);

  const subs = c.subscribers.toLocaleString('en-US');
  const liveBest = liveRate.best?.deliveriesPerSec ?? 0;
  const channelBest = channelRate.best?.deliveriesPerSec ?? 0;
  const sustainedRatio = channelBest > 0 ? liveBest / channelBest : 0;
  const lf = fixed.live;
  const cf = fixed.channel;
  const fan = `5 live: 1 resource → ${subs}`;
  // A best step, or a failed step the search went by (not run again), that other processes disturbed says more about
  // them than about either server.
  const disturbed = (step: Step | undefined) => (step?.machine?.otherPercent ?? 0) > DISTURBED_PERCENT;
  const searchDisturbed = [liveRate, channelRate].some((search) => disturbed(search.best) || search.steps.some((step) => !step.keptUp && !step.retried && disturbed(step)));
  const rows: Row[] = [
    {
      scenario: fan,
      figure: `operations/s delivered (x ${subs}), sustained${searchDisturbed ? ' (disturbed)' : ''}`,
      unit: 'msg/s',
      switchboard: liveBest,
      baseline: channelBest,
      compare: ratio(liveBest, channelBest),
      target: '>= 0.8x',
      pass: sustainedRatio >= 0.8,
    },
    { scenario: fan, figure: 'p99 delay at that rate', unit: 'ms', switchboard: liveRate.best?.p99Ms ?? null, baseline: channelRate.best?.p99Ms ?? null, compare: '', target: '', pass: null },
    { scenario: fan, figure: `deliveries/s at ${c.rate} operations/s`, unit: 'msg/s', switchboard: lf.deliveriesPerSec, baseline: cf.deliveriesPerSec, compare: ratio(lf.deliveriesPerSec, cf.deliveriesPerSec), target: '', pass: null },
    { scenario: fan, figure: `p50 delay at ${c.rate}/s`, unit: 'ms', switchboard: lf.p50Ms, baseline: cf.p50Ms, compare: ratio(lf.p50Ms, cf.p50Ms), target: '', pass: null },
    { scenario: fan, figure: `p99 delay at ${c.rate}/s`, unit: 'ms', switchboard: lf.p99Ms, baseline: cf.p99Ms, compare: ratio(lf.p99Ms, cf.p99Ms), target: '', pass: null },
    { scenario: fan, figure: 'losses (deliveries missing)', unit: 'count', switchboard: lf.missing, baseline: cf.missing, compare: '', target: '0', pass: lf.missing === 0 && lf.closed === 0 && lf.duplicates === 0 },
  ];

  // Undisturbed rounds count; should there be none, all of them (the notes say which were disturbed).
  const undisturbed = recovered.rounds.filter((round) => !round.warmup && !round.disturbed);
  const measured = undisturbed.length > 0 ? undisturbed : recovered.rounds.filter((round) => !round.warmup);
  const ops = c.recover.operations.toLocaleString('en-US');
  const valid = measured.every((round) => round.recovered && round.operations === c.recover.operations) && recovered.equal;
  const rec = `5 live: recover ${ops} missed`;
  const total = median(measured.map((round) => round.totalMs));
  rows.push(
    { scenario: rec, figure: `subscribe → applied, median of ${measured.length}${undisturbed.length === 0 ? ' (all disturbed)' : ''}`, unit: 'ms', switchboard: total, baseline: null, compare: '', target: '< 100 ms', pass: valid && total < 100 },
    { scenario: rec, figure: 'send → reply received, median', unit: 'ms', switchboard: median(measured.map((round) => round.replyMs)), baseline: null, compare: '', target: '', pass: null },
    { scenario: rec, figure: 'parse + apply in the SDK, median', unit: 'ms', switchboard: median(measured.map((round) => round.applyMs)), baseline: null, compare: '', target: '', pass: null },
    { scenario: rec, figure: 'reply size', unit: 'bytes', switchboard: median(measured.map((round) => round.replyBytes)), baseline: null, compare: '', target: '', pass: null },
  );

  const line = (name: string, step: StepResult) =>
    `${name} at ${c.rate}/s: ${step.sent} messages, ${step.received.toLocaleString('en-US')} of ${step.expected.toLocaleString('en-US')} delivered, p50 ${step.p50Ms.toFixed(1)} ms, p99 ${step.p99Ms.toFixed(1)} ms, max ${step.maxMs.toFixed(0)} ms, ` +
    `${step.closed} closed, server CPU ${step.serverCpuPercent.toFixed(0)}% (${step.serverUsPerDelivery.toFixed(2)} µs/delivery), ${describeCpu(step.machine)}` +
    (step.other > 0 ? `, ${step.other} unexpected frames (first: ${step.otherSample})` : '') +
    (Object.keys(step.refused).length > 0 ? `, refused: ${JSON.stringify(step.refused)}` : '');
  const describeRound = (round: Round) =>
    `${round.warmup ? 'warm-up' : round.disturbed ? 'DISTURBED (not counted)' : 'round'}: ${round.totalMs.toFixed(1)} ms (reply in ${round.replyMs.toFixed(1)} ms, of which the server handler ${round.handlerMs.toFixed(1)} ms; SDK parse + apply ${round.applyMs.toFixed(1)} ms), ` +
    `${round.operations.toLocaleString('en-US')} operations, ${round.replyBytes.toLocaleString('en-US')} bytes${round.recovered ? '' : ', NOT recovered (a snapshot)'}; ` +
    `the server applied them in ${round.writeMs.toFixed(0)} ms; ${describeCpu(round.machine)}`;
  const notes = [
    `baseline = a channel ("${CHANNEL}") with the same ${subs} subscribers, in the same server: every subscriber follows all of "${RESOURCE}" (${c.records} records) and the channel; ` +
      `each operation is a bench.live message whose handler patches /tick of one record through ctx.resources (the channel: bench.publish → ctx.server.publish). ` +
      `Frames: $live.op ${fixed.liveFrameBytes.toFixed(0)} bytes, $message ${fixed.unpaddedChannelFrameBytes.toFixed(0)} bytes, padded by ${fixed.pad} characters to ${cf.meanFrameBytes.toFixed(0)}; ` +
      `the snapshot reply to $live.subscribe is ${fixed.snapshotReplyBytes.toLocaleString('en-US')} bytes`,
    line('live', lf),
    line('channel', cf),
    `sustained rate: steps of ${c.stepMs / 1000} s from ${c.startRate}/s, doubling then ${c.refineSteps} bisection steps, a channel step and a live step in turn in one server; ` +
      `"keeps up" as in 2a (all delivered within ${c.drainMs / 1000} s, p99 <= ${c.maxP99Ms} ms); a failed step during which other processes took more than ${DISTURBED_PERCENT}% of a core is tried once more`,
    ...channelRate.steps.map((s: Step) => `channel ${describe(s, c.maxP99Ms)}`),
    ...liveRate.steps.map((s: Step) => `live    ${describe(s, c.maxP99Ms)}`),
    `recovery: one @switchboard/client live copy of all of "${RESOURCE}"; its link drops, the server applies ${ops} patches, the client reconnects and resubscribes with since; ` +
      `timed from sending $live.subscribe to the copy's "synced" event; ${measured.length} rounds after one warm-up ` +
      `(a round during which other processes took more than ${DISTURBED_PERCENT}% of a core is not counted, and made up for); ` +
      `the copy ${recovered.equal ? 'equals' : 'DOES NOT equal'} the server's ${recovered.records} records at the end`,
    ...recovered.rounds.map(describeRound),
  ];
  if (!valid) notes.push('WARNING: a recovery round did not replay every missed operation, or the copy differs from the server');
  if (searchDisturbed) notes.push(`WARNING: other processes took over ${DISTURBED_PERCENT}% of a core during a step that decided a rate search; the sustained figures and their ratio are disturbed`);
  if (undisturbed.length === 0) notes.push('WARNING: other processes were busy during every recovery round; the recovery figures are disturbed');
  if (Math.max(lf.machine?.otherPercent ?? 0, cf.machine?.otherPercent ?? 0) > DISTURBED_PERCENT) {
    notes.push(`WARNING: other processes took over ${DISTURBED_PERCENT}% of a core during the ${c.rate}/s windows; those figures are disturbed`);
  }
  return { rows, details: { fixed, channelRate, liveRate, recovery: recovered }, notes };
}
