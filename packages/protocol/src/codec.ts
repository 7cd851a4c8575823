// Codecs turn envelopes into frames and back; JSON is protocol v1's default, a binary one plugs in later.
import type { Envelope } from './envelope.ts';

/**
 * A codec, negotiated per connection through the WebSocket subprotocol `switchboard.v1.<name>`.
 *
 * @example
 * const frame = jsonCodec.encode({ type: 'chat.message', data: { text: 'hi' } });
 */
export interface Codec {
  /** Short name, used in the subprotocol: `switchboard.v1.json`. */
  readonly name: string;
  /** Whether frames are binary (opcode 2) rather than text (opcode 1). */
  readonly binary: boolean;
  encode(envelope: Envelope): string | Uint8Array;
  /** Throws CodecError when the frame is not valid for this codec. */
  decode(frame: string | Uint8Array, isBinary: boolean): unknown;
}

/** Thrown by `Codec.decode` for a frame it cannot read. */
export class CodecError extends Error {
  override name = 'CodecError';
}

const PROTOCOL_PREFIX = 'switchboard.v1.';

/** The WebSocket subprotocol that selects a codec. */
export function subprotocolFor(codec: Pick<Codec, 'name'>): string {
  return PROTOCOL_PREFIX + codec.name;
}

/** The codec name a subprotocol asks for, or undefined when it is not one of ours. */
export function codecNameOf(subprotocol: string): string | undefined {
  return subprotocol.startsWith(PROTOCOL_PREFIX) ? subprotocol.slice(PROTOCOL_PREFIX.length) : undefined;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Protocol v1's JSON codec: one JSON object per text frame. */
export const jsonCodec: Codec = {
  name: 'json',
  binary: false,
  encode(envelope) {
    return JSON.stringify(envelope);
  },
  decode(frame, isBinary) {
    if (isBinary) throw new CodecError('binary frames are not accepted by the json codec; send text frames');
    let text: string;
    try {
      text = typeof frame === 'string' ? frame : textDecoder.decode(frame);
    } catch {
      throw new CodecError('the frame is not valid UTF-8');
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new CodecError(`malformed JSON: ${(error as Error).message}`);
    }
  },
};
