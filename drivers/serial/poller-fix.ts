/**
 * A fix for @serialport/bindings-cpp's Linux poller (13.0.0), applied to every port we open.
 *
 * The binding waits for a busy fd with one uv_poll handle shared by the reader and the writer.
 * Its native `poll(events)` records the union of what is waited for but starts the handle with
 * the new events only (`uv_poll_start(handle, events)`), so when the reader re-arms "readable"
 * after a read while a write is waiting for room, the handle stops watching "writable": the write
 * is never resumed until some other byte arrives. Over a pty (or a USB-serial adapter whose buffer
 * fills) a large write then stops mid-frame for good whenever the other side goes quiet - which it
 * does, since it waits for the rest of that frame (the intermittent MVM hang over `rram emulate
 * --pty`, issue 28). The fix starts the handle with every event someone still waits for.
 */
import type { SerialPort } from 'serialport';

const READABLE = 0b0001;
const WRITABLE = 0b0010;
const DISCONNECT = 0b0100;

interface BindingPoller {
  poll(flags?: number): void;
  listenerCount(event: string): number;
  __rramUnion?: true;
}

/** The events a poller's listeners still wait for, with `flags` added. */
export function pendingEvents(p: Pick<BindingPoller, 'listenerCount'>, flags: number): number {
  let f = flags;
  if (p.listenerCount('readable')) f |= READABLE;
  if (p.listenerCount('writable')) f |= WRITABLE;
  if (p.listenerCount('disconnect')) f |= DISCONNECT;
  return f;
}

/** Makes an open port's poller watch every pending event (idempotent; a no-op off Linux/macOS). */
export function patchPoller(port: SerialPort): void {
  const poller = (port.port as unknown as { poller?: BindingPoller } | undefined)?.poller;
  if (!poller || poller.__rramUnion) return;
  const poll = poller.poll.bind(poller);
  poller.poll = (flags = 0) => poll(pendingEvents(poller, flags));
  poller.__rramUnion = true;
}
