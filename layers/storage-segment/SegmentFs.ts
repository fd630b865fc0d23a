/**
 * Every file-system call the segment store makes, behind one small interface, so tests can put
 * a file layer underneath that fails writes (ENOSPC, EIO) or forgets what was not fsynced (a
 * simulated power loss: test/storage/FaultyFs.ts). `nodeFs` is the real thing and the default;
 * the store never imports node:fs itself.
 */
import * as Fs from "node:fs/promises"

/** An open segment or index file: the FileHandle calls the store uses. */
export interface SegmentFile {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>
  writev(buffers: ReadonlyArray<Uint8Array>, position: number): Promise<{ bytesWritten: number }>
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>
  truncate(length: number): Promise<void>
  datasync(): Promise<void>
  stat(): Promise<{ readonly size: number }>
  close(): Promise<void>
}

export interface DirEntry {
  readonly name: string
  readonly isDirectory: boolean
}

export interface SegmentFs {
  /** "r": read only; "r+": read and write an existing file; "wx+": create, failing if it exists. */
  open(path: string, flags: "r" | "r+" | "wx+"): Promise<SegmentFile>
  readdir(dir: string): Promise<ReadonlyArray<DirEntry>>
  mkdir(dir: string): Promise<void>
  unlink(path: string): Promise<void>
  rename(from: string, to: string): Promise<void>
  /** Removes a directory tree; nothing when it is missing. */
  rmTree(path: string): Promise<void>
  readFile(path: string): Promise<Buffer>
  writeFile(path: string, data: Uint8Array | string): Promise<void>
  truncate(path: string, length: number): Promise<void>
  /** fsyncs a directory, so the entries created or renamed in it survive a power loss. */
  syncDir(dir: string): Promise<void>
}

export const nodeFs: SegmentFs = {
  open: (path, flags) => Fs.open(path, flags),
  readdir: async (dir) =>
    (await Fs.readdir(dir, { withFileTypes: true })).map((e) => ({ name: e.name, isDirectory: e.isDirectory() })),
  mkdir: async (dir) => {
    await Fs.mkdir(dir, { recursive: true })
  },
  unlink: (path) => Fs.unlink(path),
  rename: (from, to) => Fs.rename(from, to),
  rmTree: (path) => Fs.rm(path, { recursive: true, force: true }),
  readFile: (path) => Fs.readFile(path),
  writeFile: (path, data) => Fs.writeFile(path, data),
  truncate: (path, length) => Fs.truncate(path, length),
  syncDir: async (dir) => {
    const fh = await Fs.open(dir, "r")
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
  }
}

/** Unlinks `path`; a file already gone is fine. */
export const unlinkQuiet = (fs: SegmentFs, path: string): Promise<void> =>
  fs.unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw e
  })
