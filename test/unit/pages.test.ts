import t from 'tap'
import { escapeHtml, renderPage } from '../../src/http/pages.js'

const HOSTILE = `<script>alert("x")</script><img src=x onerror='y'>&amp;`

t.test('every value put on a page is escaped: title, paragraphs and link', async (t) => {
  const page = renderPage({ title: HOSTILE, paragraphs: [HOSTILE, 'plain'], tone: 'error', link: { href: `javascript:"${HOSTILE}`, text: HOSTILE } })
  t.notMatch(page, /<script|<img|onerror='|href="javascript:"/)
  t.match(page, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/)
  t.match(page, /&amp;amp;/, 'an entity is shown as typed, not decoded')
  t.notMatch(page, /<script|\sstyle=/, 'no inline script or style of the broker\'s own')
})

t.test('a link is shown only for an http(s) URL or a path of the broker', async (t) => {
  const withLink = (href: string) => renderPage({ title: 't', paragraphs: [], tone: 'ok', link: { href, text: 'back' } })
  for (const href of ['https://app.example.com/x?a=1&b=2', 'http://localhost:3000/', '/connect/x']) t.match(withLink(href), /class="button"/, href)
  for (const href of ['javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,x', '//evil.example.com', '/\\evil.example.com', 'vbscript:x', ' javascript:x']) {
    t.notMatch(withLink(href), /class="button"/, href)
  }
})

t.test('escapeHtml covers the five characters that matter in content and attributes', async (t) => {
  t.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&quot;&#39;')
})
