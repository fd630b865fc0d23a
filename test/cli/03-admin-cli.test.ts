/**
 * The admin CLI end to end: the built `robustmq` executable run as a child process against a
 * real broker (HTTP admin API with a token) and real MQTT.js clients. Every action the admin API
 * offers is done through the CLI here, and checked from the clients' side: a kicked v5 client
 * reads DISCONNECT 0x98, a published message arrives with its properties, a deleted session is
 * gone, a topic created is produced to with kafkajs, a banned client's CONNECT is refused, and
 * `events tail` (live) and `events dump` (after the stop) show the events those actions wrote.
 * Errors are one line on stderr with exit 1.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { connackCode } from "../auth/authFiles.js"
import { connect, type TestClient, waitUntil } from "../support/clients.js"
import { consumeN, kafkaClient, useKafkaClients } from "../support/kafka.js"
import { freePort } from "../support/freePort.js"
import { useRobustmqCli } from "../support/robustmqCli.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const TOKEN = "cli-test-admin-token-0123456789"
const cli = useRobustmqCli()

describe("robustmq admin commands", () => {
  const kafka = useKafkaClients()
  let broker: TestBroker
  let stopped = false
  let env: NodeJS.ProcessEnv
  const clients: Array<TestClient> = []
  const client = async (options: Parameters<typeof connect>[1]) => {
    const c = await connect(broker.url, options)
    clients.push(c)
    return c
  }
  /** Runs `robustmq args` against the broker with the token from the environment; asserts exit 0. */
  const robustmq = async (...args: ReadonlyArray<string>) => {
    const run = await cli.run(args, env)
    expect(run.code, `robustmq ${args.join(" ")}: ${run.stderr}`).toBe(0)
    expect(run.stderr).toBe("")
    return run.stdout
  }
  const json = async <A>(...args: ReadonlyArray<string>): Promise<A> => JSON.parse(await robustmq(...args, "--output", "json")) as A

  beforeAll(async () => {
    broker = await startBroker({ storage: "sqlite", http: { port: 0, adminTokens: [TOKEN] }, kafka: { enabled: true } })
    env = { ROBUSTMQ_URL: `http://127.0.0.1:${broker.httpPort}`, ROBUSTMQ_TOKEN: TOKEN }
  })
  afterAll(async () => {
    for (const c of clients) await c.end(true).catch(() => {})
    if (!stopped) await broker.stop()
    broker.cleanup()
  })

  it("status shows the broker's version, listeners and counts, as a table and as JSON", { timeout: 120_000 }, async () => {
    await client({ clientId: "cli-status", protocolVersion: 5 })
    const table = await robustmq("status")
    expect(table).toMatch(/^version {8}\d+\.\d+\.\d+/m)
    expect(table).toMatch(new RegExp(`^listeners .*mqtt [^ ]+:${broker.port}.*http 127\\.0\\.0\\.1:${broker.httpPort}`, "m"))
    expect(table).toMatch(/^connections {4}1 MQTT, 0 Kafka$/m)
    const overview = await json<{ counts: { connections: number }; storage: string }>("status")
    expect(overview).toMatchObject({ storage: "sqlite", counts: { connections: 1 } })
  })

  it("clients list shows a connected client; kick disconnects it with 0x98", { timeout: 120_000 }, async () => {
    const victim = await client({ clientId: "cli-victim", protocolVersion: 5 })
    await client({ clientId: "cli-bystander", protocolVersion: 4 })
    const table = (await robustmq("clients", "list", "--prefix", "cli-v")).trimEnd().split("\n")
    expect(table[0]).toMatch(/^CLIENT ID +USER +ADDRESS +LISTENER +PROTO +CONNECTED AT +SUBS +INFLIGHT +QUEUED$/)
    expect(table).toHaveLength(2)
    expect(table[1]).toMatch(/^cli-victim +- +127\.0\.0\.1:\d+ +tcp +5\.0 +\d{4}-/)
    const page = await json<{ items: Array<{ clientId: string }>; next: string | null }>("clients", "list", "--limit", "1")
    expect(page.items).toHaveLength(1)
    expect(page.next).not.toBeNull()
    expect(await robustmq("clients", "list", "--limit", "1")).toMatch(/\nmore: --cursor \S+\n$/)

    expect(await robustmq("clients", "show", "cli-victim")).toMatch(/^protocol +5\.0$/m)
    const reason = new Promise<number | undefined>((resolve) => victim.client.once("disconnect", (p) => resolve(p.reasonCode)))
    expect(await robustmq("clients", "kick", "cli-victim")).toBe("kicked cli-victim (DISCONNECT reason 0x98 to MQTT 5 clients)\n")
    expect(await reason).toBe(0x98)
  })

  it("sessions list, show and delete; a deleted session is gone", { timeout: 120_000 }, async () => {
    const c = await client({ clientId: "cli-sess", protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } })
    await c.client.subscribeAsync("cli/sess/+", { qos: 1 })
    await c.end()
    await waitUntil(() => c.client.disconnected)
    const offline = await robustmq("sessions", "list", "--state", "offline")
    expect(offline).toMatch(/^cli-sess +offline +true +600 +\d{4}-\S+ +1 +0 +0$/m)
    const shown = await robustmq("sessions", "show", "cli-sess")
    expect(shown).toMatch(/^cli\/sess\/\+ +1 +false +false +0 +-$/m)
    expect(await robustmq("subscriptions", "list", "--client-id", "cli-sess")).toMatch(/^cli-sess +false +cli\/sess\/\+ +1 /m)
    expect(await robustmq("sessions", "delete", "cli-sess")).toBe("deleted the session of cli-sess\n")
    const again = await cli.run(["sessions", "show", "cli-sess"], env)
    expect(again.code).toBe(1)
    expect(again.stderr).toBe(`no session "cli-sess": GET /api/v1/sessions lists them (a clean session ends with its connection)\n`)
  })

  it("publish reaches a subscriber with its properties; retained list, show and delete", { timeout: 120_000 }, async () => {
    const sub = await client({ clientId: "cli-sub", protocolVersion: 5 })
    await sub.client.subscribeAsync("cli/pub/#", { qos: 1 })
    expect(await robustmq("publish", "cli/pub/a", "hello", "--qos", "1", "--retain", "-p", "k=v", "--content-type", "text/plain"))
      .toBe("published to cli/pub/a: 1 subscriber(s), stored\n")
    const [m] = await sub.waitFor(1)
    expect(m).toMatchObject({ topic: "cli/pub/a", payload: "hello" })
    expect(m!.packet.qos).toBe(1)
    expect(m!.packet.properties).toMatchObject({ contentType: "text/plain", userProperties: { k: "v" } })

    expect(await robustmq("retained", "list", "--filter", "cli/#")).toMatch(/^cli\/pub\/a +1 +5 +\d{4}-/m)
    expect(await robustmq("retained", "show", "cli/pub/a")).toMatch(/^payload +hello$/m)
    expect(await robustmq("topics", "mqtt", "list", "--prefix", "cli/pub")).toMatch(/^cli\/pub\/# +1 +false$/m)
    expect(await robustmq("retained", "delete", "cli/pub/a")).toBe("deleted the retained message of cli/pub/a\n")
    expect(await robustmq("retained", "list", "--filter", "cli/#")).toBe("no retained messages\n")
  })

  it("events tail follows what the actions write, until Ctrl-C", { timeout: 120_000 }, async () => {
    // --from 0: the stream's whole history first, so no event is missed while the tail connects.
    const tail = cli.start(["events", "tail", "--stream", "session-cli-tailed", "--from", "0"], env)
    const jsonTail = cli.start(["events", "tail", "--stream", "session-cli-tailed", "--from", "0", "--output", "json"], env)
    const c = await client({ clientId: "cli-tailed", protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
    await c.end()
    await robustmq("sessions", "delete", "cli-tailed")
    await waitUntil(() => tail.out.stdout.includes("SessionEnded") && jsonTail.out.stdout.includes("SessionEnded"), 30_000, () => `tail: ${tail.out.stdout} ${tail.out.stderr}`)
    expect(tail.out.stdout).toMatch(/^ *\d+ {2}\d{4}-\S+Z {2}session-cli-tailed {2,}SessionStarted +\{"clientId":"cli-tailed","expiryInterval":60\}$/m)
    expect(tail.out.stdout).toMatch(/session-cli-tailed +SessionEnded +\{"clientId":"cli-tailed","reason":"deleted"\}/)
    const events = jsonTail.out.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { stream: string; type: string })
    expect(events.every((e) => e.stream === "session-cli-tailed")).toBe(true)
    expect(events.map((e) => e.type)).toContain("SessionEnded")
    tail.child.kill("SIGINT")
    jsonTail.child.kill("SIGINT")
    expect((await tail.exited).code).toBe(0)
    expect((await jsonTail.exited).code).toBe(0)
  })

  it("topics create, then kafkajs produces to it; groups list, describe and delete; topics delete", { timeout: 150_000 }, async () => {
    expect(await robustmq("topics", "create", "cli-orders", "--partitions", "3", "--config", "retention.ms=86400000"))
      .toBe("created Kafka topic cli-orders with 3 partition(s)\n")
    const client = kafkaClient(broker.kafkaPort, "cli-test")
    const producer = await kafka.producer(client, { allowAutoTopicCreation: false })
    await producer.send({ topic: "cli-orders", messages: [0, 1, 2, 3, 4].map((i) => ({ partition: i % 3, value: `order-${i}` })) })

    expect(await robustmq("topics", "list", "--prefix", "cli-")).toMatch(/^cli-orders +3 +5 +false +false +\d{4}-/m)
    const shown = await robustmq("topics", "show", "cli-orders")
    expect(shown).toMatch(/^ +0 +0 +2 +2$/m)
    expect(shown).toMatch(/^retention\.ms +86400000 +topic$/m)

    const consumer = await kafka.consumer(client, { groupId: "cli-group" })
    expect((await consumeN(consumer, "cli-orders", 5)).map((m) => m.value).sort()).toEqual(["order-0", "order-1", "order-2", "order-3", "order-4"])
    await producer.send({ topic: "cli-orders", messages: [{ partition: 0, value: "late" }] })
    await consumer.disconnect()
    expect(await robustmq("groups", "list", "--prefix", "cli-")).toMatch(/^cli-group +Empty +consumer +0 +1$/m)
    const group = await robustmq("groups", "describe", "cli-group")
    expect(group).toMatch(/^lag +1$/m)
    expect(group).toMatch(/^cli-orders +0 +2 +3 +1$/m)
    expect(await robustmq("groups", "delete", "cli-group")).toBe("deleted consumer group cli-group\n")
    expect(await robustmq("groups", "list", "--prefix", "cli-")).toBe("no consumer groups\n")

    expect(await robustmq("topics", "delete", "cli-orders")).toBe("deleted Kafka topic cli-orders\n")
    const admin = await kafka.admin(client)
    expect(await admin.listTopics()).not.toContain("cli-orders")
  })

  it("bans add refuses a banned client's CONNECT with 0x8A; bans list; bans delete lifts it", { timeout: 120_000 }, async () => {
    const unruly = await client({ clientId: "cli-unruly", protocolVersion: 5 })
    const added = await robustmq("bans", "add", "clientid", "cli-unruly", "--duration", "600", "--reason", "floods")
    expect(added).toMatch(/^banned clientid cli-unruly until \d{4}-\S+; 1 connection\(s\) closed\n$/)
    await waitUntil(() => !unruly.client.connected)
    expect(await connackCode(broker.url, { protocolVersion: 5, clientId: "cli-unruly" })).toBe(0x8a)
    expect(await robustmq("bans", "list")).toMatch(/^clientid +cli-unruly +\d{4}-\S+ +\d{4}-\S+ +floods +robustmq CLI$/m)

    // A CIDR range: its "/" travels in the path percent-encoded.
    expect(await robustmq("bans", "add", "ip", "192.0.2.0/24")).toMatch(/^banned ip 192\.0\.2\.0\/24 until deleted; 0 connection\(s\) closed\n$/)
    expect(await json<{ items: Array<{ value: string }> }>("bans", "list", "--kind", "ip")).toMatchObject({ items: [{ value: "192.0.2.0/24" }] })
    expect(await robustmq("bans", "delete", "ip", "192.0.2.0/24")).toBe("lifted the ban of ip 192.0.2.0/24\n")

    expect(await robustmq("bans", "delete", "clientid", "cli-unruly")).toBe("lifted the ban of clientid cli-unruly\n")
    expect(await connackCode(broker.url, { protocolVersion: 5, clientId: "cli-unruly" })).toBe(0)
    expect(await robustmq("bans", "list")).toBe("no bans\n")
  })

  it("says what to do when the broker is not there, the token is missing or wrong, or a flag is bad", { timeout: 120_000 }, async () => {
    const closed = `http://127.0.0.1:${await freePort()}`
    const nobody = await cli.run(["status", "--url", closed])
    expect(nobody.code).toBe(1)
    expect(nobody.stderr).toBe(`cannot reach the broker at ${closed} (ECONNREFUSED): is the broker running with its HTTP listener on? pass --url or set ROBUSTMQ_URL\n`)

    const noToken = await cli.run(["clients", "list"], { ROBUSTMQ_URL: env.ROBUSTMQ_URL })
    expect(noToken.code).toBe(1)
    expect(noToken.stderr).toBe("the admin API needs a token (401): pass --token or set ROBUSTMQ_TOKEN\n")

    const wrong = await cli.run(["clients", "list", "--token", "not-the-token-at-all"], { ROBUSTMQ_URL: env.ROBUSTMQ_URL })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toBe("the broker refused the token (401): check --token or ROBUSTMQ_TOKEN against http.admin_tokens\n")
    expect(wrong.stdout + wrong.stderr).not.toContain("not-the-token-at-all")

    const missing = await cli.run(["clients", "kick", "nobody-here"], env)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^no connected client "nobody-here": .*\n$/)

    const badQos = await cli.run(["publish", "t", "m", "--qos", "3"], env)
    expect(badQos.code).toBe(1)
    expect(badQos.stderr).toBe(`--qos must be 0, 1 or 2, got "3"\n`)
  })

  // Last: reads back what the tests above did, from the data directory once the broker stopped.
  it("events dump of the stopped broker's directory shows what the commands wrote", { timeout: 120_000 }, async () => {
    for (const c of clients) await c.end(true).catch(() => {})
    await broker.stop()
    stopped = true
    const dump = async (...args: ReadonlyArray<string>) => {
      const run = await cli.run(["events", "dump", "--data-dir", broker.dataDir, ...args])
      expect(run.code, run.stderr).toBe(0)
      return run.stdout
    }
    const bans = await dump("--stream", "bans")
    expect(bans).toMatch(/ bans +BanAdded +\{"kind":"clientid","value":"cli-unruly",.*"reason":"floods","by":"robustmq CLI"/)
    expect(bans).toMatch(/ bans +BanRemoved +\{"kind":"clientid","value":"cli-unruly"/)
    const topics = await dump("--stream", "topics", "--output", "json")
    const types = topics.trimEnd().split("\n").map((l) => JSON.parse(l) as { type: string; data: { name?: string } })
      .filter((e) => e.data.name === "cli-orders").map((e) => e.type)
    expect(types[0]).toBe("TopicCreated")
    expect(types.at(-1)).toBe("TopicDeleted")
    expect(await dump("--stream", "session-cli-sess")).toMatch(/SessionEnded +\{"clientId":"cli-sess","reason":"deleted"\}/)
  })
})
