import net from 'node:net';
import tls from 'node:tls';

/**
 * An independent MLLP test client on a raw socket (deliberately not the gateway's framer): writes bytes as
 * given and collects ACK frames by scanning for VT … FS CR itself.
 */
export class RawMllpClient {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  readonly acks: string[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const start = this.buf.indexOf(0x0b);
        const end = this.buf.indexOf(Buffer.from([0x1c, 0x0d]));
        if (start < 0 || end < 0) break;
        this.acks.push(this.buf.subarray(start + 1, end).toString('latin1'));
        this.buf = this.buf.subarray(end + 2);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** `localAddress` picks the source address (any of 127.0.0.0/8 on loopback: many peers on one machine). */
  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawMllpClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
      s.once('connect', () => resolve(new RawMllpClient(s)));
      s.once('error', reject);
    });
  }

  static connectTls(port: number, options: tls.ConnectionOptions): Promise<RawMllpClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', ...options });
      s.once('secureConnect', () => resolve(new RawMllpClient(s)));
      s.once('error', reject);
    });
  }

  static frame(msg: Buffer | string): Buffer {
    const body = typeof msg === 'string' ? Buffer.from(msg, 'latin1') : msg;
    return Buffer.concat([Buffer.from([0x0b]), body, Buffer.from([0x1c, 0x0d])]);
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Waits until `count` ACKs in total have arrived; rejects if the connection closes first. */
  async waitForAcks(count: number): Promise<string[]> {
    while (this.acks.length < count) {
      if (this.closed) throw new Error(`connection closed after ${this.acks.length} of ${count} ACKs`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.acks.slice(0, count);
  }

  async send(msg: Buffer | string): Promise<string> {
    const n = this.acks.length + 1;
    await this.write(RawMllpClient.frame(msg));
    return (await this.waitForAcks(n))[n - 1]!;
  }

  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  close(): void {
    this.socket.end();
  }
}

export function msa(ack: string): string[] {
  return (ack.split('\r').find((l) => l.startsWith('MSA')) ?? '').split('|');
}
