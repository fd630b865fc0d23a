import { describe, expect, it } from "vitest"
import { parsePrometheus, sum } from "./promText.js"

const TEXT = `# HELP robustmq_mqtt_connections MQTT clients connected
# TYPE robustmq_mqtt_connections gauge
robustmq_mqtt_connections{listener="tcp",protocol="5.0"} 3
robustmq_mqtt_connections{listener="ws",protocol="3.1.1"} 2
robustmq_mqtt_messages_received_total 1234
robustmq_kafka_requests_total{api="Produce"} 10
robustmq_kafka_requests_total{api="Fetch"} 7
weird_label{path="a\\"b\\\\c",x="1"} 1.5e3
process_start_time_seconds 1765000000 1765000000123
`

describe("parsePrometheus", () => {
  it("reads samples with their labels and sums them by label", () => {
    const scrape = parsePrometheus(TEXT)
    expect(sum(scrape, "robustmq_mqtt_connections")).toBe(5)
    expect(sum(scrape, "robustmq_mqtt_connections", { listener: "ws" })).toBe(2)
    expect(sum(scrape, "robustmq_mqtt_messages_received_total")).toBe(1234)
    expect(sum(scrape, "robustmq_kafka_requests_total", { api: "Fetch" })).toBe(7)
    expect(sum(scrape, "robustmq_kafka_requests_total", { api: "Metadata" })).toBe(0)
  })

  it("unescapes label values, reads exponents, ignores timestamps, and says when a metric is absent", () => {
    const scrape = parsePrometheus(TEXT)
    expect(scrape.get("weird_label")).toEqual([{ labels: { path: 'a"b\\c', x: "1" }, value: 1500 }])
    expect(sum(scrape, "process_start_time_seconds")).toBe(1765000000)
    expect(sum(scrape, "no_such_metric")).toBeUndefined()
  })
})
