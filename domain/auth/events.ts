/**
 * Auth events: the control-plane facts about users and ACL rules, Schema-encoded into the
 * EventStore stream `acl`. They are the diff between the declared files and the read model, so
 * the stream is the history of every user and rule change. A password is only ever stored as
 * its Mosquitto hash string, and for SCRAM as its verifier, never in plain text. Version 1 of each.
 */
import { Schema } from "effect"
import { AclRule } from "./AclRule.js"

export const ACL_STREAM = "acl"

export class UserAdded extends Schema.TaggedClass<UserAdded>()("UserAdded", {
  username: Schema.String,
  passwordHash: Schema.String
}) {}

export class UserPasswordChanged extends Schema.TaggedClass<UserPasswordChanged>()("UserPasswordChanged", {
  username: Schema.String,
  passwordHash: Schema.String
}) {}

export class UserRemoved extends Schema.TaggedClass<UserRemoved>()("UserRemoved", {
  username: Schema.String
}) {}

/** The whole ordered rule list from now on. */
export class AclReplaced extends Schema.TaggedClass<AclReplaced>()("AclReplaced", {
  rules: Schema.Array(AclRule)
}) {}

/** No ACL file is configured any more: every client may publish and subscribe anywhere. */
export class AclCleared extends Schema.TaggedClass<AclCleared>()("AclCleared", {}) {}


/** The SCRAM mechanisms with stored verifiers (Kafka's two, KIP-84). */
export const ScramMechanism = Schema.Literal("SCRAM-SHA-256", "SCRAM-SHA-512")
export type ScramMechanism = typeof ScramMechanism.Type

/**
 * A user's SCRAM verifier for one mechanism is new or changed (`robustmq passwd` wrote it
 * beside the password line): base64 salt, StoredKey and ServerKey, never the password, the
 * salted password or the ClientKey. Version 1.
 */
export class ScramCredentialSet extends Schema.TaggedClass<ScramCredentialSet>()("ScramCredentialSet", {
  username: Schema.String,
  mechanism: ScramMechanism,
  iterations: Schema.Int,
  salt: Schema.String,
  storedKey: Schema.String,
  serverKey: Schema.String
}) {}

/** The user can no longer use this SCRAM mechanism (removed, or its password changed elsewhere). Version 1. */
export class ScramCredentialRemoved extends Schema.TaggedClass<ScramCredentialRemoved>()("ScramCredentialRemoved", {
  username: Schema.String,
  mechanism: ScramMechanism
}) {}

export const AuthEvent = Schema.Union(UserAdded, UserPasswordChanged, UserRemoved, AclReplaced, AclCleared, ScramCredentialSet, ScramCredentialRemoved)
export type AuthEvent = typeof AuthEvent.Type
