/**
 * The few HTML pages the broker itself shows to end users: plain, escaped,
 * no script, styled by one stylesheet served from the broker (strict CSP).
 */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for HTML content and attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c)

/**
 * Headers every broker page carries. The security headers (CSP, Referrer-Policy,
 * frame and sniffing rules) come from helmet for every answer: see
 * `security-headers.ts`, their one source.
 */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
} as const

export interface PageContent {
  title: string
  /** Plain text paragraphs; escaped here. */
  paragraphs: string[]
  tone: 'ok' | 'error'
  /** A way back to the app, when one is known. */
  link?: { href: string; text: string }
}

/** Only http(s) URLs and same-site paths become links: never `javascript:`, `data:` or `//host`. */
const isSafeHref = (href: string): boolean => /^(https?:\/\/|\/(?![/\\]))/i.test(href)

/** A complete page. Every value is escaped; a link that is not http(s) or a path is left out. */
export function renderPage(content: PageContent): string {
  const paragraphs = content.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n      ')
  const link = content.link === undefined || !isSafeHref(content.link.href) ? '' : `\n      <p><a class="button" href="${escapeHtml(content.link.href)}">${escapeHtml(content.link.text)}</a></p>`
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${escapeHtml(content.title)}</title>
    <link rel="stylesheet" href="/assets/broker.css">
  </head>
  <body>
    <main class="card ${content.tone}">
      <h1>${escapeHtml(content.title)}</h1>
      ${paragraphs}${link}
    </main>
  </body>
</html>
`
}

export const STYLESHEET = `*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f4f5f7;color:#1d2330;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding:1rem}
.card{background:#fff;max-width:32rem;width:100%;padding:2rem;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);border-top:6px solid #2f6fde}
.card.error{border-top-color:#c8372d}
.card.ok{border-top-color:#1f8a4c}
h1{font-size:1.4rem;margin:0 0 1rem}
p{margin:.5rem 0}
a.button{display:inline-block;margin-top:1rem;padding:.6rem 1.2rem;border-radius:8px;background:#2f6fde;color:#fff;text-decoration:none}
a.button:focus,a.button:hover{background:#2458b3}
`
