/**
 * The byte pipe under the serial driver. A factory returns an open transport, so the driver can
 * reconnect by calling it again (zwave-js's seam); serialport is the production one.
 */
import { SerialPort } from 'serialport';
import { existsSync } from 'node:fs';
import { PortError, type PortReason } from '../errors.js';
import { patchPoller } from './poller-fix.js';

export interface Transport {
  write(b: Buffer): void;
  onData(cb: (b: Buffer) => void): void;
  /** Called once when the link goes away (unplug, pty closed, error). */
  onClose(cb: (reason: string) => void): void;
  close(): Promise<void>;
}

export type TransportFactory = () => Promise<Transport>;

/** The reason an open failed, from the OS's message (serialport passes errno text through). */
export function portReason(message: string): PortReason {
  if (/lock|busy|EBUSY|temporarily unavailable/i.test(message)) return 'busy';
  if (/ENOENT|No such file/i.test(message)) return 'missing';
  if (/EACCES|EPERM|Permission denied|not permitted/i.test(message)) return 'permission';
  if (/ENOTTY|Inappropriate ioctl/i.test(message)) return 'not-serial';
  return 'open-failed';
}

/** The ports this process has open, with their byte counts: what a diagnosis of a stalled line prints. */
const openPorts = new Map<SerialPort, { path: string; handed: number; written: number; read: number }>();
export function portDebugStates(): Record<string, unknown>[] {
  return [...openPorts].map(([p, c]) => {
    const poller = (p.port as unknown as { poller?: { listenerCount(e: string): number } } | undefined)?.poller;
    return { ...c, writableLength: p.writableLength, writableNeedDrain: p.writableNeedDrain, poller: poller ? { readable: poller.listenerCount('readable'), writable: poller.listenerCount('writable') } : undefined };
  });
}

export function serialTransport(path: string, baudRate: number): TransportFactory {
  return () =>
    new Promise<Transport>((resolve, reject) => {
      if (!existsSync(path)) return reject(new PortError(path, 'missing', ''));
      const port = new SerialPort({ path, baudRate, autoOpen: false, lock: true });
      port.open((err) => {
        if (err) {
          const m = err.message;
          return reject(new PortError(path, portReason(m), m));
        }
        patchPoller(port); // else a large write can stop mid-frame for good (poller-fix.ts)
        let closed = false;
        let closeCb: ((r: string) => void) | undefined;
        const fire = (r: string) => {
          if (closed) return;
          closed = true;
          closeCb?.(r);
        };
        const count = { path, handed: 0, written: 0, read: 0 };
        openPorts.set(port, count);
        port.on('data', (d: Buffer) => (count.read += d.length));
        port.on('close', () => {
          openPorts.delete(port);
          fire('port closed');
        });
        port.on('error', (e: Error) => fire(`port error: ${e.message}`));
        resolve({
          write: (b) => {
            if (closed) return;
            count.handed += b.length;
            port.write(b, () => (count.written += b.length));
          },
          onData: (cb) => port.on('data', cb),
          onClose: (cb) => {
            closeCb = cb;
          },
          close: () =>
            new Promise<void>((res) => {
              closed = true;
              if (!port.isOpen) return res();
              port.close(() => res());
            }),
        });
      });
    });
}
