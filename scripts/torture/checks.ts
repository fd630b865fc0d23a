/**
 * What a cycle's check computes from what the clients recorded: pure functions, no I/O.
 */
import type { Delivery } from "./MqttSubscriber.js"

/** A subscription that should get every message: one client, or all members of a shared group. */
export interface Receiver {
  readonly name: string
  readonly members: ReadonlyArray<ReadonlyMap<string, ReadonlyArray<Delivery>>>
}

export interface MqttCheck {
  /** Acknowledged messages checked. */
  readonly checked: number
  /** Acknowledged messages missing at one receiver or more. */
  readonly lost: number
  /** Missing acknowledged messages per receiver, per publisher (the payload's prefix), and a few examples. */
  readonly missing: Record<string, number>
  readonly lostBy: Record<string, number>
  readonly examples: ReadonlyArray<string>
  /** Deliveries at QoS 2 beyond the first of a payload (per receiver, summed). */
  readonly qos2Dups: number
  /** Deliveries at QoS 1 beyond the first of a payload. */
  readonly qos1Dups: number
  /** Of those, the ones without the DUP flag, in all and per receiver (both kinds of producer retry below excluded). */
  readonly qos1DupsWithoutFlag: number
  readonly qos1DupsWithoutFlagBy: Record<string, number>
  /** Repeats without DUP of payloads their publisher sent twice: new messages to the broker. */
  readonly qos1DupsFromPublisherRetries: number
  /**
   * Repeats without DUP of records a Kafka producer wrote: MQTT subscribers get a record when it
   * is appended, before it is durable; a crash can lose it, and the idempotent producer's retry
   * then appends it again, a new message to the broker (its producer state went with the record).
   */
  readonly qos1DupsOfKafkaRecords: number
}

export const checkMqtt = (
  acked: ReadonlyArray<string>,
  receivers: ReadonlyArray<Receiver>,
  publisherResent: ReadonlySet<string> = new Set(),
  fromKafka: (payload: string) => boolean = () => false
): MqttCheck => {
  let qos1DupsFromPublisherRetries = 0
  let qos1DupsOfKafkaRecords = 0
  const missing: Record<string, number> = {}
  const examples: Array<string> = []
  const lostSet = new Set<string>()
  let qos2Dups = 0
  let qos1Dups = 0
  let qos1DupsWithoutFlag = 0
  const qos1DupsWithoutFlagBy: Record<string, number> = {}
  for (const r of receivers) {
    const merged = new Map<string, Array<Delivery>>()
    for (const m of r.members)
      for (const [payload, list] of m) {
        const into = merged.get(payload)
        if (into === undefined) merged.set(payload, [...list])
        else into.push(...list)
      }
    let miss = 0
    for (const payload of acked)
      if (!merged.has(payload)) {
        miss++
        lostSet.add(payload)
        if (miss <= 20) examples.push(`${r.name} never got ${payload}`)
      }
    missing[r.name] = miss
    for (const [payload, list] of merged) {
      if (list.length < 2) continue
      const q2 = list.filter((d) => d.qos === 2).length
      if (q2 > 1) qos2Dups += q2 - 1
      const q1 = list.filter((d) => d.qos === 1)
      if (q1.length > 1) {
        qos1Dups += q1.length - 1
        const withoutFlag = q1.slice(1).filter((d) => !d.dup).length
        if (publisherResent.has(payload)) {
          qos1DupsFromPublisherRetries += withoutFlag
          continue
        }
        if (fromKafka(payload)) {
          qos1DupsOfKafkaRecords += withoutFlag
          continue
        }
        qos1DupsWithoutFlag += withoutFlag
        qos1DupsWithoutFlagBy[r.name] = (qos1DupsWithoutFlagBy[r.name] ?? 0) + withoutFlag
      }
    }
  }
  const lostBy: Record<string, number> = {}
  for (const payload of lostSet) {
    const from = payload.slice(0, payload.lastIndexOf(":"))
    lostBy[from] = (lostBy[from] ?? 0) + 1
  }
  return { checked: acked.length, lost: lostSet.size, missing, lostBy, examples, qos2Dups, qos1Dups, qos1DupsWithoutFlag, qos1DupsWithoutFlagBy, qos1DupsFromPublisherRetries, qos1DupsOfKafkaRecords }
}

/** The (receiver, payload) pairs still missing: cheap to re-filter while draining. */
export const missingDeliveries = (acked: ReadonlyArray<string>, receivers: ReadonlyArray<Receiver>): Array<readonly [Receiver, string]> =>
  receivers.flatMap((r) => acked.filter((payload) => !r.members.some((m) => m.has(payload))).map((payload) => [r, payload] as const))

export interface KafkaRecord {
  readonly partition: number
  readonly offset: number
  readonly value: string
}

export interface KafkaCheck {
  readonly checked: number
  /** Acknowledged values not in the topic. */
  readonly lost: number
  /** Copies of a value beyond the first (idempotent producers must leave none). */
  readonly duplicated: number
  /** Offsets missing from 0 up to each partition's end. */
  readonly offsetGaps: number
  readonly examples: ReadonlyArray<string>
}

export const checkKafka = (acked: ReadonlySet<string>, records: ReadonlyArray<KafkaRecord>, ends: ReadonlyMap<number, number>): KafkaCheck => {
  const counts = new Map<string, number>()
  for (const r of records) counts.set(r.value, (counts.get(r.value) ?? 0) + 1)
  const examples: Array<string> = []
  let lost = 0
  for (const v of acked)
    if (!counts.has(v)) {
      lost++
      if (examples.length < 5) examples.push(`lost ${v}`)
    }
  let duplicated = 0
  for (const [v, n] of counts)
    if (n > 1) {
      duplicated += n - 1
      if (examples.length < 10) examples.push(`${v} ${n} times`)
    }
  let offsetGaps = 0
  for (const [partition, end] of ends) {
    const seen = new Set(records.filter((r) => r.partition === partition).map((r) => r.offset))
    for (let o = 0; o < end; o++) if (!seen.has(o)) offsetGaps++
  }
  return { checked: acked.size, lost, duplicated, offsetGaps, examples }
}

/** Partitions whose committed offset went back below one the broker acknowledged. */
export const regressedOffsets = (acknowledged: ReadonlyMap<number, number>, fetched: ReadonlyMap<number, number>): Array<string> =>
  [...acknowledged].filter(([p, o]) => (fetched.get(p) ?? -1) < o).map(([p, o]) => `partition ${p}: committed ${o}, now ${fetched.get(p) ?? "none"}`)
