/**
 * A CI-sized torture run per storage kind (scripts/torture, `npm run torture` for long runs):
 * the real broker executable SIGKILLed 3 times under MQTT QoS 1/2 and idempotent Kafka load,
 * with publishers reusing packet ids both in sequence and lowest-free-first. Nothing
 * acknowledged may be lost, QoS 2 and idempotent Kafka producers may not duplicate.
 */
import { describe, expect, it } from "vitest"
import { defaults, runTorture } from "../../scripts/torture/torture.js"

describe.each(["sqlite", "segment"] as const)("torture on %s storage", (storage) => {
  it("loses and duplicates nothing acknowledged across 3 SIGKILLs", { timeout: 120_000 }, async () => {
    const lines: Array<string> = []
    const summary = await runTorture({ ...defaults, cycles: 3, storage, seed: 8, killMinMs: 500, killMaxMs: 1500, drainMs: 8_000, log: (line) => lines.push(line) })
    const { mqtt, kafka } = summary
    expect(mqtt.checked).toBeGreaterThan(0)
    expect(kafka.checked).toBeGreaterThan(0)
    // One object, so that a failure shows every figure at once; the cycle lines say where.
    expect(
      {
        mqttLost: mqtt.lost,
        qos2Duplicates: mqtt.qos2Dups,
        // A repeat the broker sends must carry DUP; the producers' own retries are counted apart.
        qos1RepeatsWithoutDup: mqtt.qos1DupsWithoutFlag,
        sessionsLost: summary.sessionsLost,
        kafkaLost: kafka.lost,
        kafkaDuplicates: kafka.duplicated,
        kafkaOffsetGaps: kafka.offsetGaps,
        committedOffsetsRegressed: summary.offsetsRegressed,
        brokerCrashes: summary.brokerCrashes
      },
      lines.join("\n")
    ).toEqual({ mqttLost: 0, qos2Duplicates: 0, qos1RepeatsWithoutDup: 0, sessionsLost: 0, kafkaLost: 0, kafkaDuplicates: 0, kafkaOffsetGaps: 0, committedOffsetsRegressed: 0, brokerCrashes: 0 })
  })
})
