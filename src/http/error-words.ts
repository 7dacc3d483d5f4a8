import { oneUpErrorId } from '../oneup/error-id.js'

/**
 * Plain words for what can end a connect flow, for the people it happens to:
 * the broker's own pages and the demo app say the same thing. Keys are the
 * error ids of the callback (OneUp's, RFC 6749 §4.1.2.1, and the broker's).
 */
const WORDS: Record<string, string> = {
  access_denied: 'You chose not to allow access, so nothing was connected.',
  oneup_unavailable: 'OneUp could not be reached. Please try again in a few minutes.',
  temporarily_unavailable: 'OneUp is busy right now. Please try again in a few minutes.',
  server_error: 'OneUp had a problem and could not finish. Please try again in a few minutes.',
  invalid_grant: 'The sign-in took too long or was already used. Please start again from the app.',
  no_refresh_token: 'OneUp did not grant lasting access, so nothing was connected.',
  link_used: 'This connect link was already used or has expired, so nothing was connected. Please start again from the app.',
  link_revoked: 'This connect link is no longer valid, so nothing was connected. Please start again from the app.',
  invalid_callback: 'OneUp sent you back without an answer. Please start again from the app.',
  store_unavailable: 'Something went wrong on our side while connecting. Please start again from the app in a moment.',
  login_required: 'You were not signed in to OneUp. Please start again from the app.',
  consent_required: 'OneUp needs your consent to connect. Please start again from the app.',
}

/** What to tell a person about a flow that ended with `error`. Never repeats more than a snake_case id. */
export function flowErrorWords(error: string): string {
  return WORDS[error] ?? `OneUp refused the connection (${oneUpErrorId(error)}).`
}

/** OneUp's own words are only worth adding when ours do not already say it all. */
export const showsOneUpWords = (error: string): boolean => error !== 'oneup_unavailable' && error !== 'access_denied' && error !== 'store_unavailable'

/** The connect link page: unknown, expired or already used (the broker cannot tell which, on purpose). */
export const EXPIRED_LINK = {
  title: 'This link has expired',
  paragraphs: [
    'Connect links work for 30 minutes, and only until they have connected an account once.',
    'Go back to the app and press Connect again to get a new one.',
  ],
}
