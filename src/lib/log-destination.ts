import { write, writeSync } from 'node:fs';

/**
 * Where log lines go: a file descriptor (stdout by default), written asynchronously on libuv's
 * thread pool, one write at a time, from a bounded queue. Logging never blocks the event loop
 * and never throws: when the descriptor cannot take more (a full disk, a closed pipe, a reader
 * that stopped reading), lines are dropped and counted, and a line saying how many were lost is
 * written once writing works again. pino's default destination retries a failing write in a
 * loop on the event loop's thread instead, which froze the process on a full disk.
 */
export class LogDestination {
  private queue: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  /** Dropped since the last notice about it. */
  private dropped = 0;
  private totalDropped = 0;

  constructor(
    private readonly fd = 1,
    private readonly maxQueuedBytes = 4 * 1024 * 1024,
  ) {}

  /** Lines lost so far (for tests and metrics). */
  get droppedLines(): number {
    return this.totalDropped;
  }

  write(line: string): boolean {
    if (this.queuedBytes + line.length > this.maxQueuedBytes) {
      this.dropped++;
      this.totalDropped++;
      return true;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    // Lines logged in one turn of the event loop go out in one write, started on the next turn.
    if (!this.writing && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (!this.writing && this.queue.length > 0) this.flush();
      });
    }
    return true;
  }

  private scheduled = false;
  /** The chunk being written on the thread pool, and how much of it is written. */
  private inFlight: { chunk: Buffer; from: number } | undefined;
  /** Set by flushSync: the process is exiting, the asynchronous writer stops. */
  private abandoned = false;

  private flush(): void {
    const lines = this.queue.length;
    const chunk = Buffer.from(this.queue.join(''));
    this.queue = [];
    this.queuedBytes = 0;
    this.writing = true;
    this.writeAll(chunk, lines, 0);
  }

  private writeAll(chunk: Buffer, lines: number, from: number): void {
    this.inFlight = { chunk, from };
    write(this.fd, chunk, from, chunk.length - from, null, (err, written) => {
      if (this.abandoned) return;
      this.inFlight = undefined;
      if (err) {
        this.dropped += lines;
        this.totalDropped += lines;
      } else if (from + written < chunk.length) {
        return this.writeAll(chunk, lines, from + written);
      } else if (this.dropped > 0) {
        const notice = JSON.stringify({ level: 40, time: Date.now(), msg: `logging: ${this.dropped} log lines were dropped (the log destination refused writes)` }) + '\n';
        this.dropped = 0;
        this.queue.unshift(notice);
        this.queuedBytes += notice.length;
      }
      this.writing = false;
      if (this.queue.length > 0 && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          if (!this.writing && this.queue.length > 0) this.flush();
        });
      }
    });
  }

  /**
   * At exit: what is queued, written synchronously, after the rest of a write still in progress
   * on the thread pool (which is then abandoned: its line may appear twice, but none is lost or
   * reordered). Errors are ignored: the destination refuses, there is nothing more to do.
   */
  flushSync(): void {
    const pending = this.inFlight ? [this.inFlight.chunk.subarray(this.inFlight.from)] : [];
    this.abandoned = true;
    if (pending.length === 0 && this.queue.length === 0) return;
    try {
      writeSync(this.fd, Buffer.concat([...pending, Buffer.from(this.queue.join(''))]));
    } catch {
      this.totalDropped += this.queue.length;
    }
    this.queue = [];
    this.queuedBytes = 0;
  }
}
