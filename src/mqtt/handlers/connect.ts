/**
 * CONNECT: negotiate (pure rules), admit (per-address limits), refuse banned clients,
 * authenticate (maybe off the event loop), authorize the will, open the session, and CONNACK
 * once what the session needs is stored. Each step is one function handing its result to the
 * next; a refusal ends the chain.
 */
import { randomUUID } from "node:crypto"
import { Deferred, Effect } from "effect"
import { ReasonCode } from "../../../domain/ReasonCode.js"
import type { Identity } from "../../auth/Auth.js"
import type { Refusal } from "../../net/Admission.js"
import { verifiedCommonName } from "../../tls/clientCertificate.js"
import type { IConnectPacket, MqttDecodeError, ProtocolVersion } from "../codec/packets.js"
import { encodeControl } from "../codec/encode.js"
import type { Connection } from "../Connection.js"
import * as debugLines from "../debugLines.js"
import { recheckGrants } from "../regrant.js"
import { refuseBanned } from "./refuseBanned.js"
import { connackProperties, type ConnectSettings, negotiateConnect } from "./negotiateConnect.js"

/** CONNACK reason per admission refusal (v3 gets 3 Server unavailable, or 5 for Banned). */
const ADMISSION_REFUSALS: Record<Refusal, number> = {
  "per-ip": ReasonCode.QuotaExceeded,
  rate: ReasonCode.ConnectionRateExceeded,
  banned: ReasonCode.Banned
}

const newClientId = () => `auto-${randomUUID()}`

export const handleConnect = (conn: Connection, packet: IConnectPacket): void => {
  const ctx = conn.ctx
  const now = Date.now()
  conn.version = (packet.protocolVersion ?? 4) as ProtocolVersion
  ctx.debug?.(debugLines.connectLine(conn.socket, packet))
  // Per-address limits first: a banned or flooding address costs one lookup. The address is read
  // only when such a limit is set ("" otherwise: the connect rate needs none).
  const address = ctx.admission.perAddress ? conn.socket.remoteAddress ?? "" : ""
  const refusal = ctx.admission.check(address, now)
  if (refusal !== null) return conn.refuse(ADMISSION_REFUSALS[refusal])
  const negotiated = negotiateConnect(packet, {
    limits: ctx.config.limits,
    maxKeepalive: ctx.config.mqtt.maxKeepalive,
    connected: ctx.connected,
    now,
    newClientId
  })
  if (negotiated._tag === "Refused") return conn.refuse(negotiated.reason)
  if (negotiated._tag === "Violation") return conn.close()
  // Bans before any password is hashed; checked again in `admit` with the user authentication proved.
  if (refuseBanned(conn, negotiated.settings.clientId, packet.username)) return
  authenticate(conn, negotiated.settings, packet, address)
}

/**
 * [MQTT-3.1.2-2] a CONNECT the codec could not read: an unsupported protocol level gets CONNACK
 * 0x01 (the v3 form every version understands), anything else just the close.
 */
export const handleUndecodableConnect = (conn: Connection, error: MqttDecodeError): void => {
  if (/protocol version|protocol level/i.test(error.message)) {
    conn.writeFrame(encodeControl({ cmd: "connack", returnCode: 1, sessionPresent: false }, 4))
  }
  conn.close()
}

/**
 * Checks the credentials: a PBKDF2 hash or a JWT is verified off the event loop while input
 * waits, in order.
 */
const authenticate = (conn: Connection, settings: ConnectSettings, packet: IConnectPacket, address: string): void => {
  const auth = conn.ctx.auth
  if (auth === null) {
    conn.username = packet.username ?? null // unverified, but what a user-name ban names
    return openSession(conn, settings, address)
  }
  // tls.cn_as_username: a verified client certificate names the user, and is its credential.
  const certified = conn.ctx.config.tls.cnAsUsername ? verifiedCommonName(conn.socket) : null
  const claimant: Claimant = { username: certified ?? packet.username, certified: certified !== null, address }
  if (certified !== null) return admit(conn, settings, claimant, ReasonCode.Success)
  const decided = auth.unsafeAuthenticate(
    claimant.username,
    packet.password,
    (reason, identity) => conn.releaseInput(() => admit(conn, settings, claimant, reason, identity)),
    true // a password that is a JWT is verified as one ([auth.jwt])
  )
  if (decided >= 0) return admit(conn, settings, claimant, decided)
  conn.holdInput()
}

