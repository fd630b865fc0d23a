/**
 * A CI-sized run of the live fuzzer (`npm run fuzz` runs the long one; figures in
 * docs/reliability.md): 20,000 mutated inputs per listener against the real broker in a child
 * process, with slowloris senders and bystander clients. Zero crashes, zero handler throws, every
 * slow sender closed by the broker in time, bystanders served throughout, a clean shutdown.
 */
import { describe, expect, it } from "vitest"
import { runFuzz } from "./runFuzz.js"

describe("live fuzzer, CI-sized", () => {
  it("20,000 inputs per listener: no crash, bystanders served, slow senders closed, bounded memory", async () => {
    const report = await runFuzz({ inputs: 20_000, seconds: 90, concurrency: 32, slowloris: 2, incompleteTimeoutMs: 1_500, seed: 20261206 })
    const summary = JSON.stringify({ ...report, output: report.output.slice(-2000) })
    expect(report.crashes, summary).toBe(0)
    expect(report.thrownLines, summary).toEqual([])
    expect(report.bystanderFailures, summary).toEqual([])
    expect(report.mqtt.inputs, summary).toBeGreaterThanOrEqual(20_000)
    expect(report.kafka.inputs, summary).toBeGreaterThanOrEqual(20_000)
    expect(report.bystander.mqttTicks, summary).toBeGreaterThan(0)
    expect(report.bystander.kafkaRecords, summary).toBeGreaterThan(0)
    expect(report.slowloris.overdue, summary).toBe(0)
    expect(report.slowloris.closedByBroker, summary).toBeGreaterThan(0)
    expect(report.shutdown, summary).toMatch(/^clean/)
    // The broker starts near 140 MiB; hostile input must not balloon it.
    expect(report.peakRssKiB, summary).toBeLessThan(512 * 1024)
  }, 180_000)
})
