// The tenant roster, kept current from `presence:list` and `presence:diff`.
// Events: `change` (every update, with the user list), `joined`, `left`,
// `update`, `unwatched` (interest mode: a user no longer watched).
import { Emitter } from './emitter.js'

export class PresenceStore extends Emitter {
  constructor(client) {
    super()
    this.client = client
    /** @type {Map<string, object>} user_id → PresenceView */
    this.users = new Map()
    /** `all` (the whole tenant) or `interest` (own user, subscriptions, room members). */
    this.mode = null
    this._subscribed = new Set()
    this._status = null
    this._location = null
  }

  /** Online users, sorted by user id. */
  list() { return [...this.users.values()].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)) }

  get(userId) { return this.users.get(userId) ?? null }

  /** Sets this user's status (`online`, `busy`, `away`); kept across reconnects. */
  async setStatus(status) {
    await this.client.request('presence:status', { status })
    this._status = status
  }

  /** Sets where this connection is in the app; re-sent after reconnects. */
  async setLocation({ page = null, entity_type = null, entity_id = null } = {}) {
    const loc = {}
    if (page != null) loc.page = page
    if (entity_type != null) loc.entity_type = entity_type
    if (entity_id != null) loc.entity_id = entity_id
    this._location = loc
    await this.client.request('presence:location', loc)
  }

  /** Who is viewing an entity (as reported with setLocation). */
  async viewers(entityType, entityId) {
    const reply = await this.client.request('presence:viewers', { entity_type: entityType, entity_id: entityId })
    return reply.users
  }

  /** Asks the server for the roster again. */
  async refresh() {
    await this.client.request('presence:list')
  }

  /** Watches these users' presence (interest mode); kept across reconnects. */
  async subscribe(userIds) {
    const reply = await this.client.request('presence:subscribe', { user_ids: userIds })
    for (const id of userIds) this._subscribed.add(id)
    return reply.data.subscribed
  }

  /** Stops watching these users. */
  async unsubscribe(userIds) {
    const reply = await this.client.request('presence:unsubscribe', { user_ids: userIds })
    for (const id of userIds) this._subscribed.delete(id)
    return reply.data.subscribed
  }

  _onWelcome() {
    // The server sends a fresh list (or, with `presence: 'none'`, diffs of
    // what this connection watches): start from nothing.
    this.users.clear()
  }

  async _restore() {
    if (this._status && this._status !== 'online') {
      await this.client._requestNow('presence:status', { status: this._status }).catch(() => {})
    }
    if (this._location) {
      await this.client._requestNow('presence:location', this._location).catch(() => {})
    }
    const subs = [...this._subscribed]
    for (let i = 0; i < subs.length; i += 100) {
      await this.client._requestNow('presence:subscribe', { user_ids: subs.slice(i, i + 100) }).catch(() => {})
    }
  }

  _onMessage(msg) {
    switch (msg.type) {
      case 'presence:list':
        // Lists and diffs come from one place in order: a list replaces all.
        this.mode = msg.mode
        this.users = new Map(msg.users.map((u) => [u.user_id, u]))
        break
      case 'presence:diff':
        for (const u of msg.joined ?? []) { this.users.set(u.user_id, u); this.emit('joined', u) }
        for (const u of msg.updated ?? []) { this.users.set(u.user_id, u); this.emit('update', u) }
        for (const id of msg.left ?? []) { this.users.delete(id); this.emit('left', id) }
        for (const id of msg.unwatched ?? []) { this.users.delete(id); this.emit('unwatched', id) }
        break
      default:
        return
    }
    this.emit('change', this.list())
  }
}
