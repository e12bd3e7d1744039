// A joined room: members, cursors, typing and editing, kept current from
// events and rejoined after every reconnect; plus the room's document
// (text fields, structured fields, locks). Events: `change` (members,
// cursors, typing, editors), `cursor`, `broadcast`, `field`, `conflict`,
// `locks`, `rejoined`, `left`.
import { Emitter } from './emitter.js'
import { TandemError } from './errors.js'
import { TextField } from './text-field.js'

export class Room extends Emitter {
  constructor(client, entityType, entityId) {
    super()
    this.client = client
    this.entityType = entityType
    this.entityId = entityId
    this.joined = false
    this._wanted = true
    /**
     * user_id → MemberView. In a large room (more than the server's
     * `rooms.users_list_max` members) this is the first page read at the
     * join; the server then only counts joins and leaves (`room:count`),
     * and `loadMembers()` reads the whole list again.
     * @type {Map<string, object>}
     */
    this.members = new Map()
    /** Member users in the room, listed or not (the server's `total_users`). */
    this.memberCount = 0
    /** The `after` of the next `room:members` page, while the list is partial. */
    this._membersAfter = null
    /** True once a `room:count` said the list is no longer kept current. */
    this._membersStale = false
    /** @type {Map<string, object>} connection_id → CursorView */
    this.cursors = new Map()
    this.typing = []
    this.editors = []
    /** Locks on the document (`doc:lock_status`). */
    this.locks = []
    /** @type {Map<string, {value:any, version:number, updated_by:string|null}>} */
    this.values = new Map()
    /** @type {Map<string, TextField>} */
    this.texts = new Map()
    this.version = 0
    this._synced = false
    this._editing = new Set()
    this._myLocks = new Map()
    this._joinPromise = null
  }

  get _addr() { return { entity_type: this.entityType, entity_id: this.entityId } }

  /** Leaves the room (and stops rejoining it). */
  async leave() {
    this._wanted = false
    // Read before _stop(), which clears it: a joined room must tell the server.
    const wasJoined = this.joined
    this._stop()
    this.client.rooms.delete(`${this.entityType}\u0000${this.entityId}`)
    if (wasJoined) {
      await this.client.request('room:leave', this._addr).catch((e) => {
        if (e.code !== 'not_in_room' && e.code !== 'connection_lost') throw e
      })
    }
    this.emit('left')
  }

  /**
   * True while `members` is a partial list of a large room, or a snapshot
   * the server no longer keeps current (its joins and leaves are counted).
   */
  get hasMoreMembers() { return this._membersAfter !== null || this._membersStale }

  /**
   * Reads the rest of a large room's members (`room:members`, page by page)
   * into `members`, or all of them again when the list is a stale snapshot;
   * resolves with the map. Costs one request per `limit` members: call it
   * only when the app shows the whole list.
   */
  async loadMembers({ limit = 100 } = {}) {
    if (this._membersStale) {
      this._membersStale = false
      const fresh = new Map()
      let after = null
      do {
        const page = await this.client.request('room:members', after === null ? { ...this._addr, limit } : { ...this._addr, after, limit })
        for (const u of page.users) fresh.set(u.user_id, u)
        this.memberCount = page.total_users ?? this.memberCount
        after = page.next_after ?? null
      } while (after !== null)
      this.members = fresh
      this._membersAfter = null
      this.emit('change', this)
      return this.members
    }
    while (this._membersAfter !== null) {
      const page = await this.client.request('room:members', { ...this._addr, after: this._membersAfter, limit })
      for (const u of page.users) this.members.set(u.user_id, u)
      this.memberCount = page.total_users ?? this.memberCount
      this._membersAfter = page.next_after ?? null
      this.emit('change', this)
    }
    return this.members
  }

  /** Moves this connection's cursor (not sent while offline: cursors are ephemeral). */
  moveCursor(position, selection = null, field = undefined) {
    if (!this.joined) return false
    const msg = { ...this._addr, position, selection }
    if (field !== undefined) msg.field = field
    return this.client.send('cursor:move', msg)
  }

  startTyping(field) {
    if (!this.joined) return false
    return this.client.send('typing:start', field === undefined ? this._addr : { ...this._addr, field })
  }

  stopTyping() { return this.joined && this.client.send('typing:stop', this._addr) }

