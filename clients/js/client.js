// The connection: token handling, reconnects, heartbeats, requests matched
// by `ref`, the offline queue, and the routing of server messages to the
// presence store, rooms and notifications. See README.md for the API.
import { Emitter } from './emitter.js'
import { TandemError } from './errors.js'
import { backoffDelay, shouldReconnect } from './backoff.js'
import { PresenceStore } from './presence.js'
import { Notifications } from './notifications.js'
import { Room } from './room.js'
import { SseFallback } from './sse.js'

// Replies that end a request (other messages with the same ref, such as the
// `notification`s of a `notification:sync`, come before the final `ack`).
const FINAL_REPLIES = new Set([
  'ack', 'error', 'heartbeat_ack', 'presence:list', 'presence:viewers',
  'room:users', 'room:members', 'doc:state', 'doc:conflict',
])

const DEFAULTS = {
  requestTimeoutMs: 10000,
  offline: 'queue',
  maxQueue: 100,
  reconnect: { baseMs: 500, maxMs: 15000 },
  heartbeatMs: 25000,
  deadAfterMs: 10000,
  refreshAt: 0.8,
  sse: true,
  sseAfterFailures: 3,
}

export class TandemClient extends Emitter {
  /**
   * @param {object} options see index.d.ts (`TandemClientOptions`)
   */
  constructor(options) {
    super()
    if (!options?.url) throw new TypeError('TandemClient: `url` is required (ws://host/ws)')
    if (options.token === undefined) throw new TypeError('TandemClient: `token` is required')
    this.options = { ...DEFAULTS, ...options, reconnect: { ...DEFAULTS.reconnect, ...options.reconnect } }
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket
    if (!this.WebSocket) throw new TypeError('TandemClient: no WebSocket; pass `WebSocket` (e.g. the ws package)')
    this.httpUrl = options.httpUrl ?? options.url.replace(/^ws/, 'http').replace(/\/ws\/?(\?.*)?$/, '')
    this.state = 'idle'
    this.welcome = null
    this.ws = null
    this.rooms = new Map()
    this.presence = new PresenceStore(this)
    this.notifications = new Notifications(this)
    this._pending = new Map()
    this._queue = []
    this._nextRef = 1
    this._attempt = 0
    this._failures = 0
    this._ready = false
    this._closedByUser = false
    this._timers = new Set()
    this._lastMessageAt = 0
    this._sse = null
  }

  /** Opens the connection; resolves on the first `open` state, rejects on `closed`. */
  connect() {
    if (this.state === 'idle' || this.state === 'closed') {
      this._closedByUser = false
      this._attempt = 0
      this._open()
    }
    if (this.state === 'open') return Promise.resolve(this.welcome)
    return new Promise((resolve, reject) => {
      const off = this.on('state', (s) => {
        if (s.state === 'open') { off(); resolve(this.welcome) }
        else if (s.state === 'closed') { off(); reject(new TandemError('closed', `connection closed (${s.code ?? ''} ${s.reason ?? ''})`)) }
      })
    })
  }

  /** Closes for good (no reconnect). */
  close() {
    this._closedByUser = true
    this._clearTimers()
    this._sse?.stop(); this._sse = null
    const ws = this.ws
    this.ws = null
    if (ws) { detach(ws); try { ws.close(1000) } catch { /* already closed */ } }
    this._failAll('closed', 'client closed')
    for (const item of this._queue.splice(0)) item.reject(new TandemError('closed', 'client closed'))
    for (const room of this.rooms.values()) room._stop()
    this._setState('closed', { code: 1000, reason: 'client closed' })
  }

  /** The current user id (after the first `welcome`). */
  get userId() { return this.welcome?.user_id ?? null }

  /**
   * Sends a request and resolves with its reply (the message carrying the same
   * `ref`), or rejects with a TandemError (`error` from the server with its code,
   * `timeout`, `connection_lost`, `offline`, `queue_full`, `closed`).
   */
  request(type, fields = {}, { timeoutMs } = {}) {
    return new Promise((resolve, reject) => {
      const item = { type, fields, timeoutMs, resolve, reject }
      if (this._ready) return this._transmit(item)
      if (this._closedByUser || this.state === 'closed') return reject(new TandemError('closed', 'client is closed'))
      if (this.options.offline === 'reject') return reject(new TandemError('offline', `not connected; ${type} not sent`))
      if (this._queue.length >= this.options.maxQueue) return reject(new TandemError('queue_full', `offline queue is full (${this.options.maxQueue})`))
      this._queue.push(item)
    })
  }

