/**
 * An MQTT client in the browser (the broker's own MQTTX in a tab): it connects over the broker's
 * WebSocket listener with mqtt.js's browser build, loaded only when this page first connects,
 * subscribes, publishes, and lists what arrives (the newest 200 messages). The connection lives
 * in this module, so it survives moving to another page and back.
 */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import type { MqttClient as Client } from "mqtt"
import { get } from "../api.js"
import { valueOf } from "../format.js"

const KEEP_MESSAGES = 200

interface Arrived {
  readonly at: Date
  readonly topic: string
  readonly payload: string
  readonly qos: number
  readonly retain: boolean
}

type Status = "disconnected" | "connecting" | "connected" | "reconnecting"

const state = {
  client: null as Client | null,
  status: "disconnected" as Status,
  error: null as string | null,
  messages: [] as Array<Arrived>,
  subscriptions: [] as Array<string>
}
const listeners = new Set<() => void>()
const changed = () => {
  for (const listener of listeners) listener()
}

/** The WebSocket URL to offer: ?url=, the last one used, or the broker's ws listener from the overview API. */
const initialUrl = (): string =>
  new URLSearchParams(location.search).get("url") ?? localStorage.getItem("robustmq.mqtt.url") ??
    `${location.protocol === "https:" ? "wss" : "ws"}://${location.hostname}:8083/mqtt`

interface Listener { readonly name: string; readonly port: number }

/**
 * The broker's WebSocket listener, from the overview API (its port) and the effective config (its
 * path, mqtt.ws_path); null when it is off or the API cannot say.
 */
const brokerWebSocketUrl = async (): Promise<string | null> => {
  try {
    const overview = await get<{ listeners: ReadonlyArray<Listener> }>("/api/v1/overview")
    const config = await get<{ mqtt?: { wsPath?: string; ws_path?: string } }>("/api/v1/config").catch(() => null)
    const path = config?.mqtt?.wsPath ?? config?.mqtt?.ws_path ?? "/mqtt"
    const order = location.protocol === "https:" ? ["mqtt-wss", "mqtt-ws"] : ["mqtt-ws", "mqtt-wss"]
    for (const name of order) {
      const found = overview.listeners.find((l) => l.name === name && l.port > 0)
      if (found !== undefined) return `${name === "mqtt-wss" ? "wss" : "ws"}://${location.hostname}:${found.port}${path}`
    }
  } catch {
    // no overview API, or not signed in: keep the default
  }
  return null
}

const connect = async (url: string, options: { clientId: string; username: string; password: string; protocolVersion: 4 | 5 }) => {
  state.client?.end(true)
  state.status = "connecting"
  state.error = null
  state.subscriptions = []
  changed()
  localStorage.setItem("robustmq.mqtt.url", url)
  try {
    // The browser build has only a default export (a CommonJS bundle), which holds connect.
    const mqtt = ((await import("mqtt")) as unknown as { default: typeof import("mqtt") }).default
    const client = mqtt.connect(url, {
      clientId: options.clientId,
      username: options.username || undefined,
      password: options.password || undefined,
      protocolVersion: options.protocolVersion,
      reconnectPeriod: 0,
      connectTimeout: 10_000
    })
    state.client = client
    client.on("connect", () => {
      state.status = "connected"
      state.error = null
      changed()
    })
    client.on("message", (topic, payload, packet) => {
      state.messages.unshift({ at: new Date(), topic, payload: new TextDecoder().decode(payload), qos: packet.qos, retain: packet.retain })
      if (state.messages.length > KEEP_MESSAGES) state.messages.length = KEEP_MESSAGES
      changed()
    })
    client.on("error", (e) => {
      state.error = e.message
      changed()
    })
    client.on("disconnect", (packet) => {
      state.error = `the broker sent DISCONNECT 0x${(packet.reasonCode ?? 0).toString(16).padStart(2, "0")}`
      changed()
    })
    client.on("close", () => {
      if (state.client !== client) return
      state.status = "disconnected"
      changed()
    })
  } catch (e) {
    state.status = "disconnected"
    state.error = e instanceof Error ? e.message : String(e)
    changed()
  }
}

const disconnect = () => {
  state.client?.end()
  state.client = null
  state.status = "disconnected"
  changed()
}

const randomId = () => `console-${Math.random().toString(16).slice(2, 10)}`

