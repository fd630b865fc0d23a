/**
 * The Kafka test helpers themselves: kcat runs, reports exit codes and is killed on timeout;
 * kafkajs clients give up quickly on a port where nothing listens; waitFor is bounded.
 * (The helpers' happy paths against the broker are exercised by the Kafka server tests.)
 */
import { describe, expect, it } from "@effect/vitest"
import { freePort } from "./freePort.js"
import { hasKcat, kafkaClient, kcat, kcatBroker, useKafkaClients, waitFor } from "./kafka.js"

describe("kcat", () => {
  it.skipIf(!hasKcat())("runs kcat -V", async () => {
    const out = await kcat(["-V"])
    expect(out.code).toBe(0)
    expect(out.stdout).toMatch(/librdkafka/)
    expect(out.stdout).toMatch(/zstd/) // built with every codec the broker must read
  })

  it.skipIf(!hasKcat())("reports a failing exit code with its stderr", async () => {
    const out = await kcat(["-Z", "--no-such-option"])
    expect(out.code).not.toBe(0)
    expect(out.stderr.length).toBeGreaterThan(0)
  })

  it.skipIf(!hasKcat())("kills kcat and rejects with its stderr on timeout", async () => {
    const port = await freePort()
    const started = Date.now()
    await expect(kcat(["-C", ...kcatBroker(port), "-t", "t"], { timeoutMs: 700 })).rejects.toThrow(/timed out after 700 ms/)
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})

describe("kafkajs client", () => {
  const clients = useKafkaClients()

  it("fails fast when nothing listens on the port", async () => {
    const kafka = kafkaClient(await freePort())
    const started = Date.now()
    await expect(clients.producer(kafka)).rejects.toThrow()
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})

describe("waitFor", () => {
  it("resolves once the condition holds, sync or async", async () => {
    let n = 0
    const timer = setInterval(() => n++, 5)
    try {
      await waitFor(() => n >= 3, 2_000)
      await waitFor(async () => n >= 5, 2_000)
    } finally {
      clearInterval(timer)
    }
    expect(n).toBeGreaterThanOrEqual(5)
  })

  it("rejects after the timeout with the description", async () => {
    await expect(waitFor(() => false, 50, () => "the impossible")).rejects.toThrow(/50 ms waiting for the impossible/)
  })
})
