/**
 * A buffer kept beyond the socket read it came from (a retained payload, a produced batch)
 * must not be a small view into the larger read buffer: the view would pin all of it. Copies
 * such a view; returns a buffer that is most of its backing store as it is.
 */
export const unpinned = (view: Buffer): Buffer =>
  view.byteLength < view.buffer.byteLength >>> 1 ? Buffer.from(view) : view
