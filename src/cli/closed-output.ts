/**
 * `rram ... | head`: once the reader of stdout (or stderr) has gone, further output is dropped
 * quietly instead of an EPIPE stack trace (issue 25). The command itself goes on: a run piped into
 * `head` still finishes and stores everything it measures (stopping it halfway would leave an
 * interrupted run for a closed terminal).
 */
export function dropOutputWhenClosed(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED' && e.code !== 'EIO') throw e;
    // Every later write succeeds without going anywhere (console.* write through this too).
    stream.write = ((_chunk: unknown, enc?: unknown, cb?: unknown) => {
      const done = typeof enc === 'function' ? enc : cb;
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
      return true;
    }) as typeof stream.write;
  });
}
