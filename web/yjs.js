// The Yjs page: a Y.Text bound to a textarea through the stock y-websocket
// provider (vendored in web/vendor by scripts/vendor-web.mjs).
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const $ = (id) => document.getElementById(id)
const session = JSON.parse(sessionStorage.getItem('tandem.session') || 'null')
if (!session) $('signin-hint').hidden = false
else start(session)

async function devToken(s) {
  const res = await fetch('/dev/token', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user_id: s.user, tenant_id: s.tenant, name: s.name }),
  })
  if (!res.ok) throw new Error(`sign-in failed (${res.status})`)
  return (await res.json()).token
}

async function start(s) {
  const name = decodeURIComponent(location.hash.slice(1)) || 'notes'
  $('title').textContent = `Yjs: ${name}`
  const doc = new Y.Doc()
  const text = doc.getText('content')
  const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/yjs`
  const provider = new WebsocketProvider(wsBase, name, doc, { params: { token: await devToken(s) } })
  // A fresh token for every reconnect.
  provider.on('connection-close', async () => { try { provider.params.token = await devToken(s) } catch { /* retried */ } })
  provider.on('status', ({ status }) => {
    $('pill').className = `pill pill-${status === 'connected' ? 'open' : 'reconnecting'}`
    $('pill').textContent = status
  })
  const color = `hsl(${[...s.user].reduce((h, c) => h * 31 + c.charCodeAt(0), 7) % 360} 65% 45%)`
  provider.awareness.setLocalStateField('user', { name: s.name || s.user, color })
  provider.awareness.on('change', () => {
    $('peers').innerHTML = [...provider.awareness.getStates().values()].filter((st) => st.user)
      .map((st) => `<div class="avatar" style="background:${st.user.color}" title="${st.user.name}">${st.user.name.slice(0, 2).toUpperCase()}</div>`).join('')
  })

  const ta = $('text')
  const render = () => {
    if (ta.value === text.toString()) return
    const start = ta.selectionStart, end = ta.selectionEnd
    ta.value = text.toString()
    ta.setSelectionRange(start, end)
  }
  text.observe(render)
  provider.on('sync', render)
  // Local input: replace the changed middle part (common prefix and suffix kept).
  ta.addEventListener('input', () => {
    const old = text.toString(), now = ta.value
    let p = 0
    while (p < old.length && p < now.length && old[p] === now[p]) p++
    let q = 0
    while (q < old.length - p && q < now.length - p && old[old.length - 1 - q] === now[now.length - 1 - q]) q++
    doc.transact(() => {
      if (old.length - p - q > 0) text.delete(p, old.length - p - q)
      if (now.length - p - q > 0) text.insert(p, now.slice(p, now.length - q))
    })
  })
}
