/**
 * What a classic consumer group's member was assigned, read from the assignment bytes the
 * leader sent in SyncGroup (ConsumerProtocolAssignment: int16 version, then an int32-counted
 * array of { int16-length topic name, int32-counted array of int32 partitions }; the user data
 * after it is not needed). For the admin API: undefined when the bytes do not parse (a group of
 * another protocol type, e.g. Kafka Connect's).
 */

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** topic -> assigned partitions (ascending), or undefined when `bytes` is not a consumer assignment. Empty bytes: nothing assigned yet. */
export const assignedPartitions = (bytes: Uint8Array): Readonly<Record<string, ReadonlyArray<number>>> | undefined => {
  const out: Record<string, Array<number>> = {}
  if (bytes.length === 0) return out
  if (bytes.length < 6) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getInt16(0) < 0) return undefined
  const topics = view.getInt32(2)
  if (topics < 0 || topics > bytes.length) return undefined
  let at = 6
  for (let i = 0; i < topics; i++) {
    if (at + 2 > bytes.length) return undefined
    const length = view.getInt16(at)
    at += 2
    if (length < 0 || at + length + 4 > bytes.length) return undefined
    let topic: string
    try {
      topic = utf8.decode(bytes.subarray(at, at + length))
    } catch {
      return undefined
    }
    at += length
    const count = view.getInt32(at)
    at += 4
    if (count < 0 || at + 4 * count > bytes.length) return undefined
    const partitions = out[topic] ?? (out[topic] = [])
    for (let p = 0; p < count; p++, at += 4) partitions.push(view.getInt32(at))
    partitions.sort((a, b) => a - b)
  }
  return out
}
