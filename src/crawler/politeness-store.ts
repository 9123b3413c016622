// Where per-host politeness state lives. The interface is the seam for the worker, which backs it with a
// PostgreSQL row per host so every worker process shares one budget; this in-process store serves one process.
import {
  applyOutcome,
  type HostState,
  INITIAL_HOST_STATE,
  type PolitenessConfig,
  type PolitenessOutcome,
  reserveSlot,
} from './politeness-state.ts';

/** The shared state behind Politeness. A PostgreSQL version must make reserve and record atomic per host. */
export interface HostStateStore {
  /** Waits for one of `limit` concurrent slots on the host. */
  acquire(host: string, limit: number, signal?: AbortSignal): Promise<void>;
  release(host: string): Promise<void>;
  /** Atomically claims the start slot if free (waitMs 0), else resolves with how long until it may be. */
  reserve(host: string, now: number, config: PolitenessConfig): Promise<{ waitMs: number }>;
  record(host: string, outcome: PolitenessOutcome, now: number, config: PolitenessConfig): Promise<void>;
  setFloor(host: string, floorMs: number): Promise<void>;
  get(host: string): Promise<HostState>;
}

export class InMemoryHostStateStore implements HostStateStore {
  private readonly states = new Map<string, HostState>();
  private readonly slots = new Map<string, { active: number; waiters: Array<() => void> }>();

  async acquire(host: string, limit: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const slot = this.slots.get(host) ?? { active: 0, waiters: [] };
    this.slots.set(host, slot);
    if (slot.active < limit) {
      slot.active++;
      return;
    }
    const waiters = slot.waiters;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = waiters.indexOf(wake);
        if (i >= 0) waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async release(host: string): Promise<void> {
    const slot = this.slots.get(host);
    if (!slot) return;
    // Hand the slot straight to the longest waiter (FIFO) so a newcomer cannot barge in.
    const next = slot.waiters.shift();
    if (next) next();
    else if (--slot.active <= 0) this.slots.delete(host);
  }

  async reserve(host: string, now: number, config: PolitenessConfig): Promise<{ waitMs: number }> {
    const { state, waitMs } = reserveSlot(this.current(host), now, config);
    this.states.set(host, state);
    return { waitMs };
  }

  async record(host: string, outcome: PolitenessOutcome, now: number, config: PolitenessConfig) {
    this.states.set(host, applyOutcome(this.current(host), outcome, now, config));
  }

  async setFloor(host: string, floorMs: number): Promise<void> {
    this.states.set(host, { ...this.current(host), floorMs });
  }

  async get(host: string): Promise<HostState> {
    return { ...this.current(host) };
  }

  private current(host: string): HostState {
    return this.states.get(host) ?? { ...INITIAL_HOST_STATE };
  }
}
