// The presence of a cluster on one machine: every worker's calls go to one presence store the agent holds.
import type { Member, PresenceChange } from '@switchboard/protocol';
import type { PresenceMember, PresenceStore } from '../presence/presence-store.ts';
import type { IpcLink } from './ipc-link.ts';

/**
 * A worker's presence store in a cluster run by an agent: each call goes to the `MemoryPresence` the agent
 * holds, so an identity is one member across every worker (it joins with its first connection anywhere and
 * leaves with its last). When a worker dies the agent removes its node (`removeNode`) and publishes the
 * resulting leaves to the channels' subscribers, so no member of a dead worker stays listed.
 *
 * @example
 * const presence = new IpcPresence(link);
 * const diffs = await presence.add('presence-lobby', { connectionId, node, identityId: 'ada', info: {} });
 */
export class IpcPresence implements PresenceStore {
  private readonly link: IpcLink;
  private closed = false;

  constructor(link: IpcLink) {
    this.link = link;
  }

  add(channel: string, member: PresenceMember): Promise<PresenceChange[]> {
    return this.call('add', [channel, member]);
  }

  remove(channel: string, connectionId: string): Promise<PresenceChange[]> {
    return this.call('remove', [channel, connectionId]);
  }

  list(channel: string): Promise<Member[]> {
    return this.call('list', [channel]);
  }

  removeNode(node: string): Promise<PresenceChange[]> {
    return this.call('removeNode', [node]);
  }

  channels(): Promise<string[]> {
    return this.call('channels', []);
  }

  /** Stops this worker's use of the store (the agent's members stay); waits for the calls in flight. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.link.idle();
  }

  private call<T>(method: string, args: unknown[]): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`IpcPresence is closed: cannot call ${method}`));
    return this.link.call<T>('presence', method, args);
  }
}
