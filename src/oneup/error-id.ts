/**
 * OneUp's error ids (RFC 6749 §4.1.2.1 and §5.2: `invalid_grant`, `access_denied`…)
 * are short snake_case words. Anything else in that place came from a broken or
 * hostile answer: it is replaced, never repeated to an app, a browser, an event
 * or a log. The one rule for every place that passes such an id on.
 */
export function isOneUpErrorId(id: unknown): id is string {
  return typeof id === 'string' && /^[a-z0-9_]{1,64}$/.test(id)
}

/** The id as OneUp sent it when it is one (see {@link isOneUpErrorId}), else `oneup_error`. */
export function oneUpErrorId(id: unknown): string {
  return isOneUpErrorId(id) ? id : 'oneup_error'
}