  /** Sends without a `ref` (no reply); dropped with `false` when not connected. */
  send(type, fields = {}) {
    if (!this._ready) return false
    return this._write({ ...fields, type })
  }

  /** Joins a room (or returns the joined one); kept joined across reconnects. */
  async join(entityType, entityId) {
    const key = roomKey(entityType, entityId)
    let room = this.rooms.get(key)
    if (!room) {
      room = new Room(this, entityType, entityId)
      this.rooms.set(key, room)
    }
    if (!room.joined) {
      if (!this._ready) await this.connect()
      await room._join()
    }
    return room
  }

  // ---- internals ---------------------------------------------------------

  /** Sends now (internal traffic: rejoin, resync, refresh), bypassing the queue. */
  _requestNow(type, fields = {}, { timeoutMs, onMessage } = {}) {
    return new Promise((resolve, reject) => this._transmit({ type, fields, timeoutMs, resolve, reject, onMessage }))
  }

  /**
   * Like _requestNow, but `cb(reply, error)` runs synchronously when the reply
   * is read, before any later message (OT acks must be ordered with ops).
   */
  _requestSync(type, fields, cb) {
    this._transmit({
      type, fields,
      resolve: (m) => cb(m, null), reject: (e) => cb(null, e),
    })
  }

  _transmit(item) {
    if (!this.ws || this.ws.readyState !== 1) {
      return item.reject(new TandemError('connection_lost', 'not connected'))
    }
    const ref = `c${this._nextRef++}`
    const timeout = item.timeoutMs ?? this.options.requestTimeoutMs
    const entry = { ...item }
    entry.timer = this._setTimer(() => {
      this._pending.delete(ref)
      item.reject(new TandemError('timeout', `${item.type}: no reply within ${timeout} ms`))
    }, timeout)
    this._pending.set(ref, entry)
    this._write({ ...item.fields, type: item.type, ref })
  }

  _write(msg) {
    try {
      this.ws.send(JSON.stringify(msg))
      return true
    } catch {
      return false
    }
  }

  async _open() {
    this._clearTimers()
    this._setState(this._attempt === 0 && !this.welcome ? 'connecting' : 'reconnecting', { attempt: this._attempt })
    let token
    try {
      token = await this._token()
    } catch (e) {
      this.emit('error', new TandemError('token', `token function failed: ${e?.message ?? e}`))
      return this._scheduleReconnect(1006, 'token unavailable')
    }
    if (this._closedByUser) return
    this._currentToken = token
    const url = new URL(this.options.url)
    if (this.options.device) url.searchParams.set('device', this.options.device)
    if (this.options.browser) url.searchParams.set('browser', this.options.browser)
    if (this.options.presence) url.searchParams.set('presence', this.options.presence)
    let ws
    try {
      ws = new this.WebSocket(url.toString(), ['bearer', token])
    } catch (e) {
      this.emit('error', e)
      return this._scheduleReconnect(1006, String(e?.message ?? e))
    }
    this.ws = ws
    this._gotWelcome = false
    ws.onmessage = (ev) => this._onFrame(ev.data)
    ws.onclose = (ev) => { if (this.ws === ws) this._onClose(ev.code, ev.reason) }
    ws.onerror = () => { /* onclose follows */ }
  }

  async _token() {
    const t = this.options.token
    return typeof t === 'function' ? await t() : t
  }

  _onFrame(data) {
    this._lastMessageAt = Date.now()
    let msg
    try { msg = JSON.parse(typeof data === 'string' ? data : data.toString()) } catch { return }
    if (msg.type === 'welcome') return this._onWelcome(msg)
    const ref = msg.ref
    const entry = ref != null ? this._pending.get(ref) : undefined
    if (entry) {
      if (FINAL_REPLIES.has(msg.type)) {
        this._pending.delete(ref)
        clearTimeout(entry.timer); this._timers.delete(entry.timer)
        if (msg.type === 'error') entry.reject(new TandemError(msg.code, msg.message, msg))
        else entry.resolve(msg)
      } else entry.onMessage?.(msg)
    }
    this._route(msg)
    this.emit('message', msg)
    this.emit(msg.type, msg)
  }

  _route(msg) {
    const t = msg.type
    if (t.startsWith('presence:')) this.presence._onMessage(msg)
    else if (t === 'notification' || t === 'notification:count') this.notifications._onMessage(msg)
    else if (t === 'activity') this.emit('activity:entry', msg.activity)
    else if (msg.entity_type !== undefined && msg.entity_id !== undefined) {
      this.rooms.get(roomKey(msg.entity_type, msg.entity_id))?._onMessage(msg)
    }
  }

