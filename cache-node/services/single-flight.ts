/** Concurrent calls with the same key share one run; callers learn whether they joined one already running. */
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>()

  async run(key: string, fn: () => Promise<T>): Promise<{ value: T; joined: boolean }> {
    const running = this.#running.get(key)
    if (running) return { value: await running, joined: true }
    const p = fn().finally(() => {
      if (this.#running.get(key) === p) this.#running.delete(key)
    })
    this.#running.set(key, p)
    return { value: await p, joined: false }
  }
}

/** Reads a whole body of at most `limit` bytes; undefined when it is longer (the body is then destroyed). */
export async function readBody(body: AsyncIterable<unknown>, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const b = chunk as Buffer
    size += b.byteLength
    if (size > limit) return undefined
    chunks.push(b)
  }
  return Buffer.concat(chunks, size)
}
