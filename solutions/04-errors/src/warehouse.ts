/**
 * Lab 04, the warehouse: the downstream system that holds the stock levels.
 * It is written for you; you do not need to change it.
 *
 * Your server calls it through the Warehouse interface, and each way a call
 * can fail means something different to the client:
 *   OutOfStockError            the request cannot be met as things stand: FAILED_PRECONDITION
 *   WarehouseUnavailableError  a passing outage, worth retrying: UNAVAILABLE
 *   any other error            a bug: INTERNAL, logged in full, never shown to the client
 */
export interface Warehouse {
  /** Units in stock for `sku` (0 for a SKU the warehouse has never stocked). */
  stock(sku: string): Promise<number>;
  /** Takes `quantity` units out of stock; resolves with the units left. */
  take(sku: string, quantity: number): Promise<number>;
}

/** The warehouse cannot be reached right now; the same call may work in a moment. */
export class WarehouseUnavailableError extends Error {
  override name = "WarehouseUnavailableError";
}

/** There are fewer units in stock than were asked for. */
export class OutOfStockError extends Error {
  override name = "OutOfStockError";
  constructor(
    readonly sku: string,
    readonly available: number,
    readonly requested: number,
  ) {
    super(`${requested} of ${sku} requested, ${available} in stock`);
  }
}

/**
 * The warehouse of `npm run lab 04 -- serve`: stock levels in memory, and an
 * outage on a share of the calls (`outageRate`, 0 to 1) so that you can watch
 * a client retry.
 */
export class InMemoryWarehouse implements Warehouse {
  private readonly levels: Map<string, number>;

  constructor(
    levels: Record<string, number>,
    private readonly outageRate = 0,
  ) {
    this.levels = new Map(Object.entries(levels));
  }

  async stock(sku: string): Promise<number> {
    this.maybeFail();
    return this.levels.get(sku) ?? 0;
  }

  async take(sku: string, quantity: number): Promise<number> {
    this.maybeFail();
    const available = this.levels.get(sku) ?? 0;
    if (quantity > available) throw new OutOfStockError(sku, available, quantity);
    this.levels.set(sku, available - quantity);
    return available - quantity;
  }

  private maybeFail(): void {
    if (Math.random() < this.outageRate) throw new WarehouseUnavailableError("the warehouse did not answer in time");
  }
}
