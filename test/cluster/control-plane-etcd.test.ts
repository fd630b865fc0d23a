/**
 * The control plane is cluster-wide (issue 11 item 3): a real etcd, three `robustmq start
 * --cluster-etcd` processes, real clients. A topic created on n1 is listed by n2 (admin API and
 * kcat -L), a user added on n2 (mosquitto_passwd, then the admin API's reload) logs in on n3, a
 * ban added on n1 refuses the client on n2, an ACL changed on n1 denies on n2, a Kafka ACL created
 * on n1 hides a topic in n2's Metadata, and topics created
 * on two nodes at once all land, the same name only once. Skipped without etcd or the Mosquitto
 * clients (.ci/run installs both).
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mqtt from "mqtt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AclOperationTypes as Op, AclPermissionTypes as Perm, AclResourceTypes as RT, ResourcePatternTypes as PT } from "kafkajs"
import { hasKcat, kafkaClient, kcat, kcatBroker } from "../support/kafka.js"
import { mosquittoInstalled, PUB } from "../support/mosquitto.js"
import { useProcesses } from "../support/processes.js"
import { type BrokerProcess, startBrokerProcess } from "../support/startBrokerProcess.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"
import { waitFor } from "../support/waitFor.js"

const hasPasswd = (() => {
  try {
    execFileSync("which", ["mosquitto_passwd"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

const api = (node: BrokerProcess, path: string, init?: RequestInit) =>
  fetch(`http://127.0.0.1:${node.httpPort}${path}`, { ...init, headers: { "content-type": "application/json", ...init?.headers } })

const hasTopic = async (node: BrokerProcess, name: string) => (await api(node, `/api/v1/kafka/topics/${name}`)).status === 200

/** The CONNACK reason code MQTT.js v5 gets (0: accepted; the client is closed either way). */
const connackOf = (node: BrokerProcess, options: mqtt.IClientOptions): Promise<number> =>
  new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${node.port}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options })
    client.once("connect", (p) => {
      client.end(true)
      resolve(p.reasonCode ?? 0)
    })
    client.once("error", (e) => {
      client.end(true)
      resolve((e as { code?: number }).code ?? -1)
    })
  })

