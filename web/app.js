// The Tandem demo app: development sign-in, presence, a collaborative
// document (text with live cursors, structured fields, locks), notifications
// and the activity feed. Plain ES modules, served by Tandem at /.
import { TandemClient, bindTextarea, cpToUtf16 } from './client/index.js'

const $ = (id) => document.getElementById(id)
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const initials = (n) => (n || '?').split(/\s+/).map((w) => [...w][0]).join('').slice(0, 2).toUpperCase()

const session = JSON.parse(sessionStorage.getItem('tandem.session') || 'null')
if (!session) showSignIn()
else start(session)

function showSignIn() {
  $('signin').hidden = false
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault()
    const s = { user: $('user').value.trim(), name: $('name').value.trim() || $('user').value.trim(), tenant: $('tenant').value.trim() }
    try {
      await devToken(s)
      sessionStorage.setItem('tandem.session', JSON.stringify(s))
      location.hash = location.hash || '#/doc/welcome'
      location.reload()
    } catch (err) {
      $('signin-error').hidden = false
      $('signin-error').textContent = err.message
    }
  })
}

async function devToken(s) {
  const res = await fetch('/dev/token', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user_id: s.user, tenant_id: s.tenant, name: s.name }),
  })
  const body = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(body.message || `sign-in failed (${res.status})`)
  return body.token
}

