/**
 * Lab 06's dependency (the job database), as the learner's server gets it:
 * constructed in the process that runs the learner's code, so that the
 * server can ask isUp() synchronously and its onChange listeners run at once.
 * The checks take it down and bring it back through its stand-in
 * (checks/health.ts). Like every fixture, it imports nothing of the checks.
 */
export class SimulatedDependency {
  private listeners: Array<(up: boolean) => void> = [];
  /** Resolves the next time the server asks isUp(): RunJob asks it when a call arrives. */
  private asked: Array<() => void> = [];

  constructor(private up = true) {}

  isUp(): boolean {
    for (const resolve of this.asked.splice(0)) resolve();
    return this.up;
  }

  onChange(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Takes the dependency down (false) or brings it back (true); the server's listeners run before it returns. */
  set(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    for (const listener of this.listeners) listener(up);
  }

  /** Waits until the server next calls isUp(), or `ms` at most. */
  nextQuestion(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.asked.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
