/**
 * The lines a check feeds the learner's chat(), as the user would type them:
 * an AsyncIterable that lives beside the learner's code (its `for await`
 * pulls from it directly), given lines one at a time by the check, which
 * reads back how many chat() has taken.
 *
 * A check fixture: it runs in the learner's world, so it imports nothing but
 * Node's own modules.
 */
export class Lines implements AsyncIterable<string> {
  /** How many lines chat() has taken so far. */
  taken = 0;
  private queued: string[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(lines: string[] = []) {
    this.queued.push(...lines);
  }

  push(...lines: string[]): void {
    this.queued.push(...lines);
    this.wake?.();
  }

  /** `times` copies of `line`, made here rather than sent one by one. */
  repeat(line: string, times: number): void {
    this.push(...Array.from({ length: times }, () => line));
  }

  /** The end of input, as when the user presses Ctrl-D. */
  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      const line = this.queued.shift();
      if (line !== undefined) {
        this.taken++;
        yield line;
      } else if (this.ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    }
  }
}
