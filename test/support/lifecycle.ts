/**
 * Test lifecycle for broker conformance files: brokers and clients a test starts are closed
 * after it (clients first, then brokers, whose temp data dirs are removed), so each file does
 * not repeat its own afterEach bookkeeping.
 */
import { afterEach } from "vitest"
import type { TestClient } from "./clients.js"
import { RawClient } from "./RawClient.js"
import { startBroker, type TestBroker, type TestBrokerOptions } from "./TestBroker.js"

export interface Lifecycle {
  /** Starts a broker that is stopped (and its data dir removed) after the test. */
  readonly broker: (options?: TestBrokerOptions) => Promise<TestBroker>
  /** Takes charge of a broker made elsewhere, e.g. the one `restart()` returns. */
  readonly adopt: (broker: TestBroker) => TestBroker
  /** Closes a client (MQTT.js or raw) after the test. */
  readonly track: <C extends TestClient | RawClient>(client: C) => C
}

export const useBrokers = (): Lifecycle => {
  const brokers: Array<TestBroker> = []
  const clients: Array<TestClient | RawClient> = []
  afterEach(async () => {
    for (const c of clients.splice(0)) {
      if (c instanceof RawClient) await c.destroy()
      else await c.end(true)
    }
    // Every broker stops before any data dir goes: a restarted broker shares its dir with the one before it.
    const stopping = brokers.splice(0)
    for (const b of stopping) await b.stop()
    for (const b of stopping) b.cleanup()
  })
  const adopt = (broker: TestBroker) => {
    brokers.push(broker)
    return broker
  }
  return {
    broker: async (options) => adopt(await startBroker(options)),
    adopt,
    track: (client) => {
      clients.push(client)
      return client
    }
  }
}