async function start(s) {
  for (const id of ['nav', 'status', 'bell-wrap']) $(id).hidden = false
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
  const client = new TandemClient({ url: wsUrl, token: () => devToken(s), device: 'desktop' })
  window.tandem = client // handy in the console and in the browser tests

  client.on('state', ({ state, attempt }) => {
    const pill = $('pill')
    pill.className = `pill pill-${state}`
    pill.textContent = state === 'reconnecting' ? `reconnecting${attempt ? ` (${attempt})` : ''}` : state
  })
  client.presence.on('change', renderAvatars)
  $('status').addEventListener('change', (e) => client.presence.setStatus(e.target.value).catch(toastError))
  setupNotifications(client)
  $('signout').addEventListener('click', () => { sessionStorage.removeItem('tandem.session'); client.close(); location.reload() })

  function renderAvatars() {
    const me = client.userId
    $('avatars').innerHTML = client.presence.list().map((u) => `
      <div class="avatar" style="background:${esc(u.color)}" title="${esc(u.name || u.user_id)} — ${esc(u.status)}${u.user_id === me ? ' (you)' : ''}" data-user="${esc(u.user_id)}">
        ${esc(initials(u.name || u.user_id))}<span class="dot ${esc(u.status)}"></span></div>`).join('')
    const mine = client.presence.get(me)
    if (mine) $('status').value = mine.status
  }

  await client.connect()
  const docId = decodeURIComponent((location.hash.match(/^#\/doc\/(.+)$/) || [])[1] || 'welcome')
  await openDocument(client, docId)
  loadActivity(client)
}

async function openDocument(client, docId) {
  $('doc').hidden = false
  $('doc-title').textContent = docId
  client.presence.setLocation({ page: `/doc/${docId}`, entity_type: 'document', entity_id: docId }).catch(() => {})
  const room = await client.join('document', docId)
  const body = await room.textField('body')
  const ta = $('body')
  bindTextarea(body, ta)

  // Typing indicator: renewed while keys are pressed, stopped after a pause.
  let typingTimer = null
  ta.addEventListener('input', () => {
    if (!typingTimer) room.startTyping('body')
    clearTimeout(typingTimer)
    typingTimer = setTimeout(() => { room.stopTyping(); typingTimer = null }, 2000)
  })
  ta.addEventListener('focus', () => room.startEditing('body'))
  ta.addEventListener('blur', () => room.stopEditing('body'))

  const renderRoom = () => {
    const me = client.userId
    $('members').innerHTML = [...room.members.values()].map((m) =>
      `<li data-user="${esc(m.user_id)}"><span class="swatch" style="background:${esc(m.color)}"></span>${esc(m.name || m.user_id)}${m.user_id === me ? ' <span class="muted">(you)</span>' : ''} <span class="muted">${m.devices.length > 1 ? `${m.devices.length} devices` : ''}</span></li>`).join('')
    const others = (list) => list.filter((t) => t.user_id !== me).map((t) => t.name || t.user_id)
    const typing = others(room.typing)
    $('typing').textContent = typing.length ? `✎ ${typing.join(', ')} ${typing.length > 1 ? 'are' : 'is'} typing…` : ''
    const editing = others(room.editors)
    $('editing').textContent = editing.length ? `Editing: ${editing.join(', ')}` : ''
    renderMirror()
  }
  const renderMirror = () => {
    // The others' carets (labelled) and selections (tinted), drawn in a
    // mirror of the textarea's text laid out the same way behind it.
    const text = body.value
    const points = [] // { at, kind: 'caret' | 'start' | 'end', c }
    for (const c of room.cursors.values()) {
      if (c.user_id === client.userId || c.field !== 'body' || !Number.isInteger(c.position)) continue
      points.push({ at: cpToUtf16(text, c.position), kind: 'caret', c })
      const sel = c.selection
      if (sel && Number.isInteger(sel.start) && Number.isInteger(sel.end) && sel.start !== sel.end) {
        points.push({ at: cpToUtf16(text, Math.min(sel.start, sel.end)), kind: 'start', c })
        points.push({ at: cpToUtf16(text, Math.max(sel.start, sel.end)), kind: 'end', c })
      }
    }
    points.sort((a, b) => a.at - b.at || (a.kind === 'end' ? -1 : 1))
    const active = []
    let html = '', last = 0
    const chunk = (to) => {
      const part = esc(text.slice(last, to))
      const tint = active[active.length - 1]
      html += tint && part ? `<span class="sel" style="background:${esc(tint.color)}40">${part}</span>` : part
      last = to
    }
    for (const p of points) {
      chunk(p.at)
      if (p.kind === 'start') active.push(p.c)
      else if (p.kind === 'end') active.splice(active.indexOf(p.c), 1)
      else html += `<span class="caret" style="border-color:${esc(p.c.color)}" data-user="${esc(p.c.user_id)}"><label style="background:${esc(p.c.color)}">${esc(p.c.name || p.c.user_id)}</label></span>`
    }
    chunk(text.length)
    $('mirror').innerHTML = html + '\n'
    $('mirror').scrollTop = ta.scrollTop
  }
  ta.addEventListener('scroll', () => { $('mirror').scrollTop = ta.scrollTop })
  body.on('change', ({ op }) => {
    // Keep the others' cursors on the right characters until their next move.
    if (op) {
      for (const c of room.cursors.values()) {
        if (Number.isInteger(c.position)) c.position = op.transformIndex(c.position)
        const sel = c.selection
        if (sel && Number.isInteger(sel.start) && Number.isInteger(sel.end)) c.selection = { start: op.transformIndex(sel.start), end: op.transformIndex(sel.end) }
      }
    }
    renderMirror()
  })
  room.on('change', renderRoom)
  room.on('cursor', renderMirror)
  renderRoom()

  // Locks.
  const renderLocks = () => {
    const other = room.lockedBy('body')
    const mine = room.locks.find((l) => l.user_id === client.userId)
    $('lock').textContent = mine ? 'Unlock' : 'Lock'
    $('lock').classList.toggle('held', !!mine)
    $('lock').disabled = !!other
    const hard = other && other.mode === 'hard'
    $('lock-banner').hidden = !hard
    if (hard) $('lock-banner').textContent = `${other.name || other.user_id} has locked this document${other.reason ? ` (${other.reason})` : ''}. You can read along; editing is blocked until they unlock it.`
    ta.readOnly = !!hard
    for (const id of ['amount', 'due']) $(id).disabled = !!hard
  }
  room.on('locks', renderLocks)
  $('lock').addEventListener('click', async () => {
    try {
      if (room.locks.find((l) => l.user_id === client.userId)) await room.unlock()
      else await room.lock({ mode: 'hard', ttlSecs: 30, reason: 'editing' })
    } catch (e) { toastError(e) }
  })
  renderLocks()
  $('undo').addEventListener('click', () => body.undo().catch(toastError))
  $('redo').addEventListener('click', () => body.redo().catch(toastError))
  body.on('error', toastError)

  // Structured fields with conflict resolution.
  const fields = { amount: (v) => (v == null ? '' : String(v)), due: (v) => v ?? '' }
  const renderFields = () => {
    for (const [id, fmt] of Object.entries(fields)) if (document.activeElement !== $(id)) $(id).value = fmt(room.value(id))
  }
  room.on('field', renderFields)
  renderFields()
  for (const id of Object.keys(fields)) {
    $(id).addEventListener('change', async () => {
      const raw = $(id).value
      const value = id === 'amount' ? (raw === '' ? null : Number(raw)) : raw || null
      try {
        const res = await room.setField(id, value)
        if (!res.ok) await resolveConflict(room, id, res.conflict)
        $('field-state').textContent = `Saved ${id}`
      } catch (e) { toastError(e) }
    })
  }
}

async function resolveConflict(room, field, c) {
  $('conflict-text').textContent = `${c.changed_by || 'Someone'} changed “${field}” while you were editing it.`
  $('conflict-mine').textContent = JSON.stringify(c.your_value)
  $('conflict-theirs').textContent = JSON.stringify(c.current_value)
  const dlg = $('conflict')
  dlg.showModal()
  const choice = await new Promise((r) => dlg.addEventListener('close', () => r(dlg.returnValue), { once: true }))
  if (choice === 'mine') await room.setField(field, c.your_value, { version: c.current_version })
  room.emit('field', { field })
}

function setupNotifications(client) {
  const n = client.notifications
  const render = () => {
    $('badge').hidden = !n.unread
    $('badge').textContent = n.unread ?? 0
    $('inbox-list').innerHTML = n.list().slice(0, 30).map((x) => `
      <li class="${x.is_read ? '' : 'unread'}" data-id="${x.id}">${esc(x.title)}<small>${esc(x.message || '')} · ${new Date(x.created_at).toLocaleTimeString()}</small></li>`).join('') ||
      '<li class="muted">Nothing yet</li>'
  }
  n.on('count', render)
  n.on('change', render)
  n.on('notification', (x, { live }) => { if (live) toast(x.title, x.message) })
  $('bell').addEventListener('click', () => { $('inbox').hidden = !$('inbox').hidden })
  $('read-all').addEventListener('click', () => n.markAllRead().catch(toastError))
  $('inbox-list').addEventListener('click', (e) => {
    const id = Number(e.target.closest('li')?.dataset.id)
    if (id) n.markRead(id).catch(toastError)
  })
  render()
}

async function loadActivity(client) {
  const items = []
  const render = () => {
    $('activity').innerHTML = items.slice(0, 20).map((a) =>
      `<li><b>${esc(a.user_name || a.user_id)}</b> ${esc(a.action)} ${esc(a.entity_name || `${a.entity_type} ${a.entity_id}`)} <span class="muted">${new Date(a.created_at).toLocaleTimeString()}</span></li>`).join('') ||
      '<li class="muted">No activity yet</li>'
  }
  client.on('activity:entry', (a) => { if (!items.some((x) => x.id === a.id)) items.unshift(a); render() })
  try {
    const token = await client._token()
    const res = await fetch('/api/v1/activity?limit=20', { headers: { Authorization: `Bearer ${token}` } })
    if (res.ok) for (const a of (await res.json()).activity ?? []) if (!items.some((x) => x.id === a.id)) items.push(a)
  } catch { /* the live feed still works */ }
  render()
}

function toast(title, message) {
  const el = document.createElement('div')
  el.className = 'toast'
  el.innerHTML = `<b>${esc(title)}</b>${message ? `<small>${esc(message)}</small>` : ''}`
  $('toasts').append(el)
  setTimeout(() => el.remove(), 6000)
}

function toastError(e) { toast('Error', e?.message ?? String(e)) }