export const MqttClient = () => {
  const [, setVersion] = useState(0)
  const [url, setUrl] = useState(initialUrl)
  const [clientId, setClientId] = useState(randomId)
  const [username, setUsername] = useState("")
  const [password, setPassword] = useState("")
  const [protocolVersion, setProtocolVersion] = useState<4 | 5>(5)
  const [filter, setFilter] = useState("#")
  const [subQos, setSubQos] = useState(0)
  const [topic, setTopic] = useState("console/test")
  const [payload, setPayload] = useState("hello from the console")
  const [pubQos, setPubQos] = useState(0)
  const [retain, setRetain] = useState(false)
  const [note, setNote] = useState<string | null>(null)

  useEffect(() => {
    const update = () => setVersion((v) => v + 1)
    listeners.add(update)
    if (new URLSearchParams(location.search).get("url") === null && localStorage.getItem("robustmq.mqtt.url") === null) {
      void brokerWebSocketUrl().then((found) => found !== null && setUrl(found))
    }
    return () => void listeners.delete(update)
  }, [])

  const connected = state.status === "connected"
  const subscribe = (e: Event) => {
    e.preventDefault()
    state.client?.subscribe(filter, { qos: subQos as 0 | 1 | 2 }, (err, granted) => {
      const code = granted?.[0]?.qos
      if (err) setNote(`subscribe failed: ${err.message}`)
      else if (code !== undefined && code >= 0x80) setNote(`subscribe to ${filter} refused: 0x${code.toString(16)}`)
      else {
        state.subscriptions = [...state.subscriptions.filter((f) => f !== filter), filter]
        setNote(`subscribed to ${filter}`)
        changed()
      }
    })
  }
  const unsubscribe = (f: string) => {
    state.client?.unsubscribe(f, () => {
      state.subscriptions = state.subscriptions.filter((s) => s !== f)
      changed()
    })
  }
  const publish = (e: Event) => {
    e.preventDefault()
    state.client?.publish(topic, payload, { qos: pubQos as 0 | 1 | 2, retain }, (err) => {
      setNote(err ? `publish failed: ${err.message}` : `published to ${topic}`)
    })
  }

  return html`
    <div class="page mqtt-client">
      <h2>MQTT client</h2>
      <form class="card form-row" onSubmit=${(e: Event) => {
        e.preventDefault()
        if (connected) disconnect()
        else void connect(url, { clientId, username, password, protocolVersion })
      }}>
        <label>WebSocket URL <input name="url" value=${url} onInput=${(e: Event) => setUrl(valueOf(e))} size="40" /></label>
        <label>Client id <input name="clientId" value=${clientId} onInput=${(e: Event) => setClientId(valueOf(e))} /></label>
        <label>User name <input name="username" value=${username} autocomplete="username" onInput=${(e: Event) => setUsername(valueOf(e))} /></label>
        <label>Password <input name="password" type="password" value=${password} autocomplete="current-password" onInput=${(e: Event) => setPassword(valueOf(e))} /></label>
        <label>Protocol <select name="protocol" value=${protocolVersion} onChange=${(e: Event) => setProtocolVersion(Number(valueOf(e)) as 4 | 5)}>
          <option value="5">MQTT 5.0</option><option value="4">MQTT 3.1.1</option></select></label>
        <div class="row">
          <button type="submit" name="connect">${connected ? "Disconnect" : "Connect"}</button>
          <span class=${`status status-${state.status}`} data-testid="mqtt-status">${state.status}</span>
        </div>
      </form>
      ${state.error !== null && html`<p class="error" data-testid="mqtt-error">${state.error}</p>`}
      <div class="columns">
        <form class="card form-grid" onSubmit=${subscribe}>
          <h3>Subscribe</h3>
          <label>Topic filter <input name="filter" value=${filter} onInput=${(e: Event) => setFilter(valueOf(e))} /></label>
          <label>QoS <select name="subQos" value=${subQos} onChange=${(e: Event) => setSubQos(Number(valueOf(e)))}>
            <option value="0">0</option><option value="1">1</option><option value="2">2</option></select></label>
          <button type="submit" name="subscribe" disabled=${!connected}>Subscribe</button>
          <ul class="chips">${state.subscriptions.map((f) => html`<li>${f} <button type="button" class="link" onClick=${() => unsubscribe(f)} title="unsubscribe">×</button></li>`)}</ul>
        </form>
        <form class="card form-grid" onSubmit=${publish}>
          <h3>Publish</h3>
          <label>Topic <input name="topic" value=${topic} onInput=${(e: Event) => setTopic(valueOf(e))} /></label>
          <label>Payload <textarea name="payload" rows="3" value=${payload} onInput=${(e: Event) => setPayload(valueOf(e))}></textarea></label>
          <label>QoS <select name="pubQos" value=${pubQos} onChange=${(e: Event) => setPubQos(Number(valueOf(e)))}>
            <option value="0">0</option><option value="1">1</option><option value="2">2</option></select></label>
          <label class="inline"><input type="checkbox" name="retain" checked=${retain} onChange=${(e: Event) => setRetain((e.target as HTMLInputElement).checked)} /> retain</label>
          <button type="submit" name="publish" disabled=${!connected}>Publish</button>
        </form>
      </div>
      ${note !== null && html`<p class="note" data-testid="mqtt-note">${note}</p>`}
      <section class="card">
        <h3>Messages (${state.messages.length}) <button type="button" class="link" onClick=${() => { state.messages = []; changed() }}>clear</button></h3>
        <table class="table" data-testid="mqtt-messages">
          <thead><tr><th>Time</th><th>Topic</th><th>Payload</th><th>QoS</th><th>Retain</th></tr></thead>
          <tbody>${state.messages.map((m) => html`<tr><td>${m.at.toLocaleTimeString()}</td><td>${m.topic}</td><td class="payload">${m.payload}</td><td>${m.qos}</td><td>${m.retain ? "yes" : ""}</td></tr>`)}</tbody>
        </table>
      </section>
    </div>`
}