  /** Marks a field as being edited by this connection (re-sent after rejoin). */
  startEditing(field) {
    this._editing.add(field)
    return this.joined && this.client.send('editing:start', { ...this._addr, field })
  }

  stopEditing(field) {
    this._editing.delete(field)
    return this.joined && this.client.send('editing:stop', { ...this._addr, field })
  }

  broadcast(event, payload = null) {
    return this.client.request('room:broadcast', { ...this._addr, event, payload })
  }

  // ---- document ----------------------------------------------------------

  /** Loads the document state (`doc:sync`); called by textField/setField as needed. */
  async sync() {
    // The reply is applied when it is read (Room._onMessage), in order with ops.
    return this.client.request('doc:sync', this._addr)
  }

  /** The binding of a text field, after the document is loaded. */
  async textField(name) {
    let tf = this.texts.get(name)
    if (!tf) {
      tf = new TextField(this, name)
      tf._needsInit = true
      this.texts.set(name, tf)
    }
    if (tf._needsInit) await this.sync()
    return tf
  }

  /** Structured field value (or undefined). */
  value(field) { return this.values.get(field)?.value }

  /**
   * Sets a structured field. Resolves `{ ok: true }`, or `{ ok: false, conflict }`
   * when someone changed it first (also emitted as `conflict`); resolve by
   * calling setField again with `{ version: conflict.current_version }`.
   */
  async setField(field, value, { version } = {}) {
    if (!this._synced) await this.sync()
    const v = version ?? this.values.get(field)?.version ?? 0
    const reply = await this.client.request('doc:set', { ...this._addr, field, value, version: v })
    if (reply.type === 'doc:conflict') {
      this.values.set(field, { value: reply.current_value, version: reply.current_version, updated_by: reply.changed_by })
      this.emit('conflict', reply)
      return { ok: false, conflict: reply }
    }
    this.values.set(field, { value, version: reply.data.field_version, updated_by: this.client.userId })
    this.version = reply.data.version
    this.emit('field', { field, value, local: true })
    return { ok: true }
  }

  /**
   * Takes (or renews) an edit lock on a field (or the whole entity when
   * `field` is omitted), and keeps renewing it at half its lifetime until
   * unlock(). Rejects with `lock_conflict` when someone else holds it.
   */
  async lock({ field = null, mode = 'soft', ttlSecs = 30, reason = null } = {}) {
    const msg = { ...this._addr, mode, ttl_secs: ttlSecs }
    if (field != null) msg.field = field
    if (reason != null) msg.reason = reason
    const ack = await this.client.request('doc:lock', msg)
    const key = field ?? ''
    clearTimeout(this._myLocks.get(key)?.timer)
    const entry = { msg, timer: null }
    const renew = () => {
      entry.timer = setTimeout(async () => {
        if (!this._myLocks.has(key)) return
        try { await this.client.request('doc:lock', msg) } catch (e) { this.emit('lock:lost', { field, error: e }); this._myLocks.delete(key); return }
        renew()
      }, Math.max(500, ttlSecs * 500))
    }
    this._myLocks.set(key, entry)
    renew()
    return ack.data
  }

  async unlock(field = null) {
    const key = field ?? ''
    clearTimeout(this._myLocks.get(key)?.timer)
    this._myLocks.delete(key)
    const msg = { ...this._addr }
    if (field != null) msg.field = field
    await this.client.request('doc:unlock', msg)
  }

  /** The lock covering a field held by someone else, if any. */
  lockedBy(field) {
    const me = this.client.userId
    return this.locks.find((l) => l.user_id !== me && (l.field == null || l.field === field)) ?? null
  }

  // ---- internals ---------------------------------------------------------

  _join() {
    if (this._joinPromise) return this._joinPromise
    this._joinPromise = (async () => {
      try {
        await this.client._requestNow('room:join', this._addr)
        const rejoin = this._everJoined
        this._everJoined = true
        for (const f of this._editing) this.client._write({ type: 'editing:start', ...this._addr, field: f })
        if (rejoin) await this._recover()
        if (rejoin) this.emit('rejoined')
      } finally {
        this._joinPromise = null
      }
    })()
    return this._joinPromise
  }

