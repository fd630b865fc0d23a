/**
 * Why messages were not delivered, and how long delivered ones took, as plain numbers the
 * metrics endpoint reads at scrape time. Bumped on the delivery path: one increment per drop, and
 * one counter test per delivery for the latency sample (1 in 64 deliveries is timed), so the
 * cost stays below what the load suite can measure. Process-wide, like inputFaults: the event
 * loop is the lock, and the broker never resets them.
 */
import { LatencyHistogram } from "../../../domain/metrics/LatencyHistogram.js"

export const messageDrops = {
  /** A clean session's in-memory queue was full (limits.max_queued_messages). */
  queueFull: 0,
  /** QoS 0 to a socket whose outbound buffer was over limits.max_output_buffer. */
  slowSocket: 0,
  /** The message expired (v5 Message Expiry Interval) before it could be sent [MQTT-3.3.2-5]. */
  expired: 0,
  /** An MQTT publish (or will) that matched no subscription (logged all the same when QoS > 0 or bound to Kafka). */
  noSubscribers: 0,
  /** The ACL refused the publisher this topic. */
  notAuthorized: 0,
  /** Larger than the subscriber's Maximum Packet Size (v5) [MQTT-3.1.2-25]. */
  tooLarge: 0
}

/** Publish-to-delivery time of sampled deliveries: from the PUBLISH's arrival to its write toward a subscriber. */
export const deliveryLatency = new LatencyHistogram([1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000])

/** Every SAMPLE_EVERY-th delivery is timed (a power of two: the test is one mask). */
export const SAMPLE_EVERY = 64
let deliveries = 0

/** Hot path: times one delivery in SAMPLE_EVERY; `receivedAt` is the message's arrival (epoch ms). */
export const sampleDelivery = (receivedAt: number): void => {
  if ((++deliveries & (SAMPLE_EVERY - 1)) === 0) deliveryLatency.observe(Date.now() - receivedAt)
}
