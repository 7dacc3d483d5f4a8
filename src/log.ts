import type { Logger } from 'pino'

/** The part of pino's logger domain code uses (Fastify's request logger fits too). */
export type Log = Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>
