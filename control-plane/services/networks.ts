import { notFound } from '../errors.ts'
import type { NetworkRecord, NetworksStore } from '../storage/networks-store.ts'
import { cidrOrThrow } from './cidr.ts'
import { num, object, onlyKeys, str } from './input.ts'
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

  create(body: unknown): NetworkRecord {
    const input = object(body)
    onlyKeys(input, ['cidr', 'latitude', 'longitude', 'label'])
    const n: NetworkRecord = {
      id: newId('n'),
      cidr: cidrOrThrow(input.cidr, 'cidr').text,
      latitude: num(input.latitude, 'latitude', -90, 90),
      longitude: num(input.longitude, 'longitude', -180, 180),
      label: input.label === undefined || input.label === null ? null : str(input.label, 'label', { max: 128 }),
    }
    this.#store.insert(n, this.#now())
    return n
  }

  delete(id: string): void {
    if (!this.#store.delete(id)) throw notFound(`no network has the id "${id}"`)
  }
}
