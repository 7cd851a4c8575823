// A minimal WebSocket client for load generation: frames parsed in place from one shared read buffer and no
// object per message, so a generator process can absorb far more deliveries than a `ws` client could.
import { connect, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');

// Every socket reads into this one buffer: each chunk is consumed synchronously before libuv reads again.
const readBuffer = Buffer.allocUnsafe(256 * 1024);

// Masking keys come from a pool refilled in bulk; a crypto call per frame would dominate small sends.
let maskPool = randomBytes(64 * 1024);
let maskAt = 0;

/** The clock every process of the bench shares: CLOCK_MONOTONIC in microseconds. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** What a generator does with the frames of its sockets. */
export interface LiteHandlers {
  /** A text or binary frame; its payload is `buffer[start, end)`, valid only during the call. `atUs` is when it was read. */
  message(socket: LiteSocket, buffer: Buffer, start: number, end: number, atUs: number): void;
  close(socket: LiteSocket): void;
}

/** Where and how to connect. */
export interface LiteOptions {
  host: string;
  port: number;
  path: string;
  /** Resolve `open` only after the server's first frame (Switchboard's `$welcome`), which is then swallowed. */
  awaitGreeting: boolean;
  timeoutMs: number;
}

/**
 * One client connection.
 *
 * @example
 * const socket = await LiteSocket.open(0, { host: '127.0.0.1', port, path: '/ws', awaitGreeting: true, timeoutMs: 10_000 }, handlers);
 * socket.send('{"type":"bench.echo","id":1,"data":{}}');
 */
export class LiteSocket {
  /** The generator's index for this connection (its slot in per-connection counters). */
  readonly index: number;
  readonly socket: Socket;
  closed = false;
  private readonly handlers: LiteHandlers;
  private upgraded = false;
  private greeted: boolean;
  private pending: Buffer | undefined;
  private readonly accept: string;
  private onOpen: ((error?: Error) => void) | undefined;

  private constructor(index: number, options: LiteOptions, handlers: LiteHandlers, onOpen: (error?: Error) => void) {
    this.index = index;
    this.handlers = handlers;
    this.greeted = !options.awaitGreeting;
    this.onOpen = onOpen;
    const key = randomBytes(16).toString('base64');
    this.accept = createHash('sha1').update(key + GUID).digest('base64');
    this.socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (nread: number) => {
          this.read(nread);
          return true;
        },
      },
    });
    this.socket.on('connect', () => {
      this.socket.write(
        `GET ${options.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    this.socket.on('error', (error) => this.settle(error));
    this.socket.on('close', () => {
      this.closed = true;
      this.settle(new Error('closed before the handshake completed'));
      this.handlers.close(this);
    });
  }

  /** Connects and completes the handshake (and the greeting, when asked). */
  static open(index: number, options: LiteOptions, handlers: LiteHandlers): Promise<LiteSocket> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.settle(new Error(`no handshake within ${options.timeoutMs} ms`));
        socket.destroy();
      }, options.timeoutMs);
      const socket: LiteSocket = new LiteSocket(index, options, handlers, (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(socket);
      });
    });
  }

  private settle(error?: Error): void {
    const onOpen = this.onOpen;
    this.onOpen = undefined;
    onOpen?.(error);
  }

  private read(nread: number): void {
    const atUs = nowUs();
    let data = readBuffer;
    let end = nread;
    if (this.pending) {
      data = Buffer.concat([this.pending, readBuffer.subarray(0, nread)]);
      end = data.length;
      this.pending = undefined;
    }
    let at = 0;
    if (!this.upgraded) {
      const headerEnd = data.subarray(0, end).indexOf(HEADER_END);
      if (headerEnd < 0) {
        this.pending = Buffer.from(data.subarray(0, end));
        return;
      }
      const head = data.toString('latin1', 0, headerEnd);
      const accepted = /^HTTP\/1\.1 101/.test(head) && head.toLowerCase().includes(`sec-websocket-accept: ${this.accept.toLowerCase()}`);
      if (!accepted) {
        this.settle(new Error(`handshake refused: ${head.split('\r\n', 1)[0]}`));
        this.destroy();
        return;
      }
      this.upgraded = true;
      if (this.greeted) this.settle();
      at = headerEnd + HEADER_END.length;
    }
    at = this.frames(data, at, end, atUs);
    if (at < end) this.pending = Buffer.from(data.subarray(at, end));
  }

  /** Dispatches every complete frame in `data[at, end)`; returns where the incomplete rest starts. */
  private frames(data: Buffer, at: number, end: number, atUs: number): number {
    while (end - at >= 2) {
      const opcode = data[at]! & 0x0f;
      let length = data[at + 1]! & 0x7f;
      let header = 2;
      if (length === 126) {
        if (end - at < 4) break;
        length = data.readUInt16BE(at + 2);
        header = 4;
      } else if (length === 127) {
        if (end - at < 10) break;
        length = data.readUInt32BE(at + 2) * 2 ** 32 + data.readUInt32BE(at + 6);
        header = 10;
      }
      if (data[at + 1]! & 0x80) {
        // Servers never mask (RFC 6455 §5.1); a masked frame means the stream is not what we think.
        this.destroy();
        return end;
      }
      if (end - at < header + length) break;
      const start = at + header;
      at = start + length;
      if (opcode === 1 || opcode === 2) {
        if (!this.greeted) {
          this.greeted = true;
          this.settle();
        } else {
          this.handlers.message(this, data, start, at, atUs);
        }
      } else if (opcode === 9) {
        this.writeFrame(0x0a, data.subarray(start, at));
      } else if (opcode === 8) {
        this.destroy();
        return end;
      }
    }
    return at;
  }

  /** Sends one text frame. */
  send(text: string): void {
    this.writeFrame(0x01, Buffer.from(text));
  }

  /** Sends several text frames in one write. */
  sendMany(texts: string[]): void {
    this.socket.cork();
    for (const text of texts) this.send(text);
    this.socket.uncork();
  }

  private writeFrame(opcode: number, payload: Buffer): void {
    if (this.closed) return;
    const length = payload.length;
    const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(header + 4 + length);
    frame[0] = 0x80 | opcode;
    if (header === 2) frame[1] = 0x80 | length;
    else if (header === 4) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      frame.writeUInt32BE(length >>> 0, 6);
    }
    if (maskAt + 4 > maskPool.length) {
      maskPool = randomBytes(64 * 1024);
      maskAt = 0;
    }
    const maskStart = header;
    maskPool.copy(frame, maskStart, maskAt, maskAt + 4);
    maskAt += 4;
    const payloadStart = header + 4;
    for (let i = 0; i < length; i++) frame[payloadStart + i] = payload[i]! ^ frame[maskStart + (i & 3)]!;
    this.socket.write(frame);
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
