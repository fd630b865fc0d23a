/**
 * One record of the data-plane log, shaped like a Kafka record so that MQTT publishes and Kafka
 * produce requests share one storage format (Kafka RecordBatch v2 on disk).
 * For MQTT publishes the key is the MQTT topic (UTF-8) and MQTT 5 properties travel as headers.
 */
export interface RecordHeader {
  readonly key: string
  readonly value: Uint8Array | null
  /**
   * The header as a record carries it (key length varint, UTF-8 key, value length varint,
   * value), on headers shared by many records (see `sharedHeader` in RecordBatch.ts), so that
   * encoding a record copies one block instead of encoding the header again.
   */
  readonly encoded?: Uint8Array
}

export interface LogRecord {
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: ReadonlyArray<RecordHeader>
  /** Milliseconds since the epoch (CreateTime). */
  readonly timestamp: number
}

/** A record read back from the log, with its position. */
export interface StoredRecord extends LogRecord {
  readonly offset: number
}
