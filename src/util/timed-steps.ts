/**
 * The steps of a shutdown, each timed into `took`; `waitingOn` names the step under way, so a stop that overruns
 * its budget can say what it was waiting on. Nested steps (the engine's own) share one instance.
 */
export class TimedSteps {
  readonly took: Record<string, number> = {};
  waitingOn = 'start';

  async step(name: string, work: () => Promise<unknown>): Promise<void> {
    this.waitingOn = name;
    const t = Date.now();
    await work();
    this.took[name] = Date.now() - t;
  }
}
