/**
 * The node link over mutual TLS (cluster.tls_cert_file, tls_key_file, tls_ca_file), the way an
 * operator runs it: a real etcd, `robustmq start` processes configured through ROBUSTMQ_CLUSTER_TLS_*,
 * certificates made with openssl, MQTT.js clients. Messages cross the TLS link; a node whose
 * certificate another CA signed joins etcd but cannot link (nothing it sends is delivered, and
 * both ends log the refusal once); a certificate the cluster's CA signed for one node cannot say
 * HELLO as another (the acceptor binds the node id to the certificate's host or CN); a plain TCP
 * socket speaking the link protocol is dropped;
 * SIGHUP rotates a node's files without a restart; a partial configuration stops the start with
 * the missing key named.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tls from "node:tls"
import { Effect } from "effect"
import { Etcd3 } from "etcd3"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { defaultConfig } from "../../config/BrokerConfigShape.js"
import { encodeHello, encodePublish } from "../../src/cluster/linkFrames.js"
import { loadLinkTls } from "../../src/cluster/linkTls.js"
import { Message } from "../../src/mqtt/engine/Message.js"
import { writeDevCertificates } from "../../src/tls/devCertificates.js"
import { useCertificates, writeNodeCertificate } from "../support/certificates.js"
import { connect, quiet, type TestClient, waitUntil } from "../support/clients.js"
import { freePort } from "../support/freePort.js"
import { type BrokerProcess, mainPath, startBrokerProcess } from "../support/startBrokerProcess.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"
import { waitFor } from "../support/waitFor.js"

interface MemberView {
  readonly id: string
  readonly linkPort: number
}

const membersOf = async (node: BrokerProcess): Promise<ReadonlyArray<MemberView>> => {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/cluster`)
  if (!res.ok) throw new Error(`GET /api/v1/cluster on ${node.httpPort}: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { members: ReadonlyArray<MemberView> }).members
}

const linkOf = async (node: BrokerProcess): Promise<{ forwarded: number; dropped: number; received: number }> => {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/cluster`)
  return ((await res.json()) as { link: { forwarded: number; dropped: number; received: number } }).link
}

/** Publishes on `topic` until `sub` gets one (its node's route has reached the publisher's node through etcd). */
const crossed = async (pub: TestClient, sub: TestClient, topic: string, ms = 15_000) => {
  const deadline = Date.now() + ms
  while (!sub.messages.some((m) => m.topic === topic)) {
    if (Date.now() > deadline) throw new Error(`nothing published on ${topic} crossed in ${ms} ms`)
    await pub.client.publishAsync(topic, "warm", { qos: 1 })
    await quiet(100)
  }
}

const received = async (sub: TestClient, topic: string, n: number, ms = 10_000) => {
  const on = () => sub.messages.filter((m) => m.topic === topic)
  await waitUntil(() => on().length >= n, ms, () => `${n} messages on ${topic}, got ${on().length}`)
  return on()
}

const count = (text: string, re: RegExp) => text.match(new RegExp(re.source, "g"))?.length ?? 0

interface NodeFiles {
  readonly cert: string
  readonly key: string
  readonly ca: string
}

