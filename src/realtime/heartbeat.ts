import type { WebSocket } from 'ws';

import type { Logger } from '../log.js';

/** Pings a socket may leave unanswered before it is terminated. */
const MAX_MISSED_PONGS = 2;

/**
 * Detects dead sockets: every `intervalMs` each socket is pinged (WebSocket ping frames, which
 * browsers and `ws` answer by themselves); a socket that missed two pongs in a row is
 * terminated, so that a vanished peer (network cut, sleeping laptop) frees its slot and its
 * presence leaves the room.
 */
export class Heartbeat {
  private readonly missed = new Map<WebSocket, { count: number; log: Logger }>();
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs: number) {
    this.timer = setInterval(() => this.beat(), intervalMs);
    this.timer.unref();
  }

  /** Starts watching a socket; it is forgotten when it closes. */
  watch(ws: WebSocket, log: Logger): void {
    const state = { count: 0, log };
    this.missed.set(ws, state);
    ws.on('pong', () => {
      state.count = 0;
    });
    ws.once('close', () => this.missed.delete(ws));
  }

  /** Stops pinging. */
  stop(): void {
    clearInterval(this.timer);
    this.missed.clear();
  }

  private beat() {
    for (const [ws, state] of this.missed) {
      if (state.count >= MAX_MISSED_PONGS) {
        state.log.info({ missedPongs: state.count }, 'dead socket terminated');
        this.missed.delete(ws);
        ws.terminate();
        continue;
      }
      state.count += 1;
      try {
        ws.ping();
      } catch {
        // Closing already; the close event forgets it.
      }
    }
  }
}
