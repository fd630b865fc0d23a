/**
 * Takes secrets out of event data before the CLI prints it: the `acl` stream stores password
 * hashes (UserAdded, UserPasswordChanged) and SCRAM verifiers (ScramCredentialSet), which are
 * not plain passwords but are enough to attack one offline, so they never reach a terminal or a
 * pasted log. Matches field names, at any depth, so a secret field added later is caught too.
 */

const SECRET_FIELD = /pass(word)?|hash|salt|storedkey|serverkey|clientkey|secret|token|credential|private/i

export const REDACTED = "[redacted]"

/** A copy of `value` with every secret-named field's value replaced by "[redacted]". */
export const redactSecrets = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(redactSecrets)
  if (typeof value !== "object" || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) out[key] = SECRET_FIELD.test(key) ? REDACTED : redactSecrets(field)
  return out
}