describe.skipIf(!hasEtcd)("the node link over mutual TLS (real etcd, broker processes)", () => {
  let etcd: EtcdServer
  const dir = mkdtempSync(join(tmpdir(), "robustmq-link-tls-"))
  const nodes: Array<BrokerProcess> = []
  const clients: Array<TestClient> = []
  const files = new Map<string, NodeFiles>()

  const tlsEnv = (f: NodeFiles): Record<string, string> => ({
    ROBUSTMQ_CLUSTER_TLS_CERT_FILE: f.cert,
    ROBUSTMQ_CLUSTER_TLS_KEY_FILE: f.key,
    ROBUSTMQ_CLUSTER_TLS_CA_FILE: f.ca
  })

  const startNode = async (id: string, env: Record<string, string>) => {
    const data = mkdtempSync(join(dir, `${id}-`))
    const node = await startBrokerProcess(data, {
      kafkaPort: null,
      args: ["--cluster-etcd", etcd.endpoint, "--node-id", id, "--advertise-host", "127.0.0.1", "--cluster-port", "0"],
      env: { ROBUSTMQ_CLUSTER_LEASE_TTL: "2", ROBUSTMQ_SYS_INTERVAL: "0", ...env }
    })
    nodes.push(node)
    return node
  }

  const client = async (node: BrokerProcess) => {
    const c = await connect(`mqtt://127.0.0.1:${node.port}`)
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    const [ours, theirs] = [join(dir, "ours"), join(dir, "theirs")]
    const [caA, caB] = await Promise.all([writeDevCertificates(ours), writeDevCertificates(theirs)])
    for (const [id, ca, at] of [["n1", caA, ours], ["n2", caA, ours], ["rogue", caB, theirs]] as const) {
      const made = await writeNodeCertificate(at, id, { cert: ca.caCert, key: ca.caKey })
      files.set(id, { ...made, ca: ca.caCert })
    }
    // A certificate of the cluster's CA for a node "n3" at another host: not n1's, not n2's.
    files.set("n3", { ...(await writeNodeCertificate(ours, "n3", { cert: caA.caCert, key: caA.caKey }, ["n3.invalid"])), ca: caA.caCert })
    // A certificate naming the host 127.0.0.1 only (its CN is no node id).
    files.set("host", { ...(await writeNodeCertificate(ours, "some-host", { cert: caA.caCert, key: caA.caKey })), ca: caA.caCert })
    etcd = await startEtcd()
    await startNode("n1", tlsEnv(files.get("n1")!))
    await startNode("n2", tlsEnv(files.get("n2")!))
    await waitFor("two members on both nodes", async () => (await Promise.all(nodes.map(membersOf))).every((m) => m.length === 2))
  }, 90_000)

  afterAll(async () => {
    for (const c of clients) await c.end(true)
    for (const n of [...nodes].reverse()) await n.stop(3000)
    await etcd?.stop()
    rmSync(dir, { recursive: true, force: true })
  }, 30_000)

  it("QoS 1 messages published on n1 reach an MQTT.js subscriber on n2 across the TLS link", async () => {
    const [n1, n2] = nodes
    expect(n1!.output()).toMatch(/cluster: node link on 127\.0\.0\.1:\d+ \(mutual TLS\)/)
    const sub = await client(n2!)
    await sub.client.subscribeAsync("tls/#", { qos: 1 })
    const pub = await client(n1!)
    await crossed(pub, sub, "tls/warm")
    for (let i = 0; i < 50; i++) await pub.client.publishAsync("tls/t", `m${i}`, { qos: 1 })
    const got = await received(sub, "tls/t", 50)
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`))
    expect(got.every((m) => m.packet.qos === 1)).toBe(true)
  }, 30_000)

  it("the link port speaks TLS only: it shows n2's certificate, and drops a plain socket sending HELLO and PUBLISH", async () => {
    const [, n2] = nodes
    const sub = await client(n2!)
    await sub.client.subscribeAsync("plain/#", { qos: 1 })
    const linkPort = (await membersOf(n2!)).find((m) => m.id === "n2")!.linkPort
    // A TLS client that trusts the CA sees n2's certificate; having none of its own, it is refused.
    const probe = tls.connect({ host: "127.0.0.1", port: linkPort, ca: readFileSync(files.get("n1")!.ca) })
    const probeError = new Promise<NodeJS.ErrnoException>((resolve) => probe.once("error", resolve))
    const peer = await new Promise<tls.PeerCertificate>((resolve) => probe.once("secureConnect", () => resolve(probe.getPeerCertificate())))
    expect(peer.subject.CN).toBe("n2")
    expect(probe.authorized).toBe(true)
    expect((await probeError).code).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED")

    const stranger = net.connect({ host: "127.0.0.1", port: linkPort })
    await new Promise<void>((resolve) => stranger.once("connect", () => resolve()))
    const closed = new Promise<void>((resolve) => stranger.once("close", () => resolve()))
    const answers: Array<Buffer> = []
    stranger.on("data", (d: Buffer) => answers.push(d))
    stranger.on("error", () => undefined)
    const forged = new Message("plain/forged", Buffer.from("injected"), 1, false, null, 0, "", Date.now())
    stranger.write(Buffer.concat([encodeHello({ node: "n1", startedAt: 0 }), encodePublish([forged], [[]], [])]))
    await closed
    // At most a TLS alert came back (record type 21), never a link frame.
    const answer = Buffer.concat(answers)
    if (answer.length > 0) expect(answer[0]).toBe(21)
    await quiet(500)
    expect(sub.messages).toEqual([])
    await waitUntil(() => /cluster link from 127\.0\.0\.1: TLS handshake refused/.test(n2!.output()), 5000, () => `the refusal in n2's log: ${n2!.output()}`)
    expect(n2!.exit()).toBeNull()
  }, 30_000)

  /** Dials n2's link port with `id`'s certificate files, says HELLO as `node`, sends one PUBLISH on `topic`; resolves when n2 closes it (or after `ms`). */
  const helloAs = async (id: string, node: string, topic: string, ms = 8000, sent: () => void = () => undefined): Promise<{ closedAfter: number | null }> => {
    const [, n2] = nodes
    const f = files.get(id)!
    const linkPort = (await membersOf(n2!)).find((m) => m.id === "n2")!.linkPort
    const socket = tls.connect({ host: "127.0.0.1", port: linkPort, cert: readFileSync(f.cert), key: readFileSync(f.key), ca: readFileSync(f.ca) })
    socket.on("error", () => undefined)
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
    await new Promise<void>((resolve) => socket.once("secureConnect", () => resolve()))
    const start = Date.now()
    const forged = new Message(topic, Buffer.from(`from ${id} as ${node}`), 1, false, null, 0, "", Date.now())
    socket.write(Buffer.concat([encodeHello({ node, startedAt: 1 }), encodePublish([forged], [[]], [])]))
    sent()
    const after = await Promise.race([closed.then(() => Date.now() - start), quiet(ms).then(() => null)])
    socket.destroy()
    return { closedAfter: after }
  }

  it("a certificate the cluster's CA signed for another node cannot say HELLO as n1: n2 closes it, takes none of its frames, and logs it once", async () => {
    const [, n2] = nodes
    const sub = await client(n2!)
    await sub.client.subscribeAsync("certid/#", { qos: 1 })
    const before = n2!.output().length
    for (let i = 0; i < 3; i++) {
      const { closedAfter } = await helloAs("n3", "n1", "certid/forged")
      expect(closedAfter).not.toBeNull()
    }
    await quiet(1000)
    expect(sub.messages.filter((m) => m.topic === "certid/forged")).toEqual([])
    const log = () => n2!.output().slice(before)
    await waitUntil(() => /cluster link from 127\.0\.0\.1: HELLO as n1 refused/.test(log()), 5000, () => `n2's log: ${log()}`)
    expect(log()).toMatch(/cluster link from 127\.0\.0\.1: HELLO as n1 refused: its certificate \(CN n3, subjectAltName DNS:n3\.invalid\) names neither n1's advertise_host 127\.0\.0\.1 nor n1: n1's cluster\.tls_cert_file needs subjectAltName IP:127\.0\.0\.1 or CN=n1; a certificate of another node cannot speak for n1; the same refusal from 127\.0\.0\.1 is not logged again for 10 minutes/)
    expect(count(log(), /HELLO as n1 refused/)).toBe(1)
    expect(n2!.exit()).toBeNull()
  }, 40_000)

  it("a certificate whose CN is the node id links without naming its host (its PUBLISH is delivered)", async () => {
    const [, n2] = nodes
    const sub = await client(n2!)
    await sub.client.subscribeAsync("certid-cn/#", { qos: 1 })
    const { closedAfter } = await helloAs("n3", "n3", "certid-cn/own", 2000)
    expect(closedAfter).toBeNull()
    await waitUntil(() => sub.messages.some((m) => m.topic === "certid-cn/own"), 5000, () => "n3's message, sent as n3")
    expect(sub.messages.find((m) => m.topic === "certid-cn/own")!.payload).toBe("from n3 as n3")
  }, 30_000)

  it("a HELLO as a node that is no member, from a certificate not naming it, waits 3 s for etcd to tell of it, then is refused", async () => {
    const [, n2] = nodes
    const sub = await client(n2!)
    await sub.client.subscribeAsync("certid-ghost/#", { qos: 1 })
    const before = n2!.output().length
    const { closedAfter } = await helloAs("n3", "ghost", "certid-ghost/x")
    expect(closedAfter).not.toBeNull()
    expect(closedAfter!).toBeGreaterThanOrEqual(2900)
    await quiet(500)
    expect(sub.messages).toEqual([])
    expect(n2!.output().slice(before)).toMatch(/HELLO as ghost refused: its certificate \(CN n3, subjectAltName DNS:n3\.invalid\) does not name ghost, and ghost is not a member here: ghost's cluster\.tls_cert_file needs CN=ghost \(or subjectAltName DNS:ghost\), or ghost must be registered in etcd/)
  }, 30_000)

  it("a HELLO as a node that joins etcd while n2 waits is taken, with the frames it sent meanwhile (its certificate names the node's host)", async () => {
    const [, n2] = nodes
    const sub = await client(n2!)
    await sub.client.subscribeAsync("certid-late/#", { qos: 1 })
    const etcdClient = new Etcd3({ hosts: etcd.endpoint })
    const lease = etcdClient.lease(5, { autoKeepAlive: false })
    try {
      let joinedAt = 0
      let takenBeforeJoin = true
      // The member "late" at 127.0.0.1 (as the others would see it) appears 1 s after its HELLO.
      const join = async () => {
        await quiet(1000)
        takenBeforeJoin = sub.messages.some((m) => m.topic === "certid-late/x")
        await lease.put("/rmq/robustmq/nodes/late").value(JSON.stringify({ id: "late", address: "127.0.0.1:1", attributes: { host: "127.0.0.1", link: 1 } }))
        joinedAt = Date.now()
      }
      let joining: Promise<void> = Promise.resolve()
      const { closedAfter } = await helloAs("host", "late", "certid-late/x", 3000, () => (joining = join()))
      await joining
      expect(closedAfter).toBeNull()
      await waitUntil(() => sub.messages.some((m) => m.topic === "certid-late/x"), 5000, () => "the message late sent before it was a member")
      expect(joinedAt).toBeGreaterThan(0)
      expect(takenBeforeJoin).toBe(false)
      expect(n2!.output()).not.toMatch(/HELLO as late refused/)
    } finally {
      await lease.revoke().catch(() => undefined)
      etcdClient.close()
    }
  }, 30_000)

  it("a node whose certificate another CA signed cannot link: nothing it sends is delivered, and both ends log it once", async () => {
    const [n1, n2] = nodes
    const before = nodes.map((n) => n.output().length)
    const rogue = await startNode("rogue", tlsEnv(files.get("rogue")!))
    await waitFor("the rogue among n2's members (etcd lets it join)", async () => (await membersOf(n2!)).some((m) => m.id === "rogue"))
    const sub = await client(n2!)
    await sub.client.subscribeAsync("rogue/#", { qos: 1 })
    const pub1 = await client(n1!)
    await crossed(pub1, sub, "rogue/from-n1")
    const pubRogue = await client(rogue)
    for (let i = 0; i < 20; i++) {
      await pubRogue.client.publishAsync("rogue/from-rogue", `r${i}`, { qos: 1 })
      await quiet(100)
    }
    const since = (i: number, n: BrokerProcess) => n.output().slice(before[i] ?? 0)
    await waitUntil(() => /cluster link to n2 \(127\.0\.0\.1:\d+\) refused: TLS handshake failed \([A-Z_]+: .*\): both nodes need certificates signed by the same cluster\.tls_ca_file/.test(rogue.output()), 10_000, () => `the rogue's log: ${rogue.output()}`)
    await waitUntil(() => /cluster link to rogue \(127\.0\.0\.1:\d+\) refused: TLS handshake failed/.test(since(0, n1!)), 10_000, () => `n1's log: ${since(0, n1!)}`)
    await waitUntil(() => /cluster link from 127\.0\.0\.1: TLS handshake refused/.test(since(1, n2!)), 10_000, () => `n2's log: ${since(1, n2!)}`)
    // Retries go on (every 5 s, and the rogue keeps publishing): still one line per peer.
    for (let i = 0; i < 30; i++) {
      pubRogue.client.publish("rogue/from-rogue", `late${i}`, { qos: 1 })
      await quiet(200)
    }
    expect(sub.messages.filter((m) => m.topic === "rogue/from-rogue")).toEqual([])
    // The rogue did try: it knows n2's route and counts what it could not deliver.
    const rogueLink = await linkOf(rogue)
    expect(rogueLink.forwarded + rogueLink.dropped).toBeGreaterThan(0)
    expect(count(since(0, n1!), /cluster link to rogue /)).toBe(1)
    expect(count(rogue.output(), /cluster link to n2 /)).toBe(1)
    expect(count(rogue.output(), /cluster link to n1 /)).toBe(1)
    expect(nodes.map((n) => n.exit())).toEqual([null, null, null])
    // n1 and n2 still link.
    await pub1.client.publishAsync("rogue/from-n1", "after", { qos: 1 })
    await waitUntil(() => sub.messages.some((m) => m.payload === "after"), 5000, () => "n1's message after the rogue came")
  }, 60_000)

  it("SIGHUP reads the link's certificate files again: the rogue, given a certificate of the cluster's CA in place of its own, links without a restart", async () => {
    const [, n2] = nodes
    const rogue = nodes[2]!
    const theirs = join(dir, "theirs")
    const caA = join(dir, "ours")
    // New files at the same paths: a node certificate of the cluster's CA, and that CA.
    const ca = files.get("n1")!.ca
    const made = await writeNodeCertificate(theirs, "rogue", { cert: ca, key: join(caA, "ca.key") })
    expect(made.cert).toBe(files.get("rogue")!.cert)
    writeFileSync(files.get("rogue")!.ca, readFileSync(ca))
    const before = rogue.output().length
    rogue.child.kill("SIGHUP")
    await waitUntil(() => /cluster: link certificate files reloaded; new links use them/.test(rogue.output().slice(before)), 5000, () => `the reload in the rogue's log: ${rogue.output().slice(before)}`)
    const sub = await client(n2!)
    await sub.client.subscribeAsync("rotated/#", { qos: 1 })
    const pubRogue = await client(rogue)
    // Refused links are tried again every 5 s: the next try handshakes with the new files.
    await crossed(pubRogue, sub, "rotated/from-rogue", 20_000)
    expect(rogue.exit()).toBeNull()
  }, 40_000)

  it("a node without cluster.tls_* cannot link either way, and each side says the other has TLS set differently", async () => {
    const [n1, n2] = nodes
    const before = n1!.output().length
    const plain = await startNode("plain", {})
    await waitFor("the plain node among n2's members", async () => (await membersOf(n2!)).some((m) => m.id === "plain"))
    const sub = await client(n2!)
    await sub.client.subscribeAsync("mixed/#", { qos: 1 })
    const pubPlain = await client(plain)
    for (let i = 0; i < 20; i++) {
      await pubPlain.client.publishAsync("mixed/from-plain", `p${i}`, { qos: 1 })
      await quiet(100)
    }
    await waitUntil(() => /cluster link to plain \(127\.0\.0\.1:\d+\) refused: closed by plain before the TLS handshake finished: is cluster\.tls_\* set on it\?/.test(n1!.output().slice(before)), 10_000, () => `n1's log: ${n1!.output().slice(before)}`)
    await waitUntil(() => /cluster link from 127\.0\.0\.1: a TLS handshake: that node has cluster\.tls_\* set and this one has not/.test(plain.output()), 10_000, () => `the plain node's log: ${plain.output()}`)
    expect(sub.messages.filter((m) => m.topic === "mixed/from-plain")).toEqual([])
    expect(nodes.map((n) => n.exit()).every((e) => e === null)).toBe(true)
  }, 60_000)

  it("a partial cluster.tls_* configuration stops the start, naming the missing key", async () => {
    const f = files.get("n1")!
    const data = mkdtempSync(join(dir, "half-"))
    const started = startBrokerProcess(data, {
      kafkaPort: null,
      args: ["--cluster-etcd", etcd.endpoint, "--node-id", "half", "--advertise-host", "127.0.0.1", "--cluster-port", "0"],
      env: { ROBUSTMQ_CLUSTER_TLS_CERT_FILE: f.cert, ROBUSTMQ_CLUSTER_TLS_KEY_FILE: f.key }
    })
    await expect(started).rejects.toThrow(/the broker exited at start .*cluster\.tls_cert_file and cluster\.tls_key_file are set but cluster\.tls_ca_file is empty: add cluster\.tls_ca_file \(or ROBUSTMQ_CLUSTER_TLS_CA_FILE\)/s)
  }, 30_000)
}, 180_000)

