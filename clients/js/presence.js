// The tenant roster, kept current from presence events. Events: `change`
// (every update, with the user list), `joined`, `left`, `update`.
import { Emitter } from './emitter.js'

export class PresenceStore extends Emitter {
  constructor(client) {
    super()
    this.client = client
    /** @type {Map<string, object>} user_id → PresenceView */
    this.users = new Map()
    this._seen = new Set()
    this._fresh = false
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

  _onWelcome() {
    this._fresh = true
    this._seen.clear()
  }

  async _restore() {
    if (this._status && this._status !== 'online') {
      await this.client._requestNow('presence:status', { status: this._status }).catch(() => {})
    }
    if (this._location) {
      await this.client._requestNow('presence:location', this._location).catch(() => {})
    }
  }

  _onMessage(msg) {
    switch (msg.type) {
      case 'presence:list': {
        if (this._fresh || msg.ref != null) {
          // A snapshot: drop users it does not list, unless an event about
          // them arrived after this connection opened (it may be newer).
          const listed = new Set(msg.users.map((u) => u.user_id))
          for (const id of [...this.users.keys()]) {
            if (!listed.has(id) && !this._seen.has(id)) this.users.delete(id)
          }
          this._fresh = false
        }
        for (const u of msg.users) {
          if (!this._seen.has(u.user_id) || !this.users.has(u.user_id)) this.users.set(u.user_id, u)
        }
        break
      }
      case 'presence:user_joined':
        this._seen.add(msg.user.user_id)
        this.users.set(msg.user.user_id, msg.user)
        this.emit('joined', msg.user)
        break
      case 'presence:update':
        this._seen.add(msg.user.user_id)
        this.users.set(msg.user.user_id, msg.user)
        this.emit('update', msg.user)
        break
      case 'presence:user_left':
        this._seen.add(msg.user_id)
        this.users.delete(msg.user_id)
        this.emit('left', msg.user_id)
        break
      default:
        return
    }
    this.emit('change', this.list())
  }
}
