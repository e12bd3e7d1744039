// Fallback when the WebSocket cannot be opened (a proxy that blocks
// upgrades): notifications and activity through GET /api/v1/stream, resumed
// with Last-Event-ID. Reads the stream with fetch, so it works in browsers
// and in Node, and can send the token and Last-Event-ID as headers.
import { backoffDelay } from './backoff.js'

export class SseFallback {
  constructor(client) {
    this.client = client
    this.lastEventId = null
    this.active = false
    this._abort = null
    this._attempt = 0
  }

  start() {
    if (this.active) return
    this.active = true
    this.client.emit('sse', { state: 'open' })
    this._run()
  }

  stop() {
    if (!this.active) return
    this.active = false
    this._abort?.abort()
    this.client.emit('sse', { state: 'stopped' })
  }

  async _run() {
    const fetchFn = this.client.options.fetch ?? globalThis.fetch
    while (this.active) {
      try {
        const token = await this.client._token()
        const notif = this.client.notifications
        // Resume after the highest notification we have, wherever it came from.
        const position = this.lastEventId ?? (notif.lastId ? `n-${notif.lastId}` : null)
        const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }
        if (position) headers['Last-Event-ID'] = position
        this._abort = new AbortController()
        const res = await fetchFn(`${this.client.httpUrl}/api/v1/stream`, { headers, signal: this._abort.signal })
        if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}`)
        this._attempt = 0
        await this._read(res.body)
      } catch (e) {
        if (!this.active) return
        this.client.emit('error', e)
      }
      if (!this.active) return
      await new Promise((r) => setTimeout(r, Math.max(250, backoffDelay(this._attempt++, { baseMs: 1000, maxMs: 10000 }))))
    }
  }

  async _read(body) {
    const reader = body.getReader()
    const decoder = new TextDecoder()
    let buf = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buf += decoder.decode(value, { stream: true })
      let i
      while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i).replace(/^\r?\n\r?\n/, '')
        this._event(block)
      }
    }
  }

  _event(block) {
    let event = 'message', data = '', id = null
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue
      const k = line.indexOf(':')
      const field = k < 0 ? line : line.slice(0, k)
      const val = k < 0 ? '' : line.slice(k + 1).replace(/^ /, '')
      if (field === 'event') event = val
      else if (field === 'data') data += (data ? '\n' : '') + val
      else if (field === 'id') id = val
    }
    if (id) this.lastEventId = id
    if (!data) return
    let payload
    try { payload = JSON.parse(data) } catch { return }
    if (event === 'notification') this.client.notifications.add(payload, true)
    else if (event === 'activity') this.client.emit('activity:entry', payload)
  }
}
