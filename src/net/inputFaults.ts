/**
 * Counters of hostile or broken client input, one plain number each, for logs, tests and the
 * future /metrics endpoint. Plain mutable fields: the event loop is the lock, and the listeners
 * bump them on paths that must stay cheap. Never reset by the broker.
 */
export const inputFaults = {
  /** MQTT connections closed because handling their input threw (a broker bug reached by input). */
  mqttHandlerThrew: 0,
  /** Kafka connections closed because handling their input threw. */
  kafkaHandlerThrew: 0,
  /** MQTT connections closed because a packet did not arrive whole within the timeout. */
  mqttIncompleteTimeouts: 0,
  /** MQTT connections closed (v5: 0x97) because the listener's packet budget could not hold a split packet. */
  mqttBudgetRefusals: 0,
  /** Kafka connections closed because a request did not arrive whole within the timeout. */
  kafkaIncompleteTimeouts: 0,
  /** Kafka connections refused a frame declared larger than the maximum request size. */
  kafkaOversizeFrames: 0,
  /** Times Kafka connections stopped reading because the request-bytes budget was spent. */
  kafkaBudgetPauses: 0,
  /** TLS connections that failed their handshake (not TLS, untrusted or missing client certificate). */
  tlsHandshakeFailures: 0,
  /** HTTP requests refused on a WebSocket port (no Upgrade, wrong path or subprotocol). */
  wsRefusedRequests: 0,
  /** WebSocket connections closed for a text frame (1003) or a frame over the packet size limit (1009). */
  wsBadFrames: 0
}

/** One line for a log: the error's message and where it was thrown. */
export const describeThrown = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const at = error.stack?.split("\n").find((line) => line.trimStart().startsWith("at "))
  return at === undefined ? error.message : `${error.message} (${at.trim()})`
}
