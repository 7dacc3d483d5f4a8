/** One HTML form as the browser would see it. */
export interface ParsedForm {
  action: string
  fields: Record<string, string>
  buttons: Array<{ name: string; value: string }>
}

/** Parses the forms of a page with a few regular expressions: enough for the sandbox's pages. */
export function parseForms(html: string): ParsedForm[] {
  const forms: ParsedForm[] = []
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const action = attribute(match[1] ?? '', 'action') ?? ''
    const inner = match[2] ?? ''
    const fields: Record<string, string> = {}
    for (const input of inner.matchAll(/<input\b([^>]*)>/g)) {
      const name = attribute(input[1] ?? '', 'name')
      if (name !== undefined) fields[name] = attribute(input[1] ?? '', 'value') ?? ''
    }
    const buttons: ParsedForm['buttons'] = []
    for (const button of inner.matchAll(/<button\b([^>]*)>/g)) {
      const name = attribute(button[1] ?? '', 'name')
      if (name !== undefined) buttons.push({ name, value: attribute(button[1] ?? '', 'value') ?? '' })
    }
    forms.push({ action, fields, buttons })
  }
  return forms
}

function attribute(attributes: string, name: string): string | undefined {
  const found = attributes.match(new RegExp(`\\b${name}="([^"]*)"`))
  return found?.[1] === undefined ? undefined : unescapeHtml(found[1])
}

function unescapeHtml(text: string): string {
  return text
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&')
}
