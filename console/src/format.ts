/** Small display helpers shared by the pages. */

/** "3m ago" for an ISO time; the time itself when it does not parse. */
export const since = (iso: string | null | undefined): string => {
  if (iso === null || iso === undefined) return "–"
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  const s = Math.max(0, Math.round((Date.now() - t) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`
  return `${Math.floor(s / 86400)}d ago`
}

/** Bytes as B/KiB/MiB. */
export const bytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`

/** The value of the input, select or textarea an event came from. */
export const valueOf = (event: Event): string => (event.target as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement).value
