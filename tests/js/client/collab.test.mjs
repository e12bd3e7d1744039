// The client library against the real server: edits survive a dropped TCP
// connection and a server restart, three clients converge, rooms are
// rejoined, notifications resume without gap or duplicate, SSE fallback.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { TandemClient } from '../../../clients/js/index.js'
import { TestServer, TcpProxy, token, until, sleep } from '../harness.mjs'

let server
before(async () => { server = await TestServer.start() })
after(async () => { await server?.stop() })

const clients = []
function client(user, tenant, url = server.wsUrl, extra = {}) {
  const c = new TandemClient({
    url, token: async () => token(user, tenant), WebSocket, httpUrl: server.url,
    reconnect: { baseMs: 50, maxMs: 500 }, requestTimeoutMs: 5000, ...extra,
  })
  clients.push(c)
  return c
}
after(() => { for (const c of clients) c.close() })

const EMOJI = ['🌍', '👍🏽', '✨', 'é', 'x', 'y', ' ']
function rnd(n) { return Math.floor(Math.random() * n) }

/** Inserts `word` between two words (or at either end), never inside one. */
function insertRandom(tf, word) {
  const v = tf.value
  const spots = [0]
  for (let i = 0; i < v.length; i++) if (v[i] === '>') spots.push(i + 1)
  tf.insert(spots[rnd(spots.length)], word)
}

async function fieldOf(c, doc) {
  await c.connect()
  const room = await c.join('document', doc)
  return room.textField('body')
}

async function serverText(doc) {
  const c = client('observer', 'acme')
  const tf = await fieldOf(c, doc)
  const v = tf.value
  c.close()
  return v
}

async function editsSurvive(doc, disrupt) {
  const proxy = await TcpProxy.start(server.port)
  const a = client('ann', 'acme', proxy.wsUrl)
  const b = client('ben', 'acme')
  const ta = await fieldOf(a, doc)
  const tb = await fieldOf(b, doc)
  const words = []
  for (let i = 0; i < 40; i++) {
    const w = `<a${i}${EMOJI[i % EMOJI.length]}>`
    words.push(w)
    insertRandom(ta, w)
    if (i % 3 === 0) insertRandom(tb, `<b${i}>`)
    if (i === 20) await disrupt(proxy)
    await sleep(rnd(15))
  }
  await until(() => a.state === 'open' && ta.state === 'synchronized' && tb.state === 'synchronized', { what: 'both synchronized' })
  await until(() => ta.value === tb.value, { what: 'convergence' })
  const final = await serverText(doc)
  assert.equal(final, ta.value)
  // Nothing lost, nothing doubled: the text holds exactly the inserted
  // characters (a recovery may interleave concurrent words, never drop any).
  const all = [...words]
  for (let i = 0; i < 40; i += 3) all.push(`<b${i}>`)
  const sorted = (s) => [...s].sort().join('')
  assert.equal(sorted(final), sorted(all.join('')), `characters of ${final}`)
  for (let i = 0; i < 40; i++) assert.equal(final.match(new RegExp(`<a${i}(?!\\d)`, 'g'))?.length, 1, `<a${i} once in ${final}`)
  await proxy.close()
}

test('a dropped TCP connection mid-edit loses no edit and converges', async () => {
  await editsSurvive('drop', async (proxy) => { proxy.drop() })
})

test('a server restart mid-edit loses no acknowledged edit and converges', async () => {
  await editsSurvive('restart', async () => { await server.restart('SIGTERM') })
})

test('three clients editing random text with emoji converge', async () => {
  const cs = ['ann', 'ben', 'cat'].map((u) => client(u, 'acme'))
  const tfs = await Promise.all(cs.map((c) => fieldOf(c, 'three')))
  for (let i = 0; i < 60; i++) {
    const tf = tfs[i % 3]
    if (tf.value.length > 6 && rnd(3) === 0) {
      const cps = [...tf.value]
      const at = rnd(cps.length - 2)
      tf.delete(cps.slice(0, at).join('').length, cps.slice(at, at + 2).join('').length)
    } else insertRandom(tf, EMOJI[rnd(EMOJI.length)] + EMOJI[rnd(EMOJI.length)])
    if (i % 5 === 0) await sleep(rnd(20))
  }
  await until(() => tfs.every((t) => t.state === 'synchronized') && tfs.every((t) => t.value === tfs[0].value), { what: 'three-way convergence' })
  assert.equal(await serverText('three'), tfs[0].value)
  assert.ok([...tfs[0].value].length > 20)
})

