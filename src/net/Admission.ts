/**
 * Who may connect, by remote address (issue 9, abuse limits): connections held per address
 * (limits.max_connections_per_ip), new connections per second (limits.max_connect_rate), and
 * failed logins (auth.max_failures within auth.failure_window seconds, after which the address
 * is refused for that long). Plain synchronous bookkeeping, checked once per MQTT CONNECT and
 * once per accepted Kafka connection (one instance for every listener, so both protocols count
 * together); what it holds is bounded by the addresses connected or failing within one window.
 */

export interface AdmissionLimits {
  /** 0: no limit. */
  readonly maxConnectionsPerIp: number
  /** New connections (MQTT CONNECTs, Kafka accepts) per second across the listeners sharing this; 0: no limit. */
  readonly maxConnectRate: number
  /** Failed logins per address within the window before it is refused; 0: never refused. */
  readonly maxFailures: number
  readonly failureWindowMs: number
}

export type Refusal = "per-ip" | "rate" | "banned"

interface Failures {
  count: number
  /** When the first failure of the current window happened. */
  since: number
  /** Refused until then (0: not refused). */
  bannedUntil: number
}

/** One key per address, however the listener's socket spells it (an IPv4 client of a `::` listener). */
const keyOf = (ip: string): string => (ip.startsWith("::ffff:") ? ip.slice(7) : ip)

/** Above this many addresses with failures, the ones whose window and ban are over are dropped. */
const PRUNE_AT = 10_000

export class Admission {
  private readonly connected = new Map<string, number>()
  private readonly failures = new Map<string, Failures>()
  private second = 0
  private inSecond = 0
  /** Refusals since start, by kind (for $SYS). */
  readonly refused = { perIp: 0, rate: 0, banned: 0 }

  /**
   * Whether a limit is kept per address (connections per address, failed logins): only then
   * does a listener read a connection's address at CONNECT (a getpeername call, about 15 µs).
   */
  readonly perAddress: boolean

  constructor(private readonly limits: AdmissionLimits) {
    this.perAddress = limits.maxConnectionsPerIp > 0 || limits.maxFailures > 0
  }

  /** Whether a client from `ip` may connect now, or why not (counted). */
  check(address: string, now: number): Refusal | null {
    const { maxConnectionsPerIp, maxConnectRate } = this.limits
    const ip = keyOf(address)
    if (this.isBanned(ip, now)) return "banned"
    if (maxConnectRate > 0) {
      const second = Math.floor(now / 1000)
      if (second !== this.second) {
        this.second = second
        this.inSecond = 0
      }
      if (++this.inSecond > maxConnectRate) {
        this.refused.rate++
        return "rate"
      }
    }
    if (maxConnectionsPerIp > 0 && (this.connected.get(ip) ?? 0) >= maxConnectionsPerIp) {
      this.refused.perIp++
      return "per-ip"
    }
    return null
  }

  /** Whether `address` is refused for failed logins now (counted); MQTT and Kafka share the count. */
  isBanned(address: string, now: number): boolean {
    if (this.limits.maxFailures === 0) return false
    const f = this.failures.get(keyOf(address))
    if (f === undefined || f.bannedUntil <= now) return false
    this.refused.banned++
    return true
  }

  /** A client from `address` was accepted (pair with `closed`). */
  opened(address: string): void {
    const ip = keyOf(address)
    this.connected.set(ip, (this.connected.get(ip) ?? 0) + 1)
  }

  closed(address: string): void {
    const ip = keyOf(address)
    const n = (this.connected.get(ip) ?? 0) - 1
    if (n <= 0) this.connected.delete(ip)
    else this.connected.set(ip, n)
  }

  /** A failed login from `ip`. True when this one starts a refusal period (log it once). */
  failed(address: string, now: number): boolean {
    const { maxFailures, failureWindowMs } = this.limits
    if (maxFailures === 0) return false
    const ip = keyOf(address)
    let f = this.failures.get(ip)
    if (f === undefined || now - f.since > failureWindowMs) {
      if (this.failures.size >= PRUNE_AT) this.prune(now)
      f = { count: 0, since: now, bannedUntil: 0 }
      this.failures.set(ip, f)
    }
    if (++f.count < maxFailures || f.bannedUntil > now) return false
    f.bannedUntil = now + failureWindowMs
    return true
  }

  private prune(now: number): void {
    const window = this.limits.failureWindowMs
    for (const [ip, f] of this.failures) if (now - f.since > window && f.bannedUntil <= now) this.failures.delete(ip)
  }
}
