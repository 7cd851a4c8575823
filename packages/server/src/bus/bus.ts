// The bus contract: publish out, receive in. Fan-out across processes and machines plugs in here.
import type { Envelope } from '@switchboard/protocol';

/** Topic every node listens on: messages for every connection. */
export const BROADCAST_TOPIC = 'all';

/** The bus topic that carries a channel's messages. */
export function channelTopic(channel: string): string {
  return `channel:${channel}`;
}

/** One message on the bus: an envelope for every local recipient of `topic`. */
export interface BusMessage {
  topic: string;
  envelope: Envelope;
  /** A connection id that must not receive it (broadcast to all but the sender). */
  except?: string;
}

/** Receives the messages of the topics it was subscribed to. */
export type BusListener = (message: BusMessage) => void;

/**
 * A bus carries fan-out messages between the nodes of a cluster. Every node subscribes to the topics
 * its connections need and delivers what it receives to them, encoding each message once per codec.
 * Messages published to one topic arrive in the order they were published.
 *
 * The in-memory bus is the reference implementation; every bus must pass `test/bus-contract.ts`.
 */
export interface Bus {
  publish(message: BusMessage): void;
  /** Starts receiving a topic. Subscribing twice with one listener is a no-op. */
  subscribe(topic: string, listener: BusListener): void;
  unsubscribe(topic: string, listener: BusListener): void;
  close(): Promise<void>;
}
