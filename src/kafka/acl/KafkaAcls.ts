/**
 * The Kafka ACL service: the read model of the event stream `kafka-acl`, replayed at boot, and
 * the CreateAcls / DeleteAcls commands, decided by the pure decider, appended with the
 * expected version (one change at a time) and folded in (ControlStream; in a cluster, other
 * nodes' changes too). Every change moves the generation on,
 * so each connection's decision cache (ConnectionAcl) is dropped at its next check.
 *
 * `open` is true while no ACL is stored and `kafka.acl_default = "allow"`: every check is then
 * skipped, one boolean per request. Never runs per record.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { BrokerConfig } from "../../../config/BrokerConfig.js"
import type { AclBinding, AclBindingFilter } from "../../../domain/kafka/acl/AclBinding.js"
import { type CreationResult, decideCreateAcls, decideDeleteAcls, describeAcls, type FilterResult } from "../../../domain/kafka/acl/decide.js"
import { KAFKA_ACL_STREAM, KafkaAclEvent } from "../../../domain/kafka/acl/events.js"
import { emptyKafkaAclState, evolve, type KafkaAclState } from "../../../domain/kafka/acl/KafkaAclState.js"
import type { StorageError, VersionConflict } from "../../../services/errors.js"
import type { EventStore } from "../../../services/EventStore.js"
import * as ControlStream from "../../meta/ControlStream.js"
import { ConnectionAcl } from "./ConnectionAcl.js"

const encodeEvent = Schema.encodeSync(KafkaAclEvent)
const decodeEvent = Schema.decodeUnknownSync(KafkaAclEvent)

/** What ConnectionAcl reads: the rules, their generation and the default. */
export interface KafkaAclSource {
  readonly state: KafkaAclState
  readonly generation: number
  readonly defaultAllow: boolean
  /** No ACL stored and the default allows: nothing to check. */
  readonly open: boolean
}

export interface KafkaAclsService {
  readonly source: KafkaAclSource
  /**
   * The checker of a connection whose principal is `User:<user>` (`ANONYMOUS` when null), from
   * `host`; null for a superuser (no check ever).
   */
  readonly unsafeForConnection: (user: string | null, host: string) => ConnectionAcl | null
  readonly create: (bindings: ReadonlyArray<AclBinding>) => Effect.Effect<ReadonlyArray<CreationResult>, StorageError | VersionConflict>
  readonly delete: (filters: ReadonlyArray<AclBindingFilter>) => Effect.Effect<ReadonlyArray<FilterResult>, StorageError | VersionConflict>
  readonly describe: (filter: AclBindingFilter) => ReadonlyArray<AclBinding>
}

export class KafkaAcls extends Context.Tag("broker/KafkaAcls")<KafkaAcls, KafkaAclsService>() {}

export const ANONYMOUS = "ANONYMOUS"

export const make = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const state = emptyKafkaAclState()
  const defaultAllow = config.kafka.aclDefault === "allow"
  const superusers = new Set(config.auth.superusers)
  const source = { state, generation: 0, defaultAllow, open: true }
  const stream = yield* ControlStream.make<KafkaAclEvent>({
    stream: KAFKA_ACL_STREAM,
    encode: encodeEvent,
    decode: decodeEvent,
    apply: (e) => void evolve(state, e),
    afterBatch: () => {
      source.generation++
      source.open = defaultAllow && state.bindings.size === 0
    }
  })
  source.open = defaultAllow && state.bindings.size === 0

  /** Decides under the stream's permit, appends and folds; logs what changed. */
  const change = <A>(decide: () => { readonly events: ReadonlyArray<KafkaAclEvent>; readonly results: A }) =>
    stream.change(Effect.sync(() => {
      const { events, results } = decide()
      return { events, result: { events, results } }
    })).pipe(
      Effect.tap(({ events }) =>
        events.length === 0 ? Effect.void : Effect.log(`kafka ACLs: ${events.map((e) => `${e.bindings.length} binding(s) ${e._tag === "KafkaAclsCreated" ? "created" : "deleted"}`).join(", ")}; ${state.bindings.size} stored`)),
      Effect.map(({ results }) => results)
    )

  if (state.bindings.size > 0) yield* Effect.log(`kafka: ${state.bindings.size} ACL binding(s), acl_default = ${config.kafka.aclDefault}`)
  if (!defaultAllow && state.bindings.size === 0 && superusers.size === 0) {
    yield* Effect.logWarning(`kafka.acl_default = "deny" with no Kafka ACL stored and no auth.superusers: Kafka clients may do nothing, not even create ACLs; name an admin in auth.superusers`)
  }

  return KafkaAcls.of({
    source,
    unsafeForConnection: (user, host) => {
      if (user !== null && superusers.has(user)) return null
      return new ConnectionAcl(source, `User:${user ?? ANONYMOUS}`, host)
    },
    create: (bindings) => change(() => decideCreateAcls(state, bindings)),
    delete: (filters) => change(() => decideDeleteAcls(state, filters)),
    describe: (filter) => describeAcls(state, filter)
  })
})

export const layer: Layer.Layer<KafkaAcls, StorageError, EventStore | BrokerConfig> = Layer.scoped(KafkaAcls, make)
