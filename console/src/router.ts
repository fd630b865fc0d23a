/**
 * Client-side routing over the History API. Console pages live under /console/<page> (the broker
 * answers every such path with index.html); `/` is the overview.
 */
import { useEffect, useState } from "preact/hooks"

const listeners = new Set<() => void>()

export const navigate = (to: string): void => {
  if (to === location.pathname + location.search) return
  history.pushState(null, "", to)
  for (const listener of listeners) listener()
}

window.addEventListener("popstate", () => {
  for (const listener of listeners) listener()
})

/** The current path, re-rendering on navigation. */
export const usePath = (): string => {
  const [path, setPath] = useState(location.pathname)
  useEffect(() => {
    const update = () => setPath(location.pathname)
    listeners.add(update)
    return () => void listeners.delete(update)
  }, [])
  return path
}

/** A click on an in-console link navigates without a page load (modified clicks open tabs as usual). */
export const onLinkClick = (event: MouseEvent): void => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
  const anchor = (event.target as Element | null)?.closest("a")
  const href = anchor?.getAttribute("href")
  if (anchor === null || anchor === undefined || href === null || href === undefined || !href.startsWith("/") || anchor.target !== "") return
  event.preventDefault()
  navigate(href)
}
