import { notFound } from '../../lib/api-error.ts'
import type { NetworkRecord, NetworksStore } from '../storage/networks-store.ts'
import type { NetworkCreate } from '../schemas.ts'
import { newId } from './secrets.ts'

/** Admin-defined networks with a location, for addresses the IP database cannot place (private ranges). */
export class NetworksService {
  readonly #store: NetworksStore
  readonly #now: () => number

  constructor(store: NetworksStore, now: () => number) {
    this.#store = store
    this.#now = now
  }

  list(): NetworkRecord[] {
    return this.#store.list()
  }

  create(input: NetworkCreate): NetworkRecord {
    const n: NetworkRecord = {
      id: newId('n'),
      cidr: input.cidr,
      latitude: input.latitude,
      longitude: input.longitude,
      label: input.label ?? null,
    }
    this.#store.insert(n, this.#now())
    return n
  }

  delete(id: string): void {
    if (!this.#store.delete(id)) throw notFound(`no network has the id "${id}"`)
  }
}
