/**
 * One torture run: the broker as a child process on a fresh data dir, MQTT publishers and
 * subscribers with persistent sessions and Kafka producers and a consumer group, all running
 * while the broker is SIGKILLed at seeded random moments and restarted on the same data. After
 * each restart the publishers finish what they had in flight, the subscribers drain, and the
 * checks run over everything acknowledged since the start.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type BrokerProcess, startBroker } from "./BrokerProcess.js"
import { checkKafka, checkMqtt, type KafkaCheck, missingDeliveries, type MqttCheck, type Receiver, regressedOffsets } from "./checks.js"
import { isKafkaValue, KafkaLoad } from "./KafkaLoad.js"
import { type IdPolicy, MqttPublisher } from "./MqttPublisher.js"
import { MqttSubscriber } from "./MqttSubscriber.js"
import { seeded, sleep, waitUntil } from "./random.js"

export interface TortureOptions {
  readonly cycles: number
  readonly storage: "sqlite" | "segment"
  readonly seed: number
  readonly killMinMs: number
  readonly killMaxMs: number
  /** MQTT publishers: even ones QoS 2, odd ones QoS 1; id policies and protocol levels alternate. */
  readonly publishers: number
  readonly policies: ReadonlyArray<IdPolicy>
  readonly window: number
  readonly kafkaProducers: number
  /** Share of broker runs started with ROBUSTMQ_TEST_ACK_DELAY_MS (its value 1-200 ms). */
  readonly ackDelayShare: number
  /** Restart with SIGTERM instead of SIGKILL: the control run, which must find nothing. */
  readonly graceful: boolean
  /** Bound on each wait of a check (in-flight completion, drain, topic read). */
  readonly drainMs: number
  readonly log: (line: string) => void
}

export const defaults: Omit<TortureOptions, "cycles" | "storage" | "log"> = {
  seed: 1,
  killMinMs: 500,
  killMaxMs: 3000,
  publishers: 4,
  policies: ["sequence", "lowest-free"],
  window: 20,
  kafkaProducers: 2,
  ackDelayShare: 0.5,
  graceful: false,
  drainMs: 15_000
}

export interface TortureSummary {
  readonly cycles: number
  readonly mqtt: MqttCheck
  readonly kafka: KafkaCheck
  readonly sessionsLost: number
  readonly offsetsRegressed: number
  /** Messages still unacknowledged after the last restart's bounded wait. */
  readonly unacked: number
  readonly brokerCrashes: number
  /** From the kill to listening again, per cycle (ms). */
  readonly restartMs: ReadonlyArray<number>
  readonly ok: boolean
}

const topicPartitions = 2

