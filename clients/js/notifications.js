// Notifications: the unread count, the list (by id, no duplicates), live
// events, read marks, and the resume after a reconnect: everything after the
// highest id seen, so nothing is missed and nothing comes twice.
// Events: `notification` (a new one, once per id), `count`, `change`.
import { Emitter } from './emitter.js'

export class Notifications extends Emitter {
  constructor(client) {
    super()
    this.client = client
    /** Unread count from the server (null until the first count). */
    this.unread = null
    /** Highest notification id seen. */
    this.lastId = 0
    /** @type {Map<number, object>} */
    this.items = new Map()
  }

  /** Notifications seen so far, newest first. */
  list() { return [...this.items.values()].sort((a, b) => b.id - a.id) }

  async markRead(id) {
    const ack = await this.client.request('notification:read', { id })
    const n = this.items.get(id)
    if (n && !n.is_read) { n.is_read = true; n.read_at = new Date().toISOString() }
    this._setCount(ack.data?.unread)
    this.emit('change', this.list())
  }

  async markAllRead() {
    const ack = await this.client.request('notification:read', { all: true })
    for (const n of this.items.values()) n.is_read = true
    this._setCount(ack.data?.unread)
    this.emit('change', this.list())
  }

  /** Adds a notification from any source (WebSocket, SSE, REST); true when new. */
  add(n, live) {
    if (!n || typeof n.id !== 'number' || this.items.has(n.id)) return false
    this.items.set(n.id, n)
    if (n.id > this.lastId) this.lastId = n.id
    this.emit('notification', n, { live })
    this.emit('change', this.list())
    return true
  }

  async _resume() {
    for (;;) {
      const ack = await this.client._requestNow('notification:sync', { after_id: this.lastId })
      const data = ack.data ?? {}
      if (typeof data.last_id === 'number' && data.last_id > this.lastId) this.lastId = data.last_id
      if (!data.has_more) break
    }
  }

  _onMessage(msg) {
    if (msg.type === 'notification') this.add(msg.notification, msg.ref == null)
    else if (msg.type === 'notification:count') this._setCount(msg.unread)
  }

  _setCount(unread) {
    if (typeof unread !== 'number' || unread === this.unread) return
    this.unread = unread
    this.emit('count', unread)
  }
}