/** A free port whose next one is free too (worker i serves HTTP on base + i). */
const freePair = async (): Promise<number> => {
  for (;;) {
    const p = await freePort()
    const next = await new Promise<boolean>((resolve) => {
      const s = net.createServer()
      s.once("error", () => resolve(false))
      s.listen(p + 1, "127.0.0.1", () => s.close(() => resolve(true)))
    })
    if (p < 65535 && next) return p
  }
}

describe("robustmq start --workers 2 with cluster.tls_* (no etcd: the workers link over TLS at 127.0.0.1)", () => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-workers-tls-"))
  const clients: Array<TestClient> = []
  let primary: ReturnType<typeof spawn> | null = null
  afterAll(async () => {
    for (const c of clients) await c.end(true)
    if (primary !== null && primary.exitCode === null) {
      const gone = new Promise((r) => primary!.once("exit", r))
      primary.kill("SIGTERM")
      const timer = setTimeout(() => primary!.kill("SIGKILL"), 10_000)
      await gone
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }, 30_000)

  it("both workers link over mutual TLS, and a message reaches subscribers on either", async () => {
    const ca = await writeDevCertificates(join(dir, "certs"))
    const node = await writeNodeCertificate(join(dir, "certs"), "box", { cert: ca.caCert, key: ca.caKey })
    const mqttPort = await freePort()
    const httpPort = await freePair()
    let out = ""
    primary = spawn(process.execPath, [mainPath, "start", "--workers", "2", "--mqtt-host", "127.0.0.1", "--mqtt-port", String(mqttPort), "--http-port", String(httpPort), "--data-dir", join(dir, "data")], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env, ROBUSTMQ_HTTP_HOST: "127.0.0.1", ROBUSTMQ_KAFKA_ENABLED: "false", ROBUSTMQ_CLUSTER_NODE_ID: "box",
        ROBUSTMQ_CLUSTER_TLS_CERT_FILE: node.cert, ROBUSTMQ_CLUSTER_TLS_KEY_FILE: node.key, ROBUSTMQ_CLUSTER_TLS_CA_FILE: ca.caCert
      }
    })
    primary.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d))
    primary.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d))
    const members = async (port: number) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/cluster`)
      return ((await res.json()) as { members: ReadonlyArray<unknown> }).members.length
    }
    await waitFor("both workers to see two members", async () => (await members(httpPort)) === 2 && (await members(httpPort + 1)) === 2, 40_000)
    expect(count(out, /cluster: node link on 127\.0\.0\.1:\d+ \(mutual TLS\)/)).toBe(2)
    // node:cluster hands connections out round-robin: the subscribers sit on both workers.
    const subs: Array<TestClient> = []
    for (let i = 0; i < 4; i++) {
      const c = await connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `tsub${i}` })
      clients.push(c)
      subs.push(c)
      await c.client.subscribeAsync("wt/#", { qos: 1 })
    }
    const held = async (port: number) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/cluster`)
      return ((await res.json()) as { members: ReadonlyArray<{ self: boolean; sessions: number | null }> }).members.find((m) => m.self)!.sessions!
    }
    expect(await held(httpPort)).toBeGreaterThan(0)
    expect(await held(httpPort + 1)).toBeGreaterThan(0)
    const pub = await connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: "tpub" })
    clients.push(pub)
    for (const s of subs) await crossed(pub, s, "wt/warm")
    for (let i = 0; i < 20; i++) await pub.client.publishAsync("wt/x", String(i), { qos: 1 })
    for (const s of subs) {
      const got = await received(s, "wt/x", 20)
      expect(got.map((m) => Number(m.payload))).toEqual(Array.from({ length: 20 }, (_, i) => i))
    }
    expect(out).not.toMatch(/cluster link .*refused/)
  }, 90_000)
})

