import { createHash } from 'node:crypto'

/** A OneUp user as `GET /v1/me` shows it. */
export interface SandboxUser {
  id: number
  username: string
  name: string
  email: string
}

/** What a typed username must look like on the login page. */
export const USERNAME_PATTERN = /^[a-z0-9._-]{1,64}$/

/** The users offered with one click on the login page. */
export const FEATURED_USERS: readonly SandboxUser[] = Object.freeze([
  { id: 1, username: 'alice', name: 'Alice Martin', email: 'alice@sandbox.example' },
  { id: 2, username: 'bob', name: 'Bob Nguyen', email: 'bob@sandbox.example' },
  { id: 3, username: 'carol', name: 'Carol Diaz', email: 'carol@sandbox.example' },
])

/**
 * The user behind a username. Any well-formed username is a user: its profile is derived
 * from the name alone, so typed users cost no memory and keep their id across restarts.
 */
export function userFor(username: string): SandboxUser {
  const featured = FEATURED_USERS.find((user) => user.username === username)
  if (featured) return featured
  const digest = createHash('sha256').update(username).digest()
  return {
    id: 1000 + (digest.readUInt32BE(0) % 1_000_000_000),
    username,
    name: username,
    email: `${username}@sandbox.example`,
  }
}
