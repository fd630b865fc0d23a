/**
 * Kafka ACL events, Schema-encoded into the EventStore stream `kafka-acl`: the bindings
 * CreateAcls added and DeleteAcls removed, so the stream is the history of every ACL change.
 * Version 1 of each.
 */
import { Schema } from "effect"
import { AclBinding } from "./AclBinding.js"

export const KAFKA_ACL_STREAM = "kafka-acl"

export class KafkaAclsCreated extends Schema.TaggedClass<KafkaAclsCreated>()("KafkaAclsCreated", {
  bindings: Schema.Array(AclBinding)
}) {}

export class KafkaAclsDeleted extends Schema.TaggedClass<KafkaAclsDeleted>()("KafkaAclsDeleted", {
  bindings: Schema.Array(AclBinding)
}) {}

export const KafkaAclEvent = Schema.Union(KafkaAclsCreated, KafkaAclsDeleted)
export type KafkaAclEvent = typeof KafkaAclEvent.Type
