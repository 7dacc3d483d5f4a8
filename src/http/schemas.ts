import { Type } from 'typebox'

/**
 * `tenant_id` / `user_id`: 1–128 letters, digits and `.` `_` `-` `@` `|` `+`
 * (CONTRACT §3). No `:` (it separates them in bulk `ids`), no braces (they
 * could not escape a Redis hash tag), nothing a URL or a log line would mangle.
 */
export const ID_PATTERN = '^[A-Za-z0-9._@|+-]{1,128}$'
export const TenantId = Type.String({ pattern: ID_PATTERN, description: 'Tenant id: 1-128 of A-Z a-z 0-9 . _ - @ | +' })
export const UserId = Type.String({ pattern: ID_PATTERN, description: 'User id: 1-128 of A-Z a-z 0-9 . _ - @ | +' })

/** The seed's error body. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      status: Type.Integer(),
      code: Type.String(),
      message: Type.String(),
      reason: Type.Optional(Type.String()),
    }),
  },
  { description: 'OneUp-style error: code is stable, message and reason are for people.' },
)

/** `Authorization: Bearer <key>` on app and admin routes. */
export const BearerHeaders = Type.Object({
  authorization: Type.Optional(Type.String({ maxLength: 512, description: 'Bearer <key>' })),
})

/** The bearer credential from an Authorization header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header)
  return match?.[1]
}
