/**
 * Interoperability with the Mosquitto command line clients (Debian `mosquitto-clients`):
 * `mosquitto_sub` receives what `mosquitto_pub` sends at each QoS, for MQTT 3.1.1 and 5, retained
 * messages, and a persistent session (`-c -i id`) that collects messages while offline.
 * Every process is spawned with a bounded timeout and killed if it overruns.
 */
import { describe, expect, it } from "vitest"
import { connect } from "../support/clients.js"
import type { TestBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"
import { messageLines, mosquittoInstalled as installed, PUB, SUB, subscribeWith } from "../support/mosquitto.js"
import { useProcesses } from "../support/processes.js"

if (!installed) console.warn(`[08-mosquitto-clients] SKIPPED: ${PUB} / ${SUB} not found; install the Debian package mosquitto-clients (CI does)`)
const suite = installed ? describe : describe.skip

const life = useBrokers()
const spawnClient = useProcesses()

const run = (cmd: string, args: ReadonlyArray<string>, timeoutMs?: number) => spawnClient(cmd, args, timeoutMs).exited
const subscribe = subscribeWith(spawnClient)

const hostArgs = (b: TestBroker) => ["-h", "127.0.0.1", "-p", String(b.port)]

const broker = () => life.broker()

suite.each(["mqttv311", "mqttv5"] as const)("mosquitto_pub / mosquitto_sub (-V %s)", (v) => {
  it("mosquitto_sub -C 3 -v gets what mosquitto_pub sends at QoS 0, 1 and 2, at that QoS", async () => {
    const b = await broker()
    const sub = await subscribe(b, [...hostArgs(b), "-V", v, "-q", "2", "-t", "mq/#", "-C", "3", "-v"])
    for (const qos of [0, 1, 2]) {
      const r = await run(PUB, [...hostArgs(b), "-V", v, "-q", String(qos), "-t", `mq/q${qos}`, "-m", `hello at ${qos}`])
      expect(r.code, r.stderr).toBe(0)
    }
    const done = await sub.exited
    expect(done.code, done.stderr).toBe(0)
    expect(messageLines(done.stdout)).toEqual(["mq/q0 hello at 0", "mq/q1 hello at 1", "mq/q2 hello at 2"])
    // The -d log shows each PUBLISH arrived at the QoS it was sent with (granted 2).
    const qos = [...done.stdout.matchAll(/received PUBLISH \(d\d, q(\d)/g)].map((m) => Number(m[1]))
    expect(qos).toEqual([0, 1, 2])
    // QoS 2 completed its four-packet flow from the subscriber's side.
    expect(done.stdout).toMatch(/sending PUBREC/)
    expect(done.stdout).toMatch(/received PUBREL/)
  })

  it("a retained message (-r) reaches a later subscriber with the retain flag; an empty retained message clears it", async () => {
    const b = await broker()
    const put = await run(PUB, [...hostArgs(b), "-V", v, "-q", "1", "-r", "-t", "ret/x", "-m", "kept"])
    expect(put.code, put.stderr).toBe(0)
    const got = await run(SUB, [...hostArgs(b), "-V", v, "-q", "1", "-t", "ret/x", "-C", "1", "-F", "%t|%q|%r|%p"])
    expect(got.code, got.stderr).toBe(0)
    expect(got.stdout.trim()).toBe("ret/x|1|1|kept")

    const clear = await run(PUB, [...hostArgs(b), "-V", v, "-q", "1", "-r", "-n", "-t", "ret/x"])
    expect(clear.code, clear.stderr).toBe(0)
    // After the clear, a new subscriber's first message is a live one, not retained.
    const sub = await subscribe(b, [...hostArgs(b), "-V", v, "-q", "1", "-t", "ret/x", "-C", "1", "-F", "%t|%q|%r|%p"])
    expect((await run(PUB, [...hostArgs(b), "-V", v, "-q", "1", "-t", "ret/x", "-m", "live"])).code).toBe(0)
    const after = await sub.exited
    expect(messageLines(after.stdout)).toEqual(["ret/x|1|0|live"])
  })

  it("-c -i id: a persistent session collects QoS 1 messages while offline and gets them on return", async () => {
    const b = await broker()
    const id = `mosq-persist-${v}`
    // Subscribe, then leave (-E: exit once subscribed). -c keeps the session (v5: never expires).
    const first = await run(SUB, [...hostArgs(b), "-V", v, "-c", "-i", id, "-q", "1", "-t", "pers/#", "-E"])
    expect(first.code, first.stderr).toBe(0)
    for (let i = 1; i <= 3; i++) {
      const r = await run(PUB, [...hostArgs(b), "-V", v, "-q", "1", "-t", `pers/${i}`, "-m", `offline ${i}`])
      expect(r.code, r.stderr).toBe(0)
    }
    const back = await run(SUB, [...hostArgs(b), "-V", v, "-c", "-i", id, "-q", "1", "-t", "pers/#", "-C", "3", "-v"])
    expect(back.code, back.stderr).toBe(0)
    expect(messageLines(back.stdout)).toEqual(["pers/1 offline 1", "pers/2 offline 2", "pers/3 offline 3"])
  })

  it("mosquitto_pub reaches an MQTT.js subscriber and mosquitto_sub gets an MQTT.js publish", async () => {
    const b = await broker()
    const js = await connect(b.url, { protocolVersion: v === "mqttv5" ? 5 : 4 })
    await js.client.subscribeAsync("mix/from-mosq", { qos: 1 })
    expect((await run(PUB, [...hostArgs(b), "-V", v, "-q", "1", "-t", "mix/from-mosq", "-m", "hi js"])).code).toBe(0)
    const [m] = await js.waitFor(1)
    expect(m!.payload).toBe("hi js")
    expect(m!.packet.qos).toBe(1)
    const sub = await subscribe(b, [...hostArgs(b), "-V", v, "-q", "1", "-t", "mix/from-js", "-C", "1", "-v"])
    await js.client.publishAsync("mix/from-js", "hi mosquitto", { qos: 1 })
    const done = await sub.exited
    expect(messageLines(done.stdout)).toEqual(["mix/from-js hi mosquitto"])
    await js.end()
  })
})

suite("mosquitto clients, MQTT v5 properties", () => {
  it("user properties and content type set with -D reach mosquitto_sub -F", async () => {
    const b = await broker()
    const sub = await subscribe(b, [...hostArgs(b), "-V", "mqttv5", "-q", "1", "-t", "props/x", "-C", "1", "-F", "%t|%C|%P|%p"])
    const r = await run(PUB, [
      ...hostArgs(b), "-V", "mqttv5", "-q", "1", "-t", "props/x", "-m", "{}",
      "-D", "publish", "content-type", "application/json",
      "-D", "publish", "user-property", "origin", "mosquitto"
    ])
    expect(r.code, r.stderr).toBe(0)
    const done = await sub.exited
    // The whole run in the message: this once failed under full-suite load with no message line.
    expect(messageLines(done.stdout), JSON.stringify(done)).toEqual(["props/x|application/json|origin:mosquitto|{}"])
  })

  it("mosquitto_sub -V mqttv31 (protocol level 3) gets messages too", async () => {
    const b = await broker()
    const sub = await subscribe(b, [...hostArgs(b), "-V", "mqttv31", "-q", "1", "-t", "v31/x", "-C", "1", "-v"])
    expect((await run(PUB, [...hostArgs(b), "-V", "mqttv31", "-q", "1", "-t", "v31/x", "-m", "old protocol"])).code).toBe(0)
    const done = await sub.exited
    expect(messageLines(done.stdout)).toEqual(["v31/x old protocol"])
  })
})