  /** After a rejoin: resend in-flight edits, reload the document, renew locks. */
  async _recover() {
    for (const [key, entry] of this._myLocks) {
      try { await this.client._requestNow('doc:lock', entry.msg) } catch (e) {
        this._myLocks.delete(key); clearTimeout(entry.timer)
        this.emit('lock:lost', { field: key || null, error: e })
      }
    }
    if (!this._synced && this.texts.size === 0) return
    await Promise.all([...this.texts.values()].map((t) => t._resend()))
    await this.client._requestNow('doc:sync', this._addr)
  }

  /** Resync after `resync_required` on one field (the edit was not applied). */
  async _resyncField() {
    try {
      await this.client._requestNow('doc:sync', this._addr)
    } catch (e) {
      if (e.code !== 'connection_lost') this.client.emit('error', e)
    }
  }

  _applyState(state) {
    this.version = state.version
    this.values.clear()
    for (const [k, v] of Object.entries(state.values ?? {})) this.values.set(k, v)
    this.locks = state.locks ?? []
    for (const [name, tf] of this.texts) {
      const f = state.fields?.[name] ?? { text: '', revision: 0 }
      if (tf._needsInit) { tf._needsInit = false; tf.recovering = false; tf._init(f.text, f.revision) }
      else if (tf.recovering) tf._rebase(f.text, f.revision)
    }
    this._synced = true
    this.emit('locks', this.locks)
    this.emit('field', { field: null })
  }

  _onDisconnect() {
    this.joined = false
    for (const tf of this.texts.values()) tf._disconnected()
  }

  _stop() {
    for (const e of this._myLocks.values()) clearTimeout(e.timer)
    this._myLocks.clear()
    this.joined = false
  }

  /** One leave: the member (its last device) or one of its devices. */
  _left({ user_id, connection_id, user_left }) {
    if (user_left) this.members.delete(user_id)
    else {
      const m = this.members.get(user_id)
      if (m) m.devices = m.devices.filter((d) => d.connection_id !== connection_id)
    }
    this.cursors.delete(connection_id)
  }

  _onMessage(msg) {
    switch (msg.type) {
      case 'room:users':
        this.joined = true
        this.members = new Map(msg.users.map((u) => [u.user_id, u]))
        this.memberCount = msg.total_users ?? msg.users.length
        this._membersAfter = msg.next_after ?? null
        // Also sent without a ref when a counted room is small again.
        this._membersStale = false
        this.typing = msg.typing ?? []
        this.editors = msg.editors ?? []
        break
      case 'cursor:sync':
        this.cursors = new Map(msg.cursors.map((c) => [c.connection_id, c]))
        break
      case 'room:user_joined':
        this.members.set(msg.user.user_id, msg.user)
        this.memberCount = msg.total_users ?? this.members.size
        break
      case 'room:users_joined':
        // Several joins in one window (may include members already known).
        for (const u of msg.users) this.members.set(u.user_id, u)
        this.memberCount = msg.total_users ?? this.members.size
        break
      case 'room:user_left':
        this.memberCount = msg.total_users ?? this.memberCount
        this._left(msg)
        break
      case 'room:count':
        // A large room: joins and leaves are counted, not listed.
        this.memberCount = msg.total_users
        this._membersStale = true
        break
      case 'room:users_left':
        // Several leaves in one window, in order.
        this.memberCount = msg.total_users ?? this.memberCount
        for (const l of msg.left) this._left(l)
        break
      case 'cursor:update':
        this.cursors.set(msg.cursor.connection_id, msg.cursor)
        this.emit('cursor', msg.cursor)
        break
      case 'cursor:remove':
        this.cursors.delete(msg.connection_id)
        break
      case 'typing:users': this.typing = msg.users; break
      case 'editing:users': this.editors = msg.editors; break
      case 'room:broadcast': this.emit('broadcast', msg); return
      case 'doc:op': this.texts.get(msg.field)?._remote(msg); this.version = msg.version ?? this.version; return
      case 'doc:field':
        this.values.set(msg.field, { value: msg.value, version: msg.field_version, updated_by: msg.user_id })
        this.version = msg.version ?? this.version
        this.emit('field', { field: msg.field, value: msg.value, user_id: msg.user_id })
        return
      case 'doc:state': this._applyState(msg); return
      case 'doc:lock_status': this.locks = msg.locks; this.emit('locks', this.locks); return
      default: return
    }
    this.emit('change', this)
  }
}

export { TandemError }
