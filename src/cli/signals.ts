// SIGINT/SIGTERM as a promise, installed before any slow start-up step so Ctrl-C during start-up still
// shuts down cleanly (the embedded database included). A second signal gets Node's default: exit at once.
export interface StopSignal {
  /** Resolves with the signal's name. */
  readonly requested: Promise<string>;
  /** The signal received so far, if any. */
  readonly received: string | undefined;
  /** Aborted when a signal arrives, for code that takes an AbortSignal. */
  readonly signal: AbortSignal;
}

export function listenForStop(signals: ReadonlyArray<NodeJS.Signals> = ['SIGINT', 'SIGTERM']): StopSignal {
  const controller = new AbortController();
  let received: string | undefined;
  let resolve: (signal: string) => void = () => {};
  const requested = new Promise<string>((r) => {
    resolve = r;
  });
  for (const name of signals) {
    process.once(name, () => {
      if (received) return;
      received = name;
      controller.abort(name);
      resolve(name);
    });
  }
  return {
    requested,
    get received() {
      return received;
    },
    signal: controller.signal,
  };
}
