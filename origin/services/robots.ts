import { isValidName } from '../../oci/reference.ts'
import { ApiError } from '../../lib/api-error.ts'
import type { Robot } from '../storage/access-store.ts'
import { ROBOT_PREFIX } from './auth.ts'
import {
  allow,
  requirePassword,
  assertComponent,
  audit,
  iso,
  pageOf,
  signedIn,
  type AccountServiceDeps,
  type Page,
} from './common.ts'
import { ALL_ACTIONS, type Caller } from './permissions.ts'

/** Entries a robot's permission list may have. */
export const MAX_ROBOT_PERMISSIONS = 100

export interface RobotPermission {
  /** A repository of the robot's namespace, or `<namespace>[/<path>]/*` for every repository under that prefix. */
  repository: string
  actions: string[]
}

export interface RobotView {
  /** The login name: `robot$<namespace>+<name>`. */
  name: string
  namespace: string
  description: string
  permissions: RobotPermission[]
  createdAt: string
  createdBy: string
  expiresAt: string | null
  lastUsedAt: string | null
  disabled: boolean
}

export interface NewRobot {
  name: string
  description?: string
  expiresAt?: number | null
  permissions: RobotPermission[]
}

/** What the robots service works with. */
export type RobotsDeps = AccountServiceDeps

/**
 * Robot accounts: credentials for automation that belong to a namespace and may do exactly what their permission
 * list says there, nothing more. Those who administer the namespace manage them; the secret is shown once.
 */
export class RobotsService {
  readonly #d: RobotsDeps

  constructor(deps: RobotsDeps) {
    this.#d = deps
  }

  list(caller: Caller, namespace: string, last: string, limit: number): Page<RobotView> {
    this.#authorize(caller, namespace)
    const page = pageOf(this.#d.access.robotsIn(namespace), (r) => r.name, last, limit)
    return { items: page.items.map(view), next: page.next }
  }

  get(caller: Caller, namespace: string, name: string): RobotView {
    this.#authorize(caller, namespace)
    return view(this.#robot(namespace, name))
  }

  /** Creates a robot; the returned secret is its password and is never shown again. */
  create(caller: Caller, namespace: string, input: NewRobot): { robot: RobotView; secret: string } {
    const p = this.#authorize(caller, namespace)
    requirePassword(caller, 'creating a robot account')
    assertComponent(input.name, 'robot name')
    const permissions = checkPermissions(namespace, input.permissions)
    if (input.expiresAt != null && input.expiresAt <= this.#d.now())
      throw new ApiError('BAD_REQUEST', 'expiresAt must be in the future')
    if (this.#d.access.robot(fullName(namespace, input.name))) {
      throw new ApiError('CONFLICT', `${namespace} already has a robot named ${input.name}`)
    }
    const { name, secret } = this.#d.auth.createRobot({
      namespace,
      name: input.name,
      description: input.description ?? '',
      permissions,
      createdBy: p.name,
      expiresAt: input.expiresAt ?? null,
    })
    const robot = this.#d.access.robot(name)!
    audit(this.#d.events, caller, 'robot.create', 'robot', name, { permissions, expiresAt: iso(robot.expiresAt) })
    return { robot: view(robot), secret }
  }

  delete(caller: Caller, namespace: string, name: string): void {
    this.#authorize(caller, namespace)
    const robot = this.#robot(namespace, name)
    this.#d.access.deleteRobot(robot.name)
    audit(this.#d.events, caller, 'robot.delete', 'robot', robot.name)
  }

  #authorize(caller: Caller, namespace: string) {
    const p = signedIn(caller)
    const ns = this.#d.accounts.byName(namespace)
    if (!ns) throw new ApiError('NOT_FOUND', `no user or organization named "${namespace.slice(0, 100)}"`)
    allow(
      this.#d.permissions.canAdminNamespace(p, namespace),
      `only those who administer ${namespace} manage its robots`,
    )
    return p
  }

  #robot(namespace: string, name: string): Robot {
    const robot = this.#d.access.robot(fullName(namespace, name))
    if (!robot) throw new ApiError('NOT_FOUND', `${namespace} has no robot named "${name.slice(0, 100)}"`)
    return robot
  }
}

function fullName(namespace: string, name: string): string {
  return `${ROBOT_PREFIX}${namespace}+${name}`
}

/** Each entry names the robot's own namespace and known actions; duplicates are refused rather than merged. */
function checkPermissions(namespace: string, list: RobotPermission[]): RobotPermission[] {
  if (list.length === 0)
    throw new ApiError(
      'BAD_REQUEST',
      'a robot needs at least one permission: [{ "repository": "<ns>/<name>", "actions": ["pull"] }]',
    )
  if (list.length > MAX_ROBOT_PERMISSIONS)
    throw new ApiError('BAD_REQUEST', `a robot may have at most ${MAX_ROBOT_PERMISSIONS} permissions`)
  const seen = new Set<string>()
  return list.map(({ repository, actions }) => {
    const prefix = repository.endsWith('/*') ? repository.slice(0, -2) : undefined
    const name = prefix ?? repository
    const inNamespace =
      prefix === undefined ? name.startsWith(`${namespace}/`) : name === namespace || name.startsWith(`${namespace}/`)
    if (!isValidName(name) || !inNamespace) {
      throw new ApiError(
        'BAD_REQUEST',
        `"${repository.slice(0, 200)}" is not a repository of ${namespace} (nor "${namespace}/*")`,
      )
    }
    if (seen.has(repository)) throw new ApiError('BAD_REQUEST', `${repository} is listed twice`)
    seen.add(repository)
    const unknown = actions.filter((a) => !(ALL_ACTIONS as readonly string[]).includes(a))
    if (actions.length === 0 || unknown.length > 0) {
      throw new ApiError(
        'BAD_REQUEST',
        `actions for ${repository} must be some of ${ALL_ACTIONS.join(', ')}${unknown.length ? `, not ${unknown.join(', ')}` : ''}`,
      )
    }
    return { repository, actions: ALL_ACTIONS.filter((a) => actions.includes(a)) }
  })
}

function view(r: Robot): RobotView {
  return {
    name: r.name,
    namespace: r.namespace,
    description: r.description,
    permissions: r.permissions,
    createdAt: iso(r.createdAt),
    createdBy: r.createdBy,
    expiresAt: iso(r.expiresAt),
    lastUsedAt: iso(r.lastUsedAt),
    disabled: r.disabled,
  }
}
