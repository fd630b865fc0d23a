/**
 * Auth events: the control-plane facts about users and ACL rules, Schema-encoded into the
 * EventStore stream `acl`. They are the diff between the declared files and the read model, so
 * the stream is the history of every user and rule change. A password is only ever stored as
 * its Mosquitto hash string, never in plain text. Version 1 of each.
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

export const AuthEvent = Schema.Union(UserAdded, UserPasswordChanged, UserRemoved, AclReplaced, AclCleared)
export type AuthEvent = typeof AuthEvent.Type
