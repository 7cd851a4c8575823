// Scenario 4: channel fan-out (one channel of 5,000, and 100 channels of 50) beside broadcast-to-all, in one server.
import type { BenchConfig } from '../lib/config.ts';
import { describeCpu } from '../lib/machine.ts';
import { FanoutRig, type Row, type ScenarioResult, type StepResult } from './common.ts';

interface Reply {
  error?: { code: string; message: string };
}

const ALL = 'bench-all';

export async function runChannels(config: BenchConfig): Promise<ScenarioResult> {
  const c = config.channels;
  const rig = await FanoutRig.start('switchboard', c.subscribers, config, 'channels');
  try {
    // Probe before subscribing thousands: `unknown_type` means the server has no channels yet.
    const probe = await rig.publisher.call<Reply>('request', { type: '$subscribe', data: { channel: 'bench-probe' } });
    if (probe.error?.code === 'unknown_type') return skipped('the server answers $subscribe with unknown_type');
    if (probe.error) throw new Error(`$subscribe probe failed: ${probe.error.code}: ${probe.error.message} (server started with ${String(rig.server.ready.auth)})`);
    if (!(rig.server.ready.features as { channels?: boolean }).channels) return skipped('$subscribe works but the server has no publish()');

    const subscribed = await Promise.all(
      rig.generators.map((g, i) =>
        g.call<{ ok: number; failed: number; firstError: string }>('subscribe', { channels: [{ name: ALL }, { prefix: 'bench-', spread: c.channels }], offset: rig.offsets[i] }, 60_000),
      ),
    );
    const failed = subscribed.reduce((n, s) => n + s.failed, 0);
    if (failed > 0) throw new Error(`${failed} subscriptions failed: ${subscribed.find((s) => s.firstError)?.firstError}`);

    const measure = async (type: string, extra?: Record<string, unknown>): Promise<StepResult> => {
      await rig.step({ type, extra, rate: c.rate, durationMs: c.warmupMs, drainMs: c.drainMs });
      return rig.step({ type, extra, rate: c.rate, durationMs: c.durationMs, drainMs: c.drainMs });
    };
    const broadcast = await measure('bench.broadcast');
    const one = await measure('bench.publish', { channel: ALL });
    const spread = await measure('bench.publish', { spread: c.channels });

    const subs = c.subscribers.toLocaleString('en-US');
    const per = c.subscribers / c.channels;
    const rows: Row[] = [];
    for (const [name, step] of [[`1 channel of ${subs}`, one], [`${c.channels} channels of ${per}`, spread]] as const) {
      const scenario = `4 channels: ${name}`;
      const ratio = step.deliveriesPerSec / broadcast.deliveriesPerSec;
      rows.push(
        { scenario, figure: `deliveries/s at ${c.rate}/s`, unit: 'msg/s', switchboard: step.deliveriesPerSec, baseline: broadcast.deliveriesPerSec, compare: `${ratio.toFixed(2)}x`, target: '>= 0.9x', pass: ratio >= 0.9 && step.missing === 0 },
        { scenario, figure: 'p99 delivery latency', unit: 'ms', switchboard: step.p99Ms, baseline: broadcast.p99Ms, compare: `${(step.p99Ms / broadcast.p99Ms).toFixed(2)}x`, target: '', pass: null },
        { scenario, figure: 'losses (deliveries missing)', unit: 'count', switchboard: step.missing, baseline: broadcast.missing, compare: '', target: '0', pass: step.missing === 0 && step.closed === 0 },
      );
    }
    const line = (name: string, step: StepResult) =>
      `${name}: p50 ${step.p50Ms.toFixed(1)} ms, p99 ${step.p99Ms.toFixed(1)} ms, ${step.missing} missing, ${step.closed} closed, server CPU ${step.serverCpuPercent.toFixed(0)}% (${step.serverUsPerDelivery.toFixed(2)} µs/delivery), ${describeCpu(step.machine)}` +
      (step.other > 0 ? `, ${step.other} unexpected frames (first: ${step.otherSample})` : '');
    return {
      rows,
      details: { broadcast, oneChannel: one, spread, auth: rig.server.ready.auth },
      notes: [
        `baseline = Switchboard broadcast-to-all to the same ${subs} connections in the same server; each connection is subscribed to "${ALL}" and to one of bench-0 … bench-${c.channels - 1}; ` +
          `the ${c.channels}-channel case publishes every message to all ${c.channels} channels, so each subscriber still gets ${c.rate}/s`,
        line('broadcast', broadcast),
        line('1 channel', one),
        line(`${c.channels} channels`, spread),
        `server started with ${String(rig.server.ready.auth)}`,
      ],
    };
  } finally {
    await rig.stop();
  }
}

function skipped(why: string): ScenarioResult {
  return { rows: [], details: { skipped: why }, notes: [why], skipped: 'skipped: channels not available' };
}
