/**
 * IP bans: an address or CIDR range (IPv4 or IPv6) parsed into its normal form, and a matcher
 * over node:net's BlockList, which does the prefix arithmetic and treats an IPv4-mapped IPv6
 * address (`::ffff:10.0.0.1`, how a dual-stack listener sees an IPv4 client) as the IPv4 one.
 * Pure: a value in, a value or a readable refusal out.
 */
import { BlockList, isIP } from "node:net"

export interface AddressRange {
  /** Normal form: lower case, no prefix for a single address, an IPv4-mapped single address as IPv4. */
  readonly value: string
  readonly family: "ipv4" | "ipv6"
  readonly address: string
  /** 32 or 128 for a single address. */
  readonly prefix: number
}

const MAPPED = "::ffff:"

/** `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`, `::1`: the range, or why it is not one. */
export const parseAddressRange = (text: string): AddressRange | string => {
  const trimmed = text.trim().toLowerCase()
  const slash = trimmed.indexOf("/")
  let address = slash < 0 ? trimmed : trimmed.slice(0, slash)
  const version = isIP(address)
  if (version === 0 || address.includes("%")) {
    return `"${text}" is not an IP address or CIDR range: give one like 192.0.2.7, 10.0.0.0/8 or 2001:db8::/32`
  }
  const bits = version === 4 ? 32 : 128
  let prefix = bits
  if (slash >= 0) {
    const digits = trimmed.slice(slash + 1)
    prefix = /^\d{1,3}$/.test(digits) ? Number(digits) : -1
    if (prefix < 0 || prefix > bits) return `"${text}": the prefix length after "/" must be 0 to ${bits} for an IPv${version} range`
  }
  if (prefix === bits && version === 6 && address.startsWith(MAPPED) && isIP(address.slice(MAPPED.length)) === 4) {
    address = address.slice(MAPPED.length)
    return { value: address, family: "ipv4", address, prefix: 32 }
  }
  const family = version === 4 ? "ipv4" : "ipv6"
  return { value: prefix === bits ? address : `${address}/${prefix}`, family, address, prefix }
}

/** Whether an address falls in any of the ranges. */
export type AddressMatcher = (address: string) => boolean

const never: AddressMatcher = () => false

export const addressMatcher = (ranges: Iterable<AddressRange>): AddressMatcher => {
  const list = new BlockList()
  let empty = true
  for (const r of ranges) {
    if (r.prefix === (r.family === "ipv4" ? 32 : 128)) list.addAddress(r.address, r.family)
    else list.addSubnet(r.address, r.prefix, r.family)
    empty = false
  }
  if (empty) return never
  return (address) => {
    const version = isIP(address)
    return version !== 0 && list.check(address, version === 4 ? "ipv4" : "ipv6")
  }
}
