/** MQTT topics (retained and subscriber counts) and Kafka topics (create, delete, configs). */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { ApiError, request } from "../api.js"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"
import { since, valueOf } from "../format.js"

interface MqttTopic {
  readonly topic: string
  readonly subscribers: number
  readonly retained: boolean
}

interface KafkaTopic {
  readonly name: string
  readonly partitions: number
  readonly internal: boolean
  readonly mqtt: boolean
  readonly recordsWritten: number
  readonly createdAt: string
}

interface KafkaTopicDetail {
  readonly name: string
  readonly partitions: ReadonlyArray<{ partition: number; highWatermark: number; logStartOffset: number; records: number }>
  readonly configs: ReadonlyArray<{ name: string; value: string; source: "topic" | "default" }>
}

/** A topic's partitions and configs; a config can be set or returned to its default here. */
const KafkaTopicView = ({ topic, reload, onNote }: { topic: KafkaTopicDetail; reload: () => void; onNote: (s: string) => void }) => {
  const alter = async (body: unknown, done: string) => {
    try {
      await request("PATCH", `/api/v1/kafka/topics/${encodeURIComponent(topic.name)}/configs`, body)
      onNote(done)
    } catch (e) {
      onNote(`config change failed: ${e instanceof ApiError ? e.message : String(e)}`)
    }
    reload()
  }
  return html`
    <div class="columns detail-view">
      <table class="table">
        <thead><tr><th>Partition</th><th>Log start</th><th>High watermark</th><th>Records</th></tr></thead>
        <tbody>${topic.partitions.map((p) => html`<tr><td>${p.partition}</td><td>${p.logStartOffset}</td><td>${p.highWatermark}</td><td>${p.records}</td></tr>`)}</tbody>
      </table>
      <table class="table">
        <thead><tr><th>Config</th><th>Value</th><th>Source</th></tr></thead>
        <tbody>${topic.configs.map((c) => html`<tr>
          <td class="mono">${c.name}</td>
          <td><form class="inline-form" onSubmit=${(e: Event) => {
            e.preventDefault()
            const value = ((e.target as HTMLFormElement).elements.namedItem("value") as HTMLInputElement).value
            void alter({ set: { [c.name]: value } }, `${topic.name}: ${c.name} = ${value}`)
          }}><input name="value" value=${c.value} size="14" /><button type="submit" class="secondary small">Set</button></form></td>
          <td>${c.source}${c.source === "topic" && html` <button type="button" class="link" onClick=${() => alter({ reset: [c.name] }, `${topic.name}: ${c.name} back to its default`)}>reset</button>`}</td>
        </tr>`)}</tbody>
      </table>
    </div>`
}

const kafkaPath = (t: KafkaTopic) => `/api/v1/kafka/topics/${encodeURIComponent(t.name)}`

const CreateKafkaTopic = ({ onCreated, onNote }: { onCreated: () => void; onNote: (s: string) => void }) => {
  const [name, setName] = useState("")
  const [partitions, setPartitions] = useState("1")
  return html`
    <form class="toolbar" onSubmit=${async (e: Event) => {
      e.preventDefault()
      try {
        await request("POST", "/api/v1/kafka/topics", { name: name.trim(), partitions: Number(partitions) })
        onNote(`created Kafka topic ${name.trim()}`)
        setName("")
        onCreated()
      } catch (err) {
        onNote(`create failed: ${err instanceof ApiError ? err.message : String(err)}`)
      }
    }}>
      <label>New Kafka topic <input name="newTopic" value=${name} required onInput=${(e: Event) => setName(valueOf(e))} /></label>
      <label>Partitions <input name="partitions" type="number" min="1" max="65536" value=${partitions} onInput=${(e: Event) => setPartitions(valueOf(e))} /></label>
      <button type="submit">Create</button>
    </form>`
}

/** POST /api/v1/publish: a message from the broker itself, as a client would send it. */
const PublishOverHttp = ({ onNote }: { onNote: (s: string) => void }) => {
  const [topic, setTopic] = useState("")
  const [payload, setPayload] = useState("")
  const [qos, setQos] = useState("0")
  const [retain, setRetain] = useState(false)
  return html`
    <form class="toolbar" onSubmit=${async (e: Event) => {
      e.preventDefault()
      try {
        const r = await request<{ subscribers: number }>("POST", "/api/v1/publish", { topic, payload, qos: Number(qos), retain })
        onNote(`published to ${topic}: ${r.subscribers} subscriber(s)`)
      } catch (err) {
        onNote(`publish failed: ${err instanceof ApiError ? err.message : String(err)}`)
      }
    }}>
      <label>Publish to <input name="httpTopic" required value=${topic} placeholder="devices/all/cmd" onInput=${(e: Event) => setTopic(valueOf(e))} /></label>
      <label>Payload <input name="httpPayload" value=${payload} onInput=${(e: Event) => setPayload(valueOf(e))} /></label>
      <label>QoS <select name="httpQos" value=${qos} onChange=${(e: Event) => setQos(valueOf(e))}><option>0</option><option>1</option><option>2</option></select></label>
      <label class="inline"><input type="checkbox" checked=${retain} onChange=${(e: Event) => setRetain((e.target as HTMLInputElement).checked)} /> retain</label>
      <button type="submit">Publish</button>
    </form>`
}

export const Topics = () => {
  const [note, setNote] = useState<string | null>(null)
  const [created, setCreated] = useState(0)
  return html`
    <div class="page">
      <h2>Topics</h2>
      ${note !== null && html`<p class="note" data-testid="note">${note}</p>`}
      <section class="card">
        <h3>MQTT topics</h3>
        <${PublishOverHttp} onNote=${setNote} />
        <${PagedTable}
          path="/api/v1/topics"
          testId="mqtt-topics"
          rowKey=${(t: MqttTopic) => t.topic}
          filters=${[{ name: "prefix", label: "Topic prefix", placeholder: "sensors/" }]}
          columns=${[
            { label: "Topic or filter", value: (t: MqttTopic) => t.topic, className: "mono" },
            { label: "Retained", value: (t: MqttTopic) => t.retained },
            { label: "Subscribers", value: (t: MqttTopic) => t.subscribers }
          ]}
        />
      </section>
      <section class="card">
        <h3>Kafka topics</h3>
        <${CreateKafkaTopic} onCreated=${() => setCreated((n) => n + 1)} onNote=${setNote} />
        <${PagedTable}
          path="/api/v1/kafka/topics"
          testId="kafka-topics"
          reloadKey=${created}
          rowKey=${(t: KafkaTopic) => t.name}
          filters=${[{ name: "prefix", label: "Name prefix" }]}
          columns=${[
            { label: "Name", value: (t: KafkaTopic) => t.name, className: "mono" },
            { label: "Partitions", value: (t: KafkaTopic) => t.partitions },
            { label: "Records written", value: (t: KafkaTopic) => t.recordsWritten },
            { label: "MQTT", value: (t: KafkaTopic) => t.mqtt },
            { label: "Internal", value: (t: KafkaTopic) => t.internal },
            { label: "Created", value: (t: KafkaTopic) => since(t.createdAt) }
          ]}
          detailPath=${kafkaPath}
          renderDetail=${(d: KafkaTopicDetail, reload: () => void) => html`<${KafkaTopicView} topic=${d} reload=${reload} onNote=${setNote} />`}
          actions=${(t: KafkaTopic, reload: () => void) => html`<${ActionButton} label="Delete" path=${kafkaPath(t)} onDone=${reload} onNote=${setNote}
            question=${`Delete the Kafka topic ${t.name} and all its records?`} />`}
        />
      </section>
    </div>`
}
