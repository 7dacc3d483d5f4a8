import { escapeHtml } from './pages.js'

/**
 * `/docs`: the OpenAPI document rendered as one plain HTML page on the server.
 * No script (the broker's CSP allows none, and a reference needs none), no
 * external asset; any OpenAPI tool can load `/openapi.json` for the rest.
 */

type Json = Record<string, unknown>

/** The parts of an OpenAPI 3.1 document the page reads. */
export interface OpenApiDocument {
  info: { title: string; version: string; description?: string }
  servers?: Array<{ url: string }>
  tags?: Array<{ name: string; description?: string }>
  paths: Record<string, Record<string, Operation>>
}

interface Operation {
  summary?: string
  description?: string
  tags?: string[]
  security?: Array<Record<string, unknown>>
  parameters?: Array<{ name: string; in: string; required?: boolean; description?: string; schema?: Json }>
  requestBody?: { content: Record<string, { schema?: Json; example?: unknown }> }
  responses: Record<string, { description?: string; content?: Record<string, { schema?: Json; example?: unknown }> }>
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const

/** The whole page. Every value from the document is escaped. */
export function renderDocsPage(doc: OpenApiDocument): string {
  const server = doc.servers?.[0]?.url ?? ''
  const all = Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map((method) => ({ path, method, op: item[method] as Operation })),
  )
  // In the order of the document's tags: an integration's order.
  const operations = (doc.tags ?? []).flatMap((tag) => all.filter(({ op }) => op.tags?.[0] === tag.name))
  const sections = (doc.tags ?? []).map((tag) => {
    const ops = operations.filter(({ op }) => op.tags?.[0] === tag.name)
    if (ops.length === 0) return ''
    return `<section>
    <h2 id="tag-${escapeHtml(tag.name)}">${escapeHtml(tag.name)}</h2>
    ${tag.description === undefined ? '' : `<p class="muted">${escapeHtml(tag.description)}</p>`}
    ${ops.map(({ path, method, op }) => renderOperation(server, path, method, op)).join('\n')}
  </section>`
  })
  const toc = operations
    .map(({ path, method, op }) => `<li><a href="#${anchor(method, path)}"><span class="verb ${method}">${method.toUpperCase()}</span> ${escapeHtml(path)}</a>${op.summary === undefined ? '' : ` <span class="muted">${escapeHtml(op.summary)}</span>`}</li>`)
    .join('\n      ')
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${escapeHtml(doc.info.title)}: API reference</title>
    <link rel="stylesheet" href="/assets/broker.css">
    <link rel="stylesheet" href="/assets/docs.css">
  </head>
  <body class="docs">
    <main>
      <header>
        <h1>${escapeHtml(doc.info.title)} <small>API ${escapeHtml(doc.info.version)}</small></h1>
        ${markdown(doc.info.description ?? '')}
        <p>The same, for tools: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Base URL: <code>${escapeHtml(server)}</code>.</p>
      </header>
      <nav aria-label="Endpoints"><ul class="toc">
      ${toc}
      </ul></nav>
      ${sections.join('\n')}
    </main>
  </body>
</html>
`
}

const anchor = (method: string, path: string): string => `${method}-${path.replace(/[^A-Za-z0-9]+/g, '-')}`

function renderOperation(server: string, path: string, method: string, op: Operation): string {
  const auth = op.security?.[0] === undefined ? 'none' : Object.keys(op.security[0]).join(', ')
  const parameters = (op.parameters ?? []).filter((p) => !(p.in === 'header' && p.name.toLowerCase() === 'authorization'))
  const body = op.requestBody?.content['application/json']
  const responses = Object.entries(op.responses)
  return `<article id="${anchor(method, path)}">
      <h3><span class="verb ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>
      ${op.summary === undefined ? '' : `<p><strong>${escapeHtml(op.summary)}</strong></p>`}
      ${op.description === undefined ? '' : markdown(op.description)}
      <p class="muted">Authorization: ${auth === 'none' ? 'none' : `<code>Bearer</code> ${escapeHtml(auth)}`}</p>
      ${parameters.length === 0 ? '' : fieldTable('Parameters', parameters.map((p) => ({ name: `${p.name} (${p.in})`, required: p.required === true, schema: p.schema ?? {}, description: p.description })))}
      ${body?.schema === undefined ? '' : fieldTable('Body (JSON)', fields(body.schema))}
      ${example(server, path, method, op, body?.example)}
      <h4>Answers</h4>
      <dl class="answers">
        ${responses.map(([status, response]) => renderResponse(status, response)).join('\n        ')}
      </dl>
    </article>`
}

function renderResponse(status: string, response: Operation['responses'][string]): string {
  const media = Object.values(response.content ?? {})[0]
  // Errors all have the one shape shown at the top: their codes say enough here.
  const example = status.startsWith('2') ? media?.example : undefined
  const shown = example === undefined ? '' : `<pre>${escapeHtml(JSON.stringify(example, null, 2))}</pre>`
  return `<dt><span class="status s${escapeHtml(status.charAt(0))}">${escapeHtml(status)}</span></dt><dd>${inline(response.description ?? '')}${shown}</dd>`
}

/** The curl line for an operation, with its example body. */
function example(server: string, path: string, method: string, op: Operation, body: unknown): string {
  const key = op.security?.[0] === undefined ? undefined : Object.keys(op.security[0])[0] === 'adminKey' ? '$ADMIN_KEY' : '$APP_KEY'
  const parts = [`curl -s${method === 'get' ? '' : ` -X ${method.toUpperCase()}`} ${server}${path.replace(/\{(\w+)\}/g, ':$1')}`]
  if (key !== undefined) parts.push(`-H "authorization: Bearer ${key}"`)
  if (body !== undefined) parts.push(`-H 'content-type: application/json' -d '${JSON.stringify(body)}'`)
  return `<h4>Example</h4><pre>${escapeHtml(parts.join(' \\\n  '))}</pre>`
}

interface Field {
  name: string
  required: boolean
  schema: Json
  description: string | undefined
}

function fields(schema: Json): Field[] {
  const properties = (schema.properties ?? {}) as Record<string, Json>
  const required = new Set((schema.required ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => ({
    name,
    required: required.has(name),
    schema: property,
    description: typeof property.description === 'string' ? property.description : undefined,
  }))
}

function fieldTable(title: string, rows: Field[]): string {
  return `<h4>${escapeHtml(title)}</h4>
      <table>
        <thead><tr><th>field</th><th>type</th><th>meaning</th></tr></thead>
        <tbody>
        ${rows.map((row) => `<tr><td><code>${escapeHtml(row.name)}</code>${row.required ? '' : ' <span class="muted">optional</span>'}</td><td>${escapeHtml(describe(row.schema))}</td><td>${inline(row.description ?? '')}</td></tr>`).join('\n        ')}
        </tbody>
      </table>`
}

/** A JSON Schema in a few words: type and constraints. */
export function describe(schema: Json): string {
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : typeof schema.type === 'string' ? schema.type : 'any'
  const parts = [type === 'array' && typeof schema.items === 'object' ? `array of ${describe(schema.items as Json)}` : type]
  if (schema.const !== undefined) parts.push(`= ${JSON.stringify(schema.const)}`)
  if (Array.isArray(schema.enum)) parts.push(`one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`)
  if (typeof schema.format === 'string') parts.push(schema.format)
  if (typeof schema.minLength === 'number' || typeof schema.maxLength === 'number') parts.push(`length ${schema.minLength ?? 0}–${schema.maxLength ?? '∞'}`)
  if (typeof schema.minimum === 'number' || typeof schema.maximum === 'number') parts.push(`${schema.minimum ?? '−∞'}–${schema.maximum ?? '∞'}`)
  if (typeof schema.minItems === 'number' || typeof schema.maxItems === 'number') parts.push(`${schema.minItems ?? 0}–${schema.maxItems ?? '∞'} items`)
  if (typeof schema.pattern === 'string') parts.push(`pattern ${schema.pattern}`)
  return parts.join(', ')
}

/**
 * The little Markdown the document's descriptions use: paragraphs, `code`, and
 * pipe tables. Escaped first, so nothing in them can become markup.
 */
export function markdown(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((block) => {
      const lines = block.split('\n')
      if (lines.length >= 2 && lines.every((line) => line.startsWith('|'))) {
        const cells = (line: string) => line.replace(/^\||\|$/g, '').split('|').map((cell) => inline(cell.trim()))
        const [head, , ...body] = lines
        return `<table><thead><tr>${cells(head ?? '').map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>${body
          .map((line) => `<tr>${cells(line).map((c) => `<td>${c}</td>`).join('')}</tr>`)
          .join('')}</tbody></table>`
      }
      return `<p>${inline(block)}</p>`
    })
    .join('\n')
}

const inline = (text: string): string => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>')

/** The page's own styles, served at `/assets/docs.css`, on top of the broker's. */
export const DOCS_STYLESHEET = `body.docs{display:block;padding:0;background:#f4f5f7}
.docs main{max-width:60rem;margin:0 auto;padding:1.5rem 1rem 4rem}
.docs header,.docs section,.docs nav{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.06);padding:1.25rem 1.5rem;margin-bottom:1.25rem}
.docs h1 small{font-size:.9rem;font-weight:400;color:#5a6275}
.docs h2{text-transform:capitalize;margin:0 0 .25rem;font-size:1.3rem}
.docs h3{font-size:1.05rem;margin:0 0 .5rem;word-break:break-all}
.docs h4{font-size:.95rem;margin:1rem 0 .35rem}
.docs article{border-top:1px solid #e3e6ec;padding-top:1rem;margin-top:1rem}
.docs table{border-collapse:collapse;width:100%;font-size:.9rem;display:block;overflow-x:auto}
.docs th,.docs td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #e3e6ec}
.docs pre{background:#1d2330;color:#e8ebf1;padding:.75rem;border-radius:8px;overflow-x:auto;font-size:.85rem;margin:.35rem 0}
.docs code{font-size:.9em;background:#eef0f4;padding:0 .25rem;border-radius:4px}
.docs pre code{background:none;padding:0}
.docs .muted{color:#5a6275}
.docs .toc{list-style:none;margin:0;padding:0}
.docs .toc li{padding:.2rem 0}
.docs .verb{display:inline-block;min-width:4.2rem;font:600 .75rem/1.6 ui-monospace,monospace;text-align:center;border-radius:4px;color:#fff;background:#5a6275}
.docs .verb.get{background:#1f8a4c}.docs .verb.post{background:#2f6fde}.docs .verb.delete{background:#c8372d}
.docs .answers{display:grid;grid-template-columns:max-content 1fr;gap:.4rem .75rem;align-items:baseline}
.docs .answers dd{margin:0;min-width:0}
.docs .status{font:600 .85rem ui-monospace,monospace;padding:0 .35rem;border-radius:4px;background:#e8ebf1}
.docs .status.s2{background:#d8f0e2}.docs .status.s3{background:#e0e9fb}.docs .status.s4{background:#fdecd2}.docs .status.s5{background:#fde8e8}
`