/** Who the CONNECT says it is, before the verdict. */
interface Claimant {
  readonly username: string | undefined
  /** Named by a verified client certificate. */
  readonly certified: boolean
  readonly address: string
}

/**
 * The authentication verdict: refused (counted against the address), or the client's ACL view.
 * An accepted JWT names the user itself and may carry an `acl` claim (`identity`).
 */
const admit = (conn: Connection, settings: ConnectSettings, claimant: Claimant, reason: number, identity?: Identity): void => {
  const mechanism = claimant.certified ? "certificate" : identity !== undefined ? "jwt" : claimant.username === undefined ? "anonymous" : "password"
  if (reason !== ReasonCode.Success) {
    if (reason === ReasonCode.BadUserNameOrPassword || reason === ReasonCode.NotAuthorized) {
      conn.loginFailed(claimant.address)
      conn.ctx.traffic.authFailures[mechanism]++
    }
    return conn.refuse(reason)
  }
  conn.ctx.traffic.authSuccesses[mechanism]++
  const auth = conn.ctx.auth!
  const username = identity?.username ?? claimant.username
  // A certificate or a token may name another user than the CONNECT did; a ban may have come meanwhile.
  if (refuseBanned(conn, settings.clientId, username)) return
  const acl = auth.unsafeClientAcl(username, settings.clientId, claimant.certified, identity)
  // A will the client could not publish itself is refused with the CONNECT.
  if (settings.will !== null && acl !== null && !acl.mayPublish(settings.will.message.topic)) return conn.refuse(ReasonCode.NotAuthorized)
  conn.acl = acl
  if (acl !== null) auth.unsafeWatchAcl(conn)
  if (username !== undefined) {
    conn.username = username
    auth.unsafeTrack(username, conn)
  }
  openSession(conn, settings, claimant.address)
}

/** How long a CONNECT waits for a starting cluster node to join before it is refused with 0x88. */
const JOIN_WAIT = "10 seconds"

/**
 * In a cluster the session is claimed first (input waits): it may live on another node, which
 * hands it over; when etcd cannot say who holds it, the CONNECT is refused with 0x88 (v3: 3).
 */
const openSession = (conn: Connection, settings: ConnectSettings, address: string): void => {
  const engine = conn.ctx.engine
  const remote = engine.remote
  if (remote === null && engine.joining !== null) {
    // Not joined yet: wait for it (bounded), then claim; still not joined: 0x88, the client retries.
    let joined = false
    const join = Deferred.await(engine.joining).pipe(Effect.timeout(JOIN_WAIT), Effect.map(() => void (joined = true)), Effect.catchAll(() => Effect.void))
    return conn.runControl(join, () => (joined ? openSession(conn, settings, address) : conn.refuse(ReasonCode.ServerUnavailable)))
  }
  if (remote === null) return openHere(conn, settings, address)
  let claimed = false
  conn.runControl(Effect.map(remote.claimSession(settings.clientId, settings.cleanStart), (ok) => void (claimed = ok)), () =>
    claimed ? openHere(conn, settings, address) : conn.refuse(ReasonCode.ServerUnavailable))
}

/**
 * Opens (or resumes, or takes over) the session. A resumed session's subscriptions were granted
 * to an earlier connection, maybe under other rules or another user: this client's ACL decides
 * before anything is sent, once what the session owes is back in memory (`persist` reads it).
 */
const openHere = (conn: Connection, settings: ConnectSettings, address: string): void => {
  conn.adopt(settings)
  const opened = conn.ctx.engine.openSession(settings.clientId, settings.cleanStart, settings.expiry, settings.will, (old) => (old as Connection).takeOver())
  conn.established(opened.session, address)
  const regrant = conn.acl === null ? null : Effect.suspend(() => recheckGrants(conn, opened.session) ?? Effect.void)
  const persist = regrant === null ? opened.persist : opened.persist === null ? regrant : Effect.zipRight(opened.persist, regrant)
  const connack = (stored: boolean) => {
    if (conn.closing) return
    if (!stored) {
      conn.connack(ReasonCode.UnspecifiedError, false)
      return conn.close()
    }
    conn.connack(ReasonCode.Success, opened.sessionPresent, connackProperties(settings, conn.ctx.config.limits))
    opened.session.resume(conn)
  }
  if (persist === null) connack(true)
  else conn.runControl(persist, connack)
}
