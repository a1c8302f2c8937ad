import { describe, expect, it } from 'vitest';
import { LoopWatch, startLiveness } from './liveness.ts';

describe('liveness from the event loop (issue 12)', () => {
  it('is live while the timer fires on time, not live after a delay above the threshold, live again after the hold', () => {
    const w = new LoopWatch(0, { thresholdMs: 1000, intervalMs: 100, holdMs: 5000 });
    for (let t = 100; t <= 1000; t += 100) w.tick(t);
    expect(w.state(1000)).toMatchObject({ live: true, loopDelayMs: 0 });
    w.tick(3000); // fired 1.9 s late: the loop was blocked
    expect(w.state(3000)).toMatchObject({ live: false, recentMaxDelayMs: 1900 });
    for (let t = 3100; t <= 8000; t += 100) w.tick(t);
    expect(w.state(8000).live).toBe(false);
    for (let t = 8100; t <= 8200; t += 100) w.tick(t);
    expect(w.state(8200).live).toBe(true);
  });

  it('is not live when the timer has not fired for longer than the threshold (the loop is blocked right now)', () => {
    const w = new LoopWatch(0, { thresholdMs: 1000, intervalMs: 100 });
    w.tick(100);
    expect(w.state(900).live).toBe(true);
    expect(w.state(1300).live).toBe(false);
  });

  it('reports a real blocked loop as not live and names the delay', async () => {
    const stalls: number[] = [];
    const l = startLiveness({ thresholdMs: 300, intervalMs: 20, holdMs: 60_000 }, (d) => stalls.push(d));
    await new Promise((r) => setTimeout(r, 100));
    expect(l.live()).toBe(true);
    const until = performance.now() + 800;
    while (performance.now() < until); // block the loop
    expect(l.live()).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect(l.live()).toBe(false);
    expect(stalls.length).toBeGreaterThan(0);
    expect(stalls[0]).toBeGreaterThan(300);
    l.stop();
  });
});