describe.skipIf(!hasEtcd || !mosquittoInstalled || !hasPasswd)("the control plane is cluster-wide over a real etcd", () => {
  let etcd: EtcdServer
  const nodes: Array<BrokerProcess> = []
  const dir = mkdtempSync(join(tmpdir(), "robustmq-control-"))
  const passwords = join(dir, "passwd")
  const acl = join(dir, "acl")
  const spawn = useProcesses()

  const startNode = (id: string, env: Record<string, string> = {}) =>
    startBrokerProcess(mkdtempSync(join(dir, `${id}-`)), {
      args: ["--cluster-etcd", etcd.endpoint, "--node-id", id, "--advertise-host", "127.0.0.1", "--cluster-port", "0"],
      env: { ROBUSTMQ_CLUSTER_LEASE_TTL: "2", ...env },
      startTimeoutMs: 40_000
    })

  beforeAll(async () => {
    etcd = await startEtcd()
    // n2 declares the users; n1 the ACL (anonymous clients may do anything; alice everything for now); n3 neither.
    execFileSync("mosquitto_passwd", ["-c", "-b", passwords, "bob", "bob-secret"])
    writeFileSync(acl, "topic readwrite #\n\nuser alice\ntopic readwrite #\n")
    // n1 and n2 start at once: both make sure of the `mqtt` topic and write their auth files.
    nodes.push(...(await Promise.all([startNode("n1", { ROBUSTMQ_AUTH_ACL_FILE: acl }), startNode("n2", { ROBUSTMQ_AUTH_PASSWORD_FILE: passwords })])))
    nodes.push(await startNode("n3"))
  }, 120_000)

  afterAll(async () => {
    for (const n of nodes) await n.stop(3000)
    await etcd?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("a topic created on n1 (admin API) is listed by n2 within a second, and by kcat -L on n3", async () => {
    const [n1, n2, n3] = nodes
    const res = await api(n1!, "/api/v1/kafka/topics", { method: "POST", body: JSON.stringify({ name: "orders", partitions: 3, configs: { "retention.ms": "60000" } }) })
    expect(res.status, await res.clone().text()).toBe(201)
    const created = Date.now()
    await waitFor("n2 to list orders", () => hasTopic(n2!, "orders"), 1000)
    console.log(`topic created on n1 seen on n2 after ${Date.now() - created} ms`)
    const detail = (await (await api(n2!, "/api/v1/kafka/topics/orders")).json()) as { partitions: unknown; configs?: Record<string, string> }
    expect(JSON.stringify(detail)).toMatch(/retention\.ms/)
    if (hasKcat()) {
      const listed = await kcat(["-L", ...kcatBroker(n3!.kafkaPort), "-t", "orders"])
      expect(listed.code, listed.stderr).toBe(0)
      expect(listed.stdout).toMatch(/topic "orders" with 3 partitions/)
    }
  }, 30_000)

  it("a user added on n2 (mosquitto_passwd, admin API reload) logs in on n3 with mosquitto_pub; a wrong password is refused there", async () => {
    const [n1, n2, n3] = nodes
    // Before: n3 knows bob (declared by n2 at its boot), not carol.
    const bob = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(n3!.port), "-u", "bob", "-P", "bob-secret", "-t", "hello", "-m", "x"]).exited
    expect(bob.code, bob.stderr).toBe(0)
    const early = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(n3!.port), "-u", "carol", "-P", "carol-secret", "-t", "hello", "-m", "x"]).exited
    expect(early.code).not.toBe(0)
    execFileSync("mosquitto_passwd", ["-b", passwords, "carol", "carol-secret"])
    const reloaded = await api(n2!, "/api/v1/acl/reload", { method: "POST" })
    expect(reloaded.status).toBe(200)
    expect(((await reloaded.json()) as { usersAdded: Array<string> }).usersAdded).toEqual(["carol"])
    const added = Date.now()
    await waitFor("n3 to accept carol", async () => (await connackOf(n3!, { username: "carol", password: "carol-secret" })) === 0, 2000)
    console.log(`user added on n2 accepted on n3 after ${Date.now() - added} ms`)
    const pub = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(n3!.port), "-u", "carol", "-P", "carol-secret", "-t", "hello", "-m", "x"]).exited
    expect(pub.code, pub.stderr).toBe(0)
    const wrong = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(n3!.port), "-u", "carol", "-P", "nope", "-t", "hello", "-m", "x"]).exited
    expect(wrong.code).not.toBe(0)
    expect(await connackOf(n1!, { username: "carol", password: "nope" })).toBe(0x86) // bad user name or password, on n1 too
  }, 30_000)

  it("a ban added on n1 refuses the client on n2 and closes its connection on n3", async () => {
    const [n1, n2, n3] = nodes
    const connected = mqtt.connect(`mqtt://127.0.0.1:${n3!.port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: "troublemaker" })
    await new Promise<void>((resolve, reject) => {
      connected.once("connect", () => resolve())
      connected.once("error", reject)
    })
    const dropped = new Promise<number | undefined>((resolve) => connected.once("disconnect", (p) => resolve(p.reasonCode)))
    const res = await api(n1!, "/api/v1/bans", { method: "POST", body: JSON.stringify({ kind: "clientid", value: "troublemaker", reason: "test" }) })
    expect(res.status, await res.clone().text()).toBe(201)
    expect(await Promise.race([dropped, new Promise((r) => setTimeout(() => r("still connected"), 5000))])).toBe(0x98) // administrative action
    await waitFor("n2 to refuse the banned client", async () => (await connackOf(n2!, { clientId: "troublemaker" })) === 0x8a, 2000)
    const refused = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(n2!.port), "-i", "troublemaker", "-t", "t", "-m", "x"]).exited
    expect(refused.code).not.toBe(0)
    // Lifted on n2: n1 lets it in again.
    expect((await api(n2!, "/api/v1/bans/clientid/troublemaker", { method: "DELETE" })).status).toBe(200)
    await waitFor("n1 to accept it again", async () => (await connackOf(n1!, { clientId: "troublemaker" })) === 0, 2000)
    connected.end(true)
  }, 30_000)

  it("an ACL changed on n1 denies on n2: alice may no longer subscribe to secret/#", async () => {
    const [n1, n2] = nodes
    execFileSync("mosquitto_passwd", ["-b", passwords, "alice", "alice-secret"])
    expect((await api(n2!, "/api/v1/acl/reload", { method: "POST" })).status).toBe(200)
    /** The SUBACK code alice gets for `filter` on `node` (MQTT.js reports a refusal as an error carrying the SUBACK). */
    const grantedOn = async (node: BrokerProcess, filter: string) => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.port}`, { protocolVersion: 5, reconnectPeriod: 0, username: "alice", password: "alice-secret" })
      client.on("error", () => {})
      try {
        const [grant] = await client.subscribeAsync(filter, { qos: 1 })
        return grant!.qos as number
      } catch (e) {
        const granted = (e as { packet?: { granted?: ReadonlyArray<number | { qos: number }> } }).packet?.granted?.[0]
        if (granted === undefined) throw e
        return typeof granted === "number" ? granted : granted.qos
      } finally {
        client.end(true)
      }
    }
    await waitFor("n2 to accept alice", async () => (await connackOf(n2!, { username: "alice", password: "alice-secret" })) === 0, 2000)
    expect(await grantedOn(n2!, "secret/#")).toBe(1)
    writeFileSync(acl, "topic readwrite #\n\nuser alice\ntopic read open/#\n")
    const reloaded = await api(n1!, "/api/v1/acl/reload", { method: "POST" })
    expect(((await reloaded.json()) as { acl: string }).acl).toBe("replaced")
    await waitFor("n2 to deny alice secret/#", async () => (await grantedOn(n2!, "secret/#")) === 0x87, 2000)
    expect(await grantedOn(n2!, "open/#")).toBe(1)
  }, 30_000)

  it.skipIf(!hasKcat())("a Kafka ACL created on n1 (kafkajs) applies on n2: its Metadata (kcat -L) hides the topic the ACL denies Describe on", async () => {
    const [n1, n2] = nodes
    expect((await api(n1!, "/api/v1/kafka/topics", { method: "POST", body: JSON.stringify({ name: "hidden", partitions: 1 }) })).status).toBe(201)
    const listedOn = async (node: BrokerProcess) => {
      const run = await kcat(["-L", ...kcatBroker(node.kafkaPort), "-t", "hidden"])
      return /topic "hidden" with 1 partitions/.test(run.stdout)
    }
    await waitFor("n2 to list hidden", () => listedOn(n2!), 5000)
    const admin = kafkaClient(n1!.kafkaPort, "acl-admin").admin()
    await admin.connect()
    try {
      await admin.createAcls({
        acl: [{ resourceType: RT.TOPIC, resourceName: "hidden", resourcePatternType: PT.LITERAL, principal: "User:ANONYMOUS", host: "*", operation: Op.DESCRIBE, permissionType: Perm.DENY }]
      })
    } finally {
      await admin.disconnect()
    }
    await waitFor("n2 to hide the topic", async () => !(await listedOn(n2!)), 5000)
  }, 30_000)

  it("topics created on n1 and n2 at once all land; the same name created on both at once exists once, the other told it exists", async () => {
    const [n1, n2, n3] = nodes
    const create = (node: BrokerProcess, name: string) =>
      api(node, "/api/v1/kafka/topics", { method: "POST", body: JSON.stringify({ name, partitions: 1 }) }).then((r) => r.status)
    const statuses = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => create(i % 2 === 0 ? n1! : n2!, `burst-${i}`)),
      create(n1!, "contested"),
      create(n2!, "contested")
    ])
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(201))
    expect(statuses.slice(10).sort()).toEqual([201, 409])
    for (let i = 0; i < 10; i++) await waitFor(`n3 to list burst-${i}`, () => hasTopic(n3!, `burst-${i}`), 2000)
    const conflicts = (n1!.output() + n2!.output()).match(/topics: another node appended first/g)?.length ?? 0
    // How many appends met another node's and were decided again (timing decides; the in-process test forces one).
    console.log(`concurrent topic creations: ${conflicts} version conflict(s) decided again`)
  }, 30_000)
})
