// Starts the real tandem binary against a fresh PostgreSQL database on a
// free port, for the Node client and browser tests. The binary is
// $TANDEM_BIN (the Rust test that runs these passes CARGO_BIN_EXE_tandem), or
// target/debug/tandem. Each server gets its own database, dropped at stop().
import { spawn, execFileSync } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
// The development secret of the shipped config.toml (web.dev_tokens needs it).
export const SECRET = 'dev-only-secret-change-me-0123456789abcdef'
export const API_KEY = 'js-test-api-key-0123456789'

const ADMIN_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://tandem:tandem@127.0.0.1:5432/postgres'

function dbUrl(name) {
  const u = new URL(ADMIN_URL)
  u.pathname = `/${name}`
  return u.toString()
}

function psql(sql) {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ADMIN_URL, '-c', sql], { stdio: ['ignore', 'ignore', 'inherit'] })
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)) }

/** Polls `check` until it returns a truthy value (or throws after `ms`). */
export async function until(check, { ms = 15000, every = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(every)
  }
}

/** An HS256 token for the development secret. */
export function token(user, tenant, { name = user, ttl = 3600, role = 'user' } = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const head = b64({ alg: 'HS256', typ: 'JWT' })
  const body = b64({ sub: user, tenant_id: tenant, name, role, iat: now, exp: now + ttl })
  const sig = createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${sig}`
}

export class TestServer {
  static async start(env = {}) {
    const s = new TestServer()
    s.db = `t_js_${process.pid}_${randomBytes(4).toString('hex')}`
    psql(`CREATE DATABASE ${s.db}`)
    s.port = await freePort()
    s.env = env
    await s._spawn()
    return s
  }

  get url() { return `http://127.0.0.1:${this.port}` }
  get wsUrl() { return `ws://127.0.0.1:${this.port}/ws` }

  async _spawn() {
    const bin = process.env.TANDEM_BIN ?? path.join(ROOT, 'target/debug/tandem')
    this.logs = []
    this.proc = spawn(bin, ['serve', '--config', path.join(ROOT, 'config.toml')], {
      cwd: ROOT,
      env: {
        ...process.env,
        RUST_LOG: process.env.TANDEM_TEST_LOG ?? 'warn',
        DATABASE_URL: dbUrl(this.db),
        REDIS_URL: '',
        TANDEM__SERVER__PORT: String(this.port),
        TANDEM__SERVER__SHUTDOWN_GRACE_SECS: '2',
        TANDEM__AUTH__API_KEYS: `["${API_KEY}"]`,
        TANDEM__PRESENCE__OFFLINE_GRACE_MS: '1000',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const keep = (d) => { this.logs.push(d.toString()); if (this.logs.length > 200) this.logs.shift() }
    this.proc.stdout.on('data', keep)
    this.proc.stderr.on('data', keep)
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })))
    await until(async () => {
      if (this.proc.exitCode !== null) throw new Error(`tandem exited: ${this.logs.join('')}`)
      try { return (await fetch(`${this.url}/readyz`)).ok } catch { return false }
    }, { ms: 60000, what: 'tandem /readyz' })
  }

  /** Stops the process (SIGTERM: graceful, SIGKILL: crash) and starts it again on the same port. */
  async restart(signal = 'SIGTERM') {
    this.proc.kill(signal)
    await this.exited
    await this._spawn()
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM')
      await this.exited
    }
    try { psql(`DROP DATABASE IF EXISTS ${this.db} WITH (FORCE)`) } catch { /* best effort */ }
  }

  /** REST call as a backend service of `tenant` (API key). */
  async service(method, p, tenant, body) {
    const res = await fetch(`${this.url}${p}`, {
      method,
      headers: { 'X-Api-Key': API_KEY, 'X-Tenant-Id': tenant, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null }
  }

  async notify(tenant, userIds, title, extra = {}) {
    const r = await this.service('POST', '/api/v1/notifications', tenant, { user_ids: userIds, type: 'mention', title, ...extra })
    if (r.status !== 201) throw new Error(`notify: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body.ids
  }
}

/**
 * A TCP proxy in front of the server: `drop()` cuts every connection through
 * it (a dropped link), `block()` also refuses new ones until `unblock()`.
 * With `refuseUpgrades`, WebSocket upgrades are cut (a proxy that blocks
 * WebSockets) while plain HTTP passes.
 */
export class TcpProxy {
  static async start(targetPort) {
    const p = new TcpProxy()
    p.targetPort = targetPort
    p.sockets = new Set()
    p.blocked = false
    p.refuseUpgrades = false
    p.server = net.createServer((c) => p._accept(c))
    await new Promise((r) => p.server.listen(0, '127.0.0.1', r))
    p.port = p.server.address().port
    return p
  }

  get wsUrl() { return `ws://127.0.0.1:${this.port}/ws` }

  _accept(client) {
    if (this.blocked) return client.destroy()
    const upstream = net.connect(this.targetPort, '127.0.0.1')
    this.sockets.add(client); this.sockets.add(upstream)
    const end = () => { client.destroy(); upstream.destroy(); this.sockets.delete(client); this.sockets.delete(upstream) }
    client.on('error', end); upstream.on('error', end); client.on('close', end); upstream.on('close', end)
    let first = true
    const pair = { stalled: false }
    this.pairs ??= new Set()
    this.pairs.add(pair)
    client.on('data', (d) => {
      if (first && this.refuseUpgrades && /^upgrade:\s*websocket/im.test(d.toString('latin1'))) return end()
      first = false
      if (!pair.stalled) upstream.write(d)
    })
    upstream.on('data', (d) => { if (!pair.stalled) client.write(d) })
  }

  /** Existing connections go silent both ways without closing (a dead link); new ones work. */
  stall() { for (const p of this.pairs ?? []) p.stalled = true }

  drop() { for (const s of this.sockets) s.destroy(); this.sockets.clear() }
  block() { this.blocked = true; this.drop() }
  unblock() { this.blocked = false }
  close() { this.drop(); return new Promise((r) => this.server.close(r)) }
}