describe("loadLinkTls: all three cluster.tls_* files or none", () => {
  const certs = useCertificates()
  const cluster = (files: Partial<Record<"tlsCertFile" | "tlsKeyFile" | "tlsCaFile", string>>) => ({ ...defaultConfig.cluster, ...files })
  const message = (f: () => unknown) => {
    try {
      f()
    } catch (e) {
      return (e as Error).message
    }
    throw new Error("loadLinkTls did not throw")
  }

  it("none is plain TCP; all three make server options that require a client certificate", () => {
    expect(loadLinkTls(cluster({}))).toBeNull()
    const c = certs.get()
    const made = loadLinkTls(cluster({ tlsCertFile: c.serverCert, tlsKeyFile: c.serverKey, tlsCaFile: c.caCert }))!
    expect(made.server).toMatchObject({ requestCert: true, rejectUnauthorized: true })
    expect(made.client.rejectUnauthorized).toBe(true)
  })

  it("a partial set names the missing key and its env var", () => {
    const c = certs.get()
    expect(message(() => loadLinkTls(cluster({ tlsCertFile: c.serverCert })))).toMatch(
      /^cluster\.tls_cert_file is set but cluster\.tls_key_file is empty: add cluster\.tls_key_file \(or ROBUSTMQ_CLUSTER_TLS_KEY_FILE\)/
    )
    expect(message(() => loadLinkTls(cluster({ tlsCaFile: c.caCert, tlsKeyFile: c.serverKey })))).toMatch(
      /^cluster\.tls_key_file and cluster\.tls_ca_file are set but cluster\.tls_cert_file is empty: add cluster\.tls_cert_file \(or ROBUSTMQ_CLUSTER_TLS_CERT_FILE\)/
    )
  })

  it("an unreadable file and a key of another certificate say what to check", () => {
    const c = certs.get()
    expect(message(() => loadLinkTls(cluster({ tlsCertFile: c.serverCert, tlsKeyFile: c.serverKey, tlsCaFile: "/nonexistent/ca.crt" })))).toBe(
      "cannot read cluster.tls_ca_file /nonexistent/ca.crt (ENOENT): check the path in cluster.tls_ca_file or ROBUSTMQ_CLUSTER_TLS_CA_FILE"
    )
    expect(message(() => loadLinkTls(cluster({ tlsCertFile: c.serverCert, tlsKeyFile: c.clientKey, tlsCaFile: c.caCert })))).toMatch(
      /^the cluster\.tls_\* files .* cannot be used \(.*\): check that they are PEM and that the key belongs to the certificate$/
    )
  })
})

