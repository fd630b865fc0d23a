/**
 * The progress journal (__mqtt_progress) through real clients: persistent sessions write it,
 * clean ones do not, and retention drops what no session's checkpoint needs any more, so an
 * offline session never holds it back.
 */
import { Effect } from "effect"
import { applyRetention } from "../../src/mqtt/engine/retention.js"
import { describe, expect, it } from "vitest"
import { PROGRESS_TP } from "../../src/mqtt/engine/ProgressJournal.js"
import { connect, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"

const { broker, track } = useBrokers()

describe("progress journal", () => {
  it("is written for persistent sessions only, and trimmed once their checkpoints cover it", async () => {
    const b = await broker({ storage: "sqlite" })
    const log = b.server.engine.log
    const clean = track(await connect(b.url, { clientId: "pj-clean", clean: true }))
    await clean.client.subscribeAsync("pj/#", { qos: 1 })
    const pub = track(await connect(b.url, { clientId: "pj-pub" }))
    for (let i = 0; i < 20; i++) await pub.client.publishAsync("pj/x", `c${i}`, { qos: 1 })
    await clean.waitFor(20)
    expect(log.unsafeEndOffset(PROGRESS_TP)).toBe(0)

    // A persistent session that goes away early must not hold the journal back.
    const away = track(await connect(b.url, { clientId: "pj-away", clean: false }))
    await away.client.subscribeAsync("elsewhere/#", { qos: 1 })
    await away.end()
    const kept = track(await connect(b.url, { clientId: "pj-kept", clean: false }))
    await kept.client.subscribeAsync("pj/#", { qos: 1 })
    for (let i = 0; i < 50; i++) await pub.client.publishAsync("pj/x", `k${i}`, { qos: 1 })
    await kept.waitFor(50)
    await kept.end() // disconnect: a checkpoint covering every op so far
    await waitUntil(() => b.server.engine.sessions.get("pj-kept")?.conn === null, 5000, () => "the broker to see the disconnect")
    // Retention relies only on checkpoints already in the event store: wait for that one's append.
    const session = b.server.engine.sessions.get("pj-kept")!
    await waitUntil(() => session.durableCheckpoint === session.state.checkpoint, 5000, () => "the disconnect checkpoint to be stored")
    const end = log.unsafeEndOffset(PROGRESS_TP)
    expect(end).toBeGreaterThan(0)
    await Effect.runPromise(Effect.zipRight(log.flush, applyRetention(b.server.engine)))
    // Everything below the last batch is gone (storage keeps a log's last batch: it carries the end offset).
    const [last] = await Effect.runPromise(log.readBatches(PROGRESS_TP, end - 1, 1))
    expect(await Effect.runPromise(log.startOffset(PROGRESS_TP))).toBe(last!.baseOffset)
    expect(last!.baseOffset).toBeGreaterThan(end / 2)
  })
})
