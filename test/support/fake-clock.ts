// A clock a test moves by hand, for code that takes `now` and `sleep` (Politeness): time passes only when the
// test says, so gaps are exact and a loaded machine cannot make a test flaky or slow.

interface Timer {
  at: number;
  resolve: () => void;
}

/** Resolves after every microtask queued so far (and those they queue) has run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export class FakeClock {
  private t: number;
  private timers: Timer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  readonly now = (): number => this.t;

  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: Timer = { at: this.t + Math.max(0, ms), resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((x) => x !== timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });

  /** Moves time on by `ms` at once, as synchronous work that takes that long would (timers fire on step()). */
  advance(ms: number): void {
    this.t += ms;
  }

  /** Lets pending work run, then moves to the next timer and fires every timer due. False when none is left. */
  async step(): Promise<boolean> {
    await settle();
    if (this.timers.length === 0) return false;
    this.t = Math.max(this.t, Math.min(...this.timers.map((x) => x.at)));
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const timer of due) timer.resolve();
    await settle();
    return true;
  }

  /** Advances time, timer by timer, until `work` settles; fails if it waits on something other than the clock. */
  async run<T>(work: Promise<T>): Promise<T> {
    let done = false;
    const watched = work.finally(() => {
      done = true;
    });
    while (!done) {
      if (!(await this.step()) && !done) {
        await settle();
        if (!done) throw new Error('the work waits on something other than the fake clock');
      }
    }
    return watched;
  }
}
