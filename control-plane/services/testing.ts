import { openDb } from '../storage/db.ts'
import { AssignmentsStore } from '../storage/assignments-store.ts'
import { NetworksStore } from '../storage/networks-store.ts'
import { SitesStore } from '../storage/sites-store.ts'
import { SitesService } from './sites.ts'

/** Stores and the sites service over an in-memory database, for unit tests of the services. */
export function memoryServices(now: () => number = () => Date.parse('2026-11-23T12:00:00Z')) {
  const db = openDb(':memory:')
  const siteStore = new SitesStore(db)
  const sites = new SitesService({ store: siteStore, now, evaluateHealth: () => undefined })
  return { db, siteStore, sites, assignments: new AssignmentsStore(db), networks: new NetworksStore(db), now }
}
