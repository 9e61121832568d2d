import { WebSocket } from 'ws';

import type { Limits } from '../config.js';
import { WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** Longest close reason a WebSocket close frame carries, in bytes (RFC 6455 §5.5). */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * How long a closed socket may take to finish the closing handshake before it is destroyed: a
 * peer that stopped reading never answers the close frame.
 */
const CLOSE_GRACE_MS = 2_000;

/** The same for a slow consumer, whose queue is already too long to wait for. */
const SLOW_CLOSE_GRACE_MS = 100;

/** Options of {@link ClientSocket}. */
export interface ClientSocketOptions {
  readonly ws: WebSocket;
  readonly logger: Logger;
  readonly limits: Pick<Limits, 'maxMessagesPerSecond' | 'maxOutboundBufferBytes'>;
  /** Metrics label of the protocol spoken. */
  readonly protocol: 'liveblocks' | 'yjs';
  readonly metrics?: Metrics;
}

/**
 * One client's socket with the limits that protect the node from it: sends check the outbound
 * buffer first (a slow consumer is closed, not allowed to grow memory), incoming messages are
 * counted against a per-second budget (reading pauses past it), and closes carry a catalogue
 * code and a bounded reason.
 */
export class ClientSocket {
  /** Logger of the connection; sessions rebind it with room and user once known. */
  log: Logger;
  private windowStartedAt = 0;
  private windowMessages = 0;
  private closing = false;
  /** The protocol's frame counter, labelled once: sends are the hottest path. */
  private readonly framesSent: { inc(): void } | undefined;

  constructor(private readonly options: ClientSocketOptions) {
    this.log = options.logger;
    this.framesSent = options.metrics?.framesSent.labels({ protocol: options.protocol });
  }

  get ws(): WebSocket {
    return this.options.ws;
  }

  /** True once a close has begun, by either side. */
  get isClosed(): boolean {
    return this.closing || this.options.ws.readyState !== WebSocket.OPEN;
  }

  /**
   * Sends a frame unless the socket is closing. Closes the socket with SLOW_CONSUMER instead
   * when the frame would push the outbound buffer past the limit. `onWritten` is called once
   * the frame has left the process (with an error if it never will), and only when this
   * returns true. Bytes go as a binary frame unless `text` says they are UTF-8 text: a text
   * frame shared by many sockets is encoded once rather than once per socket.
   */
  send(
    data: string | Uint8Array,
    onWritten?: (error?: Error) => void,
    options: { text?: boolean } = {},
  ): boolean {
    if (this.isClosed) return false;

    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    const buffered = this.options.ws.bufferedAmount;
    // An empty queue takes any one frame, so that a document larger than the limit still loads.
    if (buffered > 0 && buffered + bytes > this.options.limits.maxOutboundBufferBytes) {
      this.log.warn(
        { buffered, bytes, limit: this.options.limits.maxOutboundBufferBytes },
        'slow consumer disconnected',
      );
      this.close(new WeftError('SLOW_CONSUMER'), { terminate: true });
      return false;
    }
    this.options.ws.send(data, { binary: typeof data !== 'string' && !options.text }, onWritten);
    this.framesSent?.inc();
    return true;
  }

  /**
   * Counts one incoming message against the per-second budget. Past the budget the socket stops
   * reading until the window ends: TCP then slows the sender, nothing it sent is lost, and a
   * burst (a y-websocket client typing, a reconnect resending) is only delayed, never refused.
   * A few messages already read from the socket may still arrive while paused; they are admitted.
   */
  admit(): void {
    const now = Date.now();
    if (now - this.windowStartedAt >= 1_000) {
      this.windowStartedAt = now;
      this.windowMessages = 0;
    }
    this.windowMessages += 1;
    if (this.windowMessages <= this.options.limits.maxMessagesPerSecond) return;
    if (this.options.ws.isPaused || this.isClosed) return;

    this.log.debug({ limit: this.options.limits.maxMessagesPerSecond }, 'message rate limited');
    this.options.ws.pause();
    setTimeout(
      () => {
        if (!this.isClosed) this.options.ws.resume();
      },
      this.windowStartedAt + 1_000 - now,
    ).unref();
  }

  /**
   * Closes with the error's close code and message. `terminate` drops whatever is still
   * queued (a slow consumer would otherwise hold it until the grace period ends).
   */
  close(error: WeftError, options: { terminate?: boolean } = {}): void {
    if (this.closing) return;
    this.closing = true;

    const ws = this.options.ws;
    if (ws.readyState === WebSocket.CLOSED) return;
    this.log.debug({ code: error.code, closeCode: error.closeCode }, 'closing connection');
    this.options.metrics?.closes.inc({ code: String(error.closeCode) });
    ws.close(error.closeCode, closeReason(error.message));
    // The close frame queues behind unsent data; a peer that reads nothing would never see it.
    setTimeout(
      () => ws.terminate(),
      options.terminate ? SLOW_CLOSE_GRACE_MS : CLOSE_GRACE_MS,
    ).unref();
  }
}

/** The message cut to the longest reason a close frame carries, on a character boundary. */
export function closeReason(message: string): string {
  if (Buffer.byteLength(message) <= MAX_CLOSE_REASON_BYTES) return message;

  let reason = message;
  while (Buffer.byteLength(`${reason}…`) > MAX_CLOSE_REASON_BYTES) {
    reason = reason.slice(0, -1);
  }
  return `${reason}…`;
}
