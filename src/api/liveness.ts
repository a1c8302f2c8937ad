/**
 * Liveness from the event loop: a timer that should fire every `intervalMs` measures how late it fires. A loop
 * delay above `thresholdMs` (or no tick for that long) makes the process not live for `holdMs` after it, so a
 * probe that is answered just after a long stall still hears about it. Readiness is a separate question.
 */
export interface LivenessOptions {
  /** Loop delay beyond which the process is not live. Default 2,000 ms. */
  thresholdMs?: number;
  /** How often the loop is sampled. Default 100 ms. */
  intervalMs?: number;
  /** How long a stall keeps the process not live. Default 10,000 ms. */
  holdMs?: number;
}

export interface LivenessState {
  live: boolean;
  /** Delay of the last sample (ms). */
  loopDelayMs: number;
  /** Largest delay seen within the hold window (ms). */
  recentMaxDelayMs: number;
}

/** The decision, over sample times given by the caller (deterministic; `startLiveness` feeds it real time). */
export class LoopWatch {
  private readonly threshold: number;
  private readonly interval: number;
  private readonly hold: number;
  private last: number;
  private lastDelay = 0;
  private recentMax = 0;
  private stallAt = -Infinity;

  constructor(startMs: number, o: LivenessOptions = {}) {
    this.threshold = o.thresholdMs ?? 2_000;
    this.interval = o.intervalMs ?? 100;
    this.hold = o.holdMs ?? 10_000;
    this.last = startMs;
  }

  /** A sample: the timer fired at `nowMs`. Returns the delay beyond the interval. */
  tick(nowMs: number): number {
    const delay = Math.max(0, nowMs - this.last - this.interval);
    this.last = nowMs;
    this.lastDelay = delay;
    if (delay > this.threshold) this.stallAt = nowMs;
    if (nowMs - this.stallAt > this.hold) this.recentMax = delay;
    else this.recentMax = Math.max(this.recentMax, delay);
    return delay;
  }

  state(nowMs: number): LivenessState {
    const sinceTick = nowMs - this.last - this.interval;
    const live = sinceTick <= this.threshold && nowMs - this.stallAt > this.hold;
    return { live, loopDelayMs: Math.max(this.lastDelay, sinceTick, 0), recentMaxDelayMs: this.recentMax };
  }
}

export interface Liveness {
  live(): boolean;
  state(): LivenessState;
  stop(): void;
}

/** Samples this process's event loop; `onStall` hears each delay above the threshold (for a log line). */
export function startLiveness(o: LivenessOptions = {}, onStall?: (delayMs: number) => void): Liveness {
  const now = () => performance.now();
  const watch = new LoopWatch(now(), o);
  const threshold = o.thresholdMs ?? 2_000;
  const timer = setInterval(() => {
    const delay = watch.tick(now());
    if (delay > threshold) onStall?.(Math.round(delay));
  }, o.intervalMs ?? 100);
  timer.unref();
  return {
    live: () => watch.state(now()).live,
    state: () => watch.state(now()),
    stop: () => clearInterval(timer),
  };
}
