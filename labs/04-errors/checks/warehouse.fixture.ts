/**
 * Lab 04's scripted warehouse, a fixture: it lives in the learner's world
 * (scripts/check-kit/target.ts, fixture()), because the learner's server calls
 * it directly and tells its failures apart with `instanceof` on the learner's
 * own error classes. It is the learner's InMemoryWarehouse with the checks'
 * stock, and from a given call on it fails the way the check asks.
 * It imports nothing: only the learner's warehouse module, which it is given.
 */

interface Warehouse {
  stock(sku: string): Promise<number>;
  take(sku: string, quantity: number): Promise<number>;
}

/** The learner's src/warehouse.ts, as far as the fixture uses it. */
interface WarehouseModule {
  WarehouseUnavailableError: new (message: string) => Error;
  InMemoryWarehouse: new (levels: Record<string, number>, outageRate?: number) => Warehouse;
}

/** How the warehouse fails: a passing outage, or an unexpected error (a bug) with this message. */
export type Failure = "unavailable" | { typeError: string };

export class ScriptedWarehouse implements Warehouse {
  private readonly stocked: Warehouse;
  private calls = 0;
  private failFrom = Infinity;
  private failure: Failure = "unavailable";

  constructor(
    private readonly module: WarehouseModule,
    levels: Record<string, number>,
  ) {
    this.stocked = new module.InMemoryWarehouse(levels);
  }

  async stock(sku: string): Promise<number> {
    this.maybeFail();
    return this.stocked.stock(sku);
  }

  async take(sku: string, quantity: number): Promise<number> {
    this.maybeFail();
    return this.stocked.take(sku, quantity);
  }

  /** Every call from the `call`-th on (1-based, counting stock() and take()) fails with `failure`. */
  failFromCall(call: number, failure: Failure = "unavailable"): void {
    this.failFrom = call;
    this.failure = failure;
  }

  private maybeFail(): void {
    this.calls += 1;
    if (this.calls < this.failFrom) return;
    if (this.failure === "unavailable") throw new this.module.WarehouseUnavailableError("the warehouse did not answer in time");
    throw new TypeError(this.failure.typeError);
  }
}
