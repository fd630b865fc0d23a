/**
 * Kafka's default partitioner for keyed records: murmur2 of the key bytes, made positive, modulo
 * the partition count (Java client `Utils.murmur2` / `toPositive`, kafkajs's default
 * partitioner). The broker uses it for MQTT publishes, keyed by the MQTT topic, so a Kafka
 * producer that sends the same key lands in the same partition and per-topic order holds for
 * readers of both.
 */
const SEED = 0x9747b28c
const M = 0x5bd1e995

export const murmur2 = (data: Uint8Array): number => {
  const length = data.length
  let h = SEED ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const tail = length & 3
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2]! << 16
    if (tail >= 2) h ^= data[whole + 1]! << 8
    h ^= data[whole]!
    h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/** Partition of a keyed record among `partitions`, as Kafka clients compute it. */
export const partitionForKey = (key: Uint8Array, partitions: number): number =>
  partitions <= 1 ? 0 : (murmur2(key) & 0x7fffffff) % partitions