export const runTorture = async (options: TortureOptions): Promise<TortureSummary> => {
  const { log } = options
  const rng = seeded(options.seed)
  const dataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), `robustmq-torture-${options.storage}-`))
  // Small segments, so that kills also fall on segment rolls.
  const brokerEnv = (): Record<string, string> => ({
    ROBUSTMQ_STORAGE_SEGMENT_BYTES: "262144",
    ...(rng.next() < options.ackDelayShare ? { ROBUSTMQ_TEST_ACK_DELAY_MS: String(rng.int(1, 200)) } : {}),
    // Half the runs snapshot, checkpoint and apply retention every 50-500 ms: kills land in them.
    ...(rng.next() < 0.5 ? { ROBUSTMQ_TEST_HOUSEKEEPING_MS: String(rng.int(50, 500)) } : {})
  })
  let env = brokerEnv()
  let broker: BrokerProcess = await startBroker({ storage: options.storage, dataDir, mqttPort: 0, kafkaPort: 0, env })
  const { mqttPort, kafkaPort } = broker
  let brokerCrashes = 0

  const sub = (name: string, version: 4 | 5, filter: string, qos: 1 | 2) => new MqttSubscriber({ name, port: mqttPort, version, filter, qos })
  const subscribers = {
    qos2: sub("sub-qos2", 5, "torture/#", 2),
    qos1: sub("sub-qos1", 4, "torture/#", 1),
    shared: [sub("share-a", 5, "$share/g/torture/#", 2), sub("share-b", 5, "$share/g/torture/#", 2)]
  }
  const all = [subscribers.qos2, subscribers.qos1, ...subscribers.shared]
  const receivers: Array<Receiver> = [
    { name: "sub-qos2", members: [subscribers.qos2.deliveries] },
    { name: "sub-qos1", members: [subscribers.qos1.deliveries] },
    { name: "$share/g", members: subscribers.shared.map((s) => s.deliveries) }
  ]
  const publishers = Array.from({ length: options.publishers }, (_, i) => {
    const qos = i % 2 === 0 ? 2 : 1
    const policy = options.policies[Math.floor(i / 2) % options.policies.length]!
    return new MqttPublisher({ name: `pub${i}-qos${qos}-${policy}`, port: mqttPort, version: Math.floor(i / 2) % 2 === 0 ? 5 : 4, qos, policy, window: options.window, topic: `torture/qos${qos}/p${i}` })
  })
  const kafka = new KafkaLoad(kafkaPort, "torture", options.kafkaProducers)

  const ackedPayloads = () => publishers.flatMap((p) => p.acked.map((seq) => p.payload(seq)))
  const publisherResent = () => new Set(publishers.flatMap((p) => [...p.resentPayloads]))
  /** Until every acknowledged message arrived everywhere, or nothing arrived for `quietMs`. */
  const drain = async (acked: ReadonlyArray<string>, quietMs = 3000) => {
    const deadline = Date.now() + options.drainMs
    let seen = -1
    let since = Date.now()
    let missing = missingDeliveries(acked, receivers)
    while (Date.now() < deadline && missing.length > 0) {
      const delivered = all.reduce((n, s) => n + s.delivered, 0)
      if (delivered !== seen) [seen, since] = [delivered, Date.now()]
      else if (Date.now() - since > quietMs) return
      await sleep(500)
      missing = missing.filter(([r, payload]) => !r.members.some((m) => m.has(payload)))
    }
  }
  const sessionsLost = () => [...all, ...publishers].reduce((n, c) => n + c.sessionsLost, 0)
  let mqtt: MqttCheck = checkMqtt([], [])
  let kafkaCheck: KafkaCheck = { checked: 0, lost: 0, duplicated: 0, offsetGaps: 0, examples: [] }
  let offsetsRegressed = 0
  let unacked = 0
  const restartMs: Array<number> = []
  const reported = new Set<string>()
  const status = () =>
    `mqtt checked ${mqtt.checked} lost ${mqtt.lost} by receiver ${JSON.stringify(mqtt.missing)} by publisher ${JSON.stringify(mqtt.lostBy)} qos2-dups ${mqtt.qos2Dups} qos1-dups ${mqtt.qos1Dups} (without DUP ${mqtt.qos1DupsWithoutFlag} ${JSON.stringify(mqtt.qos1DupsWithoutFlagBy)}, publisher retries ${mqtt.qos1DupsFromPublisherRetries}, kafka records ${mqtt.qos1DupsOfKafkaRecords}) sessions-lost ${sessionsLost()} unacked ${unacked} ids-reused-before-PUBREL ${all.reduce((n, s) => n + s.idsReusedBeforeRelease, 0)}` +
    ` | kafka checked ${kafkaCheck.checked} lost ${kafkaCheck.lost} dups ${kafkaCheck.duplicated} offset-gaps ${kafkaCheck.offsetGaps} offsets-regressed ${offsetsRegressed} (group committed up to ${[...kafka.committed.values()].reduce((a, b) => a + b, 0)} in ${kafka.commits} commits, consumer crashes ${kafka.consumerCrashes}) failed-sends ${kafka.failedSends}`

  try {
    await Promise.race([Promise.all(all.map((s) => s.start())), sleep(10_000).then(() => Promise.reject(new Error("subscribers got no SUBACK within 10 s")))])
    for (const p of publishers) p.start()
    await kafka.start(topicPartitions)

    for (let cycle = 1; cycle <= options.cycles; cycle++) {
      const killAfter = rng.int(options.killMinMs, options.killMaxMs)
      await sleep(killAfter)
      if (broker.crashed()) {
        brokerCrashes++
        log(`the broker exited by itself; its last output:\n${broker.tail()}`)
      }
      const killedAt = Date.now()
      await (options.graceful ? broker.stop() : broker.kill())
      const delay = env.ROBUSTMQ_TEST_ACK_DELAY_MS
      const housekeeping = env.ROBUSTMQ_TEST_HOUSEKEEPING_MS
      env = brokerEnv()
      broker = await startBroker({ storage: options.storage, dataDir, mqttPort, kafkaPort, env })

      const restartedAt = Date.now()
      restartMs.push(restartedAt - killedAt)
      // Quiesce: no new messages; what was in flight completes after the clients reconnect.
      for (const p of publishers) p.pause()
      await kafka.pause(options.drainMs)
      const kafkaPausedAt = Date.now()
      await waitUntil(() => publishers.every((p) => p.inFlight === 0), options.drainMs)
      unacked = publishers.reduce((n, p) => n + p.inFlight, 0)
      const acked = ackedPayloads()
      const quiescedAt = Date.now()
      await drain(acked)
      mqtt = checkMqtt(acked, receivers, publisherResent(), isKafkaValue)
      const drainedAt = Date.now()
      const read = await kafka.readAll(options.drainMs)
      kafkaCheck = checkKafka(kafka.acked, read.records, read.ends)
      const regressed = regressedOffsets(kafka.committed, await kafka.fetchCommitted())
      offsetsRegressed += regressed.length
      const timing = `restart ${restartedAt - killedAt} ms, kafka pause ${kafkaPausedAt - restartedAt} ms, mqtt in-flight ${quiescedAt - kafkaPausedAt} ms, drain ${drainedAt - quiescedAt} ms, kafka read ${Date.now() - drainedAt} ms`
      log(`cycle ${cycle}/${options.cycles} ${options.storage} ${options.graceful ? "stopped" : "killed"} after ${killAfter} ms${delay === undefined ? "" : ` (ack delay ${delay} ms)`}${housekeeping === undefined ? "" : ` (housekeeping every ${housekeeping} ms)`}, ${timing}: ${status()}`)
      // A few examples of what went wrong for the first time in this cycle.
      const fresh = [...mqtt.examples, ...kafkaCheck.examples].filter((e) => !reported.has(e)).slice(0, 4)
      for (const e of [...fresh, ...regressed]) log(`  ${e}`)
      for (const e of fresh) reported.add(e)

      for (const p of publishers) p.resume()
      await kafka.resume()
    }
  } finally {
    for (const p of publishers) p.pause()
    await kafka.stop()
    await Promise.all([...publishers, ...all].map((c) => c.stop()))
    if (broker.crashed()) brokerCrashes++
    await broker.stop()
    Fs.rmSync(dataDir, { recursive: true, force: true })
  }
  const ok = mqtt.lost === 0 && mqtt.qos2Dups === 0 && mqtt.qos1DupsWithoutFlag === 0 && kafkaCheck.lost === 0 && kafkaCheck.duplicated === 0 && kafkaCheck.offsetGaps === 0 && offsetsRegressed === 0 && sessionsLost() === 0 && brokerCrashes === 0
  return { cycles: options.cycles, mqtt, kafka: kafkaCheck, sessionsLost: sessionsLost(), offsetsRegressed, unacked, brokerCrashes, restartMs, ok }
}