describe("cluster.secret on top of TLS (in process, memory coordination)", () => {
  const certs = useCertificates()
  const nodes: Array<TestBroker> = []
  const clients: Array<TestClient> = []
  let node: { cert: string; key: string } | null = null
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.end(true)
    for (const n of nodes.splice(0)) {
      await n.stop()
      n.cleanup()
    }
  })

  const pair = async (secrets: [string, string]) => {
    const c = certs.get()
    node ??= await writeNodeCertificate(c.dir, "node", { cert: c.caCert, key: c.caKey })
    const { service } = await Effect.runPromise(MemoryCoordination.make)
    for (const [i, secret] of secrets.entries()) {
      nodes.push(await startBroker({ coordination: service, cluster: { nodeId: `t${i + 1}`, secret, tlsCertFile: node.cert, tlsKeyFile: node.key, tlsCaFile: c.caCert } }))
    }
    await waitUntil(() => nodes.every((n) => n.node.members().length === 2), 5000, () => "two members")
    const sub = await connect(nodes[1]!.url)
    clients.push(sub)
    await sub.client.subscribeAsync("both/#", { qos: 1 })
    const pub = await connect(nodes[0]!.url)
    clients.push(pub)
    await pub.client.publishAsync("both/a", "hello", { qos: 1 })
    return sub
  }

  it("nodes with the same certificates and the same secret link and forward", async () => {
    const sub = await pair(["same", "same"])
    const [got] = await sub.waitFor(1)
    expect(got!.payload).toBe("hello")
  })

  it("workers sharing one certificate that names their host by DNS (advertise_host localhost, CN no node id) link", async () => {
    const c = certs.get()
    const shared = await writeNodeCertificate(c.dir, "box-dns", { cert: c.caCert, key: c.caKey }, ["localhost"])
    const { service } = await Effect.runPromise(MemoryCoordination.make)
    for (const id of ["w1", "w2"]) {
      nodes.push(await startBroker({ coordination: service, cluster: { nodeId: id, advertiseHost: "localhost", tlsCertFile: shared.cert, tlsKeyFile: shared.key, tlsCaFile: c.caCert } }))
    }
    await waitUntil(() => nodes.every((n) => n.node.members().length === 2), 5000, () => "two members")
    const sub = await connect(nodes[1]!.url)
    clients.push(sub)
    await sub.client.subscribeAsync("dns/#", { qos: 1 })
    const pub = await connect(nodes[0]!.url)
    clients.push(pub)
    await pub.client.publishAsync("dns/a", "by host", { qos: 1 })
    const [got] = await sub.waitFor(1)
    expect(got!.payload).toBe("by host")
    expect(nodes[1]!.routing.link!.stats.received).toBeGreaterThan(0)
  })

  it("a node with good certificates but another secret is refused: nothing it sends is delivered", async () => {
    const sub = await pair(["mine", "theirs"])
    await quiet(1000)
    expect(sub.messages).toEqual([])
    expect(nodes[1]!.routing.link!.stats.received).toBe(0)
  })
})