test('rooms are rejoined after a restart, with members and locks', async () => {
  const a = client('ann', 'rooms')
  const b = client('ben', 'rooms')
  await a.connect(); await b.connect()
  const ra = await a.join('invoice', '7')
  const rb = await b.join('invoice', '7')
  await until(() => ra.members.has('ben') && rb.members.has('ann'), { what: 'members' })
  await ra.lock({ field: 'amount', mode: 'hard', ttlSecs: 30 })
  await until(() => rb.lockedBy('amount')?.user_id === 'ann', { what: 'lock seen' })
  const rejoined = new Promise((r) => rb.once('rejoined', r))
  await server.restart('SIGKILL')
  await rejoined
  await until(() => a.state === 'open' && b.state === 'open' && ra.members.has('ben') && rb.members.has('ann'), { what: 'members after rejoin' })
  assert.equal(ra.joined, true)
  // ann still holds the lock (renewed after the rejoin): ben's set is refused.
  await until(() => rb.lockedBy('amount')?.user_id === 'ann', { what: 'lock after rejoin' })
  await assert.rejects(rb.setField('amount', 5), (e) => e.code === 'locked')
  await ra.unlock('amount')
  assert.deepEqual(await rb.setField('amount', 5), { ok: true })
  // A stale version gets a conflict with both values.
  const res = await ra.setField('amount', 9, { version: 0 })
  assert.equal(res.ok, false)
  assert.equal(res.conflict.current_value, 5)
  assert.equal(res.conflict.your_value, 9)
})

test('a large room starts with its first members, counts joins and leaves, and reloads the list', async () => {
  const big = await TestServer.start({ TANDEM__ROOMS__USERS_LIST_MAX: '2', TANDEM__ROOMS__COUNT_INTERVAL_MS: '50' })
  try {
    const cs = ['m1', 'm2', 'm3', 'm4'].map((u) => client(u, 'big', big.wsUrl, { httpUrl: big.url }))
    const rooms = []
    for (const c of cs) { await c.connect(); rooms.push(await c.join('board', '1')) }
    const last = rooms[3]
    // The first two, and itself.
    assert.deepEqual([...last.members.keys()].sort(), ['m1', 'm2', 'm4'])
    assert.equal(last.memberCount, 4)
    assert.equal(last.hasMoreMembers, true)
    await last.loadMembers({ limit: 1 })
    assert.deepEqual([...last.members.keys()].sort(), ['m1', 'm2', 'm3', 'm4'])
    // The first member: m2 listed (the room was small), m3 and m4 counted.
    await until(() => rooms[0].memberCount === 4, { what: 'joins counted' })
    assert.equal(rooms[0].members.has('m4'), false)
    assert.equal(rooms[0].hasMoreMembers, true)
    await rooms[0].loadMembers({ limit: 1 })
    assert.deepEqual([...rooms[0].members.keys()].sort(), ['m1', 'm2', 'm3', 'm4'])
    assert.equal(rooms[0].hasMoreMembers, false)
    await rooms[1].leave()
    await until(() => last.memberCount === 3 && last.hasMoreMembers, { what: 'leave counted' })
    // Down to half of the limit (one user): listed again, with the whole list.
    await rooms[2].leave()
    await rooms[0].leave()
    await until(() => last.memberCount === 1 && !last.hasMoreMembers, { what: 'listed again' })
    assert.deepEqual([...last.members.keys()], ['m4'])
  } finally {
    await big.stop()
  }
})

test('notifications resume after a reconnect without gap or duplicate', async () => {
  const proxy = await TcpProxy.start(server.port)
  const c = client('nina', 'notes', proxy.wsUrl)
  const seen = []
  c.notifications.on('notification', (n) => seen.push(n.id))
  await c.connect()
  const [first] = await server.notify('notes', ['nina'], 'one')
  await until(() => seen.includes(first), { what: 'live notification' })
  proxy.block()
  await until(() => c.state === 'reconnecting', { what: 'reconnecting' })
  const missed = []
  for (let i = 0; i < 5; i++) missed.push(...(await server.notify('notes', ['nina'], `missed ${i}`)))
  proxy.unblock()
  await until(() => c.state === 'open', { what: 'reopened' })
  const [live] = await server.notify('notes', ['nina'], 'after')
  await until(() => seen.includes(live), { what: 'live after reconnect' })
  assert.deepEqual(seen, [first, ...missed, live])
  await until(() => c.notifications.unread === 7, { what: 'unread 7' })
  await c.notifications.markRead(first)
  assert.equal(c.notifications.unread, 6)
  await proxy.close()
})

