import { EventEmitter } from 'node:events'

/** Who a lifecycle event is about. Never a token. */
export interface ConnectionRef {
  tenantId: string
  userId: string
  appId: string
}

/**
 * What the domain tells the rest of the process (metrics, webhooks, audit):
 * the domain emits, it never waits on a listener. Payloads hold ids and
 * outcomes only, never a token, code, verifier or key.
 */
export interface BrokerEventMap {
  /**
   * A user finished the connect flow (a first connection or a reconnection).
   * `keyId`: the app key that made the connect link (absent for links made before it was kept).
   */
  'connection.created': [ConnectionRef & { keyId?: string }]
  /** OneUp refused the refresh token (`invalid_grant`): the user must connect again. */
  'connection.reauth_required': [ConnectionRef]
  /** A connection was deleted through the API; `actor` is `app:<id>` (with the key it called with) or `admin`. */
  'connection.deleted': [ConnectionRef & { actor: string; keyId?: string }]
  /** One refresh attempt by this replica, with its outcome and duration. */
  refresh: [{ tenantId: string; userId: string; outcome: 'refreshed' | 'reauth_required' | 'failed' | 'superseded'; ms: number; oneupError?: string }]
  /** A caller waited on another replica's refresh (cross-replica lock), and for how long. */
  'refresh.waited': [{ ms: number }]
  /**
   * The connect flow: started, connected, error (OneUp or broker error id), rejected (bad state/cookie).
   * `oneupError`: OneUp's failed answer to the code exchange (its OAuth error id, or `unavailable`).
   */
  flow: [{ stage: 'started' | 'connected' | 'error' | 'rejected'; error?: string; ms?: number; oneupError?: string }]
  /** A hand-out answered: from the store, after a refresh, or not. */
  handout: [{ outcome: 'served' | 'refreshed' | 'not_found' | 'reauth_required' | 'rate_limited' | 'forbidden' | 'failed' }]
  /** OneUp accepted ONEUP_CLIENT_SECRET_PREVIOUS after refusing the current secret. */
  'oneup.previous_secret_used': []
  /** A webhook attempt ended: taken by its receiver, failed (to be retried), or failed for the last time. */
  'webhook.attempt': [{ outcome: 'delivered' | 'failed' | 'given_up' }]
}

/** The broker's event bus; one per app. */
export class BrokerEvents extends EventEmitter<BrokerEventMap> {}
