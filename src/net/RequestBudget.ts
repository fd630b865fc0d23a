/**
 * A listener's budget for request bytes held across all its connections (Kafka's
 * `queued.max.request.bytes`, as its MemoryPool does it): a connection reserves a request's
 * declared size as soon as its length prefix is read and gives it back once the request is whole
 * (or the connection closes). On Kafka a connection that cannot reserve stops reading and waits;
 * freed bytes wake waiters in arrival order (MQTT refuses the packet instead, see FrameReader). When nothing at all is reserved a reservation always
 * succeeds, so one request larger than the budget (up to MAX_REQUEST_BYTES) still gets through
 * and the listener can never wait on itself. Plain synchronous code; never allocates per request.
 */
import { inputFaults } from "./inputFaults.js"

/** A connection waiting for budget: `retry` reserves (and resumes reading) or returns false. */
export interface BudgetWaiter {
  retryReserve(): boolean
}

export class RequestBudget {
  /** Bytes reserved by incomplete requests, across connections. */
  used = 0
  private readonly waiting = new Set<BudgetWaiter>()

  constructor(readonly max: number) {}

  tryReserve(bytes: number): boolean {
    if (this.used > 0 && this.used + bytes > this.max) return false
    this.used += bytes
    return true
  }

  release(bytes: number): void {
    this.used -= bytes
    if (this.waiting.size > 0) this.wake()
  }

  /** `waiter` could not reserve: it is retried, in order, whenever bytes are released. */
  wait(waiter: BudgetWaiter): void {
    if (this.waiting.has(waiter)) return
    inputFaults.kafkaBudgetPauses++
    this.waiting.add(waiter)
  }

  /** The waiter's connection closed. */
  cancel(waiter: BudgetWaiter): void {
    this.waiting.delete(waiter)
  }

  get waiters(): number {
    return this.waiting.size
  }

  private wake(): void {
    for (const waiter of this.waiting) {
      if (this.used >= this.max) return
      if (waiter.retryReserve()) this.waiting.delete(waiter)
    }
  }
}