test('without a WebSocket, notifications still arrive over SSE', async () => {
  const proxy = await TcpProxy.start(server.port)
  proxy.refuseUpgrades = true
  const c = client('sam', 'sse', proxy.wsUrl, { httpUrl: `http://127.0.0.1:${proxy.port}`, sseAfterFailures: 2 })
  const seen = []
  c.notifications.on('notification', (n) => seen.push(n.id))
  c.connect().catch(() => {})
  await until(() => c._sse?.active, { what: 'SSE fallback' })
  // Lets the stream reach the server so the notification arrives live, not
  // in the replay on connect (it must arrive exactly once either way).
  await sleep(300)
  const ids = await server.notify('sse', ['sam'], 'via sse')
  await until(() => seen.includes(ids[0]), { what: 'notification over SSE' })
  // The WebSocket comes back: the fallback stops, nothing is delivered twice.
  proxy.refuseUpgrades = false
  await until(() => c.state === 'open', { ms: 20000, what: 'WebSocket open again' })
  assert.equal(c._sse, null)
  const more = await server.notify('sse', ['sam'], 'via ws')
  await until(() => seen.includes(more[0]), { what: 'notification over WS' })
  assert.deepEqual(seen, [ids[0], more[0]])
  await proxy.close()
})

test('a 4001 with a fixed token string does not reconnect', async () => {
  const c = new TandemClient({ url: server.wsUrl, token: token('tim', 'acme', { ttl: 1 }), WebSocket, reconnect: { baseMs: 50 } })
  clients.push(c)
  await c.connect()
  const closed = await new Promise((r) => c.on('state', (s) => { if (s.state === 'closed') r(s) }))
  assert.equal(closed.code, 4001)
  // Shows that nothing happens: with baseMs 50, a reconnect would have
  // started well within 300 ms.
  await sleep(300)
  assert.equal(c.state, 'closed')
})

test('a silent dead link is detected by the heartbeat and reopened', async () => {
  const proxy = await TcpProxy.start(server.port)
  const c = client('hal', 'acme', proxy.wsUrl, { heartbeatMs: 300, deadAfterMs: 300 })
  const welcome = await c.connect()
  const states = []
  c.on('state', (s) => states.push(s.state))
  proxy.stall()
  await until(() => c.state === 'open' && c.welcome.connection_id !== welcome.connection_id, { what: 'reopened after a dead link' })
  assert.ok(states.includes('reconnecting'))
  await proxy.close()
})

test('a token function is called again for auth:refresh before expiry', async () => {
  let calls = 0
  const c = new TandemClient({
    url: server.wsUrl, WebSocket, refreshAt: 0.2,
    token: async () => { calls++; return token('rae', 'acme', { ttl: 10 + calls }) },
  })
  clients.push(c)
  const welcome = await c.connect()
  const refreshed = await new Promise((r) => c.once('token:refreshed', r))
  assert.equal(calls, 2)
  assert.ok(refreshed.token_expires_at > welcome.token_expires_at)
  assert.equal(c.state, 'open')
})

test('requests made while offline are queued and sent after the reconnect, or rejected by option', async () => {
  const proxy = await TcpProxy.start(server.port)
  const q = client('quin', 'queue', proxy.wsUrl)
  const r = client('rita', 'queue', proxy.wsUrl, { offline: 'reject' })
  await q.connect(); await r.connect()
  const room = await q.join('invoice', 'q1')
  proxy.block()
  await until(() => q.state === 'reconnecting' && r.state === 'reconnecting', { what: 'both offline' })
  const queued = room.setField('note', 'written offline')
  await assert.rejects(r.request('presence:list'), (e) => e.code === 'offline')
  proxy.unblock()
  assert.deepEqual(await queued, { ok: true })
  assert.equal(room.value('note'), 'written offline')
  await proxy.close()
})