  async _onWelcome(msg) {
    this.welcome = msg
    this._gotWelcome = true
    this._attempt = 0
    this._failures = 0
    this._sse?.stop(); this._sse = null
    this.presence._onWelcome()
    this._scheduleRefresh(msg)
    this._startHeartbeat()
    this.emit('welcome', msg)
    const ws = this.ws
    // Rejoin rooms (and recover their documents), resume notifications, then
    // send what was queued while offline.
    await Promise.allSettled([
      ...[...this.rooms.values()].filter((r) => r._wanted).map((r) => r._join()),
      this.notifications._resume(),
      this.presence._restore(),
    ])
    if (this.ws !== ws) return
    this._ready = true
    this._setState('open', { connectionId: msg.connection_id })
    for (const item of this._queue.splice(0)) this._transmit(item)
  }

  _onClose(code, reason) {
    const hadWelcome = this._gotWelcome
    detach(this.ws)
    this.ws = null
    this._ready = false
    this._clearTimers()
    this._failAll('connection_lost', `connection closed (${code})`)
    for (const room of this.rooms.values()) room._onDisconnect()
    this.emit('disconnect', { code, reason })
    if (this._closedByUser) return
    if (!hadWelcome) this._failures++
    if (this.options.sse && !this._sse && this._failures >= this.options.sseAfterFailures) {
      this._sse = new SseFallback(this)
      this._sse.start()
    }
    if (!shouldReconnect(code, typeof this.options.token === 'function')) {
      this.rooms.forEach((r) => r._stop())
      return this._setState('closed', { code, reason })
    }
    this._scheduleReconnect(code, reason)
  }

  _scheduleReconnect(code, reason) {
    if (this._closedByUser) return
    const delay = backoffDelay(this._attempt++, this.options.reconnect)
    this._setState('reconnecting', { code, reason, attempt: this._attempt, delayMs: delay })
    this._setTimer(() => this._open(), delay)
  }

  /** Drops a link that stopped answering (no message after a heartbeat). */
  _dropDeadLink() {
    const ws = this.ws
    if (!ws) return
    try { ws.close(4000, 'heartbeat timeout') } catch { /* ignore */ }
    this._onClose(4000, 'no reply to heartbeat')
  }

  _startHeartbeat() {
    const every = this.options.heartbeatMs
    if (!every) return
    const tick = () => {
      if (!this.ws) return
      if (Date.now() - this._lastMessageAt >= every) {
        const sentAt = Date.now()
        this._write({ type: 'heartbeat' })
        this._setTimer(() => { if (this._lastMessageAt < sentAt) this._dropDeadLink() }, this.options.deadAfterMs)
      }
      this._setTimer(tick, every)
    }
    this._setTimer(tick, every)
  }

  _scheduleRefresh(welcome) {
    if (typeof this.options.token !== 'function' || !welcome.token_expires_at) return
    const serverNow = Date.parse(welcome.server_time) || Date.now()
    const left = welcome.token_expires_at * 1000 - serverNow
    const delay = Math.max(1000, left * this.options.refreshAt)
    this._setTimer(async () => {
      try {
        const token = await this._token()
        const ack = await this._requestNow('auth:refresh', { token })
        this._currentToken = token
        this._scheduleRefresh({ token_expires_at: ack.data?.token_expires_at, server_time: new Date().toISOString() })
        this.emit('token:refreshed', ack.data)
      } catch (e) {
        this.emit('error', e)
      }
    }, delay)
  }

  _failAll(code, message) {
    for (const [ref, entry] of this._pending) {
      this._pending.delete(ref)
      clearTimeout(entry.timer)
      entry.reject(new TandemError(code, message))
    }
  }

  _setState(state, detail = {}) {
    this.state = state
    this.emit('state', { state, ...detail })
  }

  _setTimer(fn, ms) {
    const t = setTimeout(() => { this._timers.delete(t); fn() }, ms)
    this._timers.add(t)
    return t
  }

  _clearTimers() {
    for (const t of this._timers) clearTimeout(t)
    this._timers.clear()
  }
}

export function roomKey(type, id) { return `${type}\u0000${id}` }

function detach(ws) {
  if (!ws) return
  // onerror stays a no-op, not null: closing a socket that is still
  // connecting makes Node's `ws` emit an error, and an error without a
  // listener is an uncaught exception there (browsers only log it).
  ws.onmessage = null; ws.onclose = null; ws.onerror = () => {}
}
