// A real yjs + y-websocket client for tests/yjs.rs.
//
// Usage: node yjs_client.mjs '<json>' where the JSON holds
//   mode:      "write" | "read" | "edit" | "awareness"
//   url:       the endpoint, e.g. ws://127.0.0.1:PORT/yjs (the provider appends /ROOM?token=...)
//   room:      the document name
//   token:     the JWT, sent as ?token= like a browser would
//   text:      (write) text appended to the Y.Text "content"
//   prefix, inserts, expect: (edit) insert `${prefix}${i};` at position 0 `inserts` times,
//              then wait until every string in `expect` is in the text
//   peerUrl:   (write, awareness) where the second client connects; default url
//              (another node of a cluster)
//   timeoutMs: give up (exit 2) after this long; default 10000
// Prints one JSON line with the result and exits 0.

import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

const cfg = JSON.parse(process.argv[2])
const timeoutMs = cfg.timeoutMs ?? 10000

const fail = (message) => {
  console.error(`yjs_client (${cfg.mode}): ${message}`)
  process.exit(2)
}
setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs).unref()

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Connects a fresh Y.Doc and resolves once the first sync finished. */
const connect = (room = cfg.room, token = cfg.token, url = cfg.url) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket,
    params: { token },
    disableBc: true,
    maxBackoffTime: 200
  })
  provider.on('connection-close', (event) => {
    if (event && event.code !== 1000 && event.code !== 1005 && !provider._tandemClosing) {
      console.error(`socket closed: ${event.code} ${event.reason ?? ''}`)
    }
  })
  const synced = new Promise((resolve) => {
    provider.once('sync', (isSynced) => isSynced && resolve())
  })
  return { doc, provider, text: doc.getText('content'), synced }
}

/** Resolves when `check()` holds, re-checking on every change of `doc`. */
const until = (doc, check) => new Promise((resolve) => {
  if (check()) return resolve()
  const onUpdate = () => {
    if (check()) {
      doc.off('update', onUpdate)
      resolve()
    }
  }
  doc.on('update', onUpdate)
})

/** Resolves once `doc` has seen no update for `ms`. */
const quiet = async (doc, ms) => {
  let last = Date.now()
  const bump = () => { last = Date.now() }
  doc.on('update', bump)
  while (Date.now() - last < ms) await sleep(ms / 4)
  doc.off('update', bump)
}

const close = (...clients) => {
  for (const c of clients) {
    c.provider._tandemClosing = true
    c.provider.destroy()
  }
}

const done = (result) => {
  console.log(JSON.stringify(result))
  process.exit(0)
}

const modes = {
  // Append text, then prove the server holds it: a second, fresh client must see it.
  async write () {
    const a = connect()
    await a.synced
    a.text.insert(a.text.length, cfg.text)
    const b = connect(cfg.room, cfg.token, cfg.peerUrl ?? cfg.url)
    await b.synced
    await until(b.doc, () => b.text.toString().includes(cfg.text))
    const text = b.text.toString()
    close(a, b)
    done({ text })
  },

  async read () {
    const a = connect()
    await a.synced
    const text = a.text.toString()
    close(a)
    done({ text })
  },

  // Concurrent edits at position 0; converge on every expected contribution.
  async edit () {
    const a = connect()
    await a.synced
    for (let i = 1; i <= cfg.inserts; i++) {
      a.text.insert(0, `${cfg.prefix}${i};`)
      await sleep(10)
    }
    await until(a.doc, () => cfg.expect.every((s) => a.text.toString().includes(s)))
    await quiet(a.doc, 300)
    const text = a.text.toString()
    close(a)
    done({ text, clientId: a.doc.clientID })
  },

  // Awareness: B sees A's state, then sees it removed when A disconnects.
  async awareness () {
    const a = connect()
    const b = connect(cfg.room, cfg.token, cfg.peerUrl ?? cfg.url)
    await Promise.all([a.synced, b.synced])
    a.provider.awareness.setLocalStateField('user', { name: 'alice' })
    const aId = a.doc.clientID
    const seen = () => b.provider.awareness.getStates().get(aId)?.user?.name
    await new Promise((resolve) => {
      if (seen() === 'alice') return resolve()
      b.provider.awareness.on('change', () => seen() === 'alice' && resolve())
    })
    // Cut A's socket without the polite "state = null" goodbye a destroy()
    // would send: the server must remove A's state on its own.
    a.provider.shouldConnect = false
    a.provider.ws.terminate()
    await new Promise((resolve) => {
      if (!b.provider.awareness.getStates().has(aId)) return resolve()
      b.provider.awareness.on('change', () => !b.provider.awareness.getStates().has(aId) && resolve())
    })
    // A reconnects with the same awareness id: B sees it again right away,
    // not only after A's 15 s renewal.
    const reconnected = Date.now()
    a.provider.connect()
    await new Promise((resolve) => {
      if (seen() === 'alice') return resolve()
      b.provider.awareness.on('change', () => seen() === 'alice' && resolve())
    })
    const backAfterMs = Date.now() - reconnected
    close(a, b)
    done({ seen: 'alice', removed: true, back: backAfterMs < 5000 })
  }
}

const run = modes[cfg.mode]
if (!run) fail(`unknown mode ${cfg.mode}`)
run().catch((e) => fail(e?.stack ?? String(e)))
