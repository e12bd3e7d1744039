// The demo app (web/) in Debian's Chromium, driven by playwright-core: two
// users of one tenant see each other and co-edit, a lock shows a banner, a
// REST notification becomes a toast and a badge, another tenant sees none of
// it, and after a server restart the pages reconnect and editing goes on.
// Screenshots of each step go to target/web-screenshots/ (not committed).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { TestServer, ROOT, until } from '../harness.mjs'

const SHOTS = path.join(ROOT, 'target/web-screenshots')
let server, browser, profile
before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true })
  server = await TestServer.start()
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-chromium-'))
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // playwright gives every launch a fresh temporary --user-data-dir itself
    // (it refuses the flag); `profile` is where Chromium may write crash dumps.
    env: { ...process.env, HOME: profile },
  })
})
after(async () => {
  await browser?.close()
  await server?.stop()
  if (profile) fs.rmSync(profile, { recursive: true, force: true })
})

async function signIn(user, name, tenant) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 820 } })
  const page = await ctx.newPage()
  page.on('pageerror', (e) => console.error(`[${user}] page error:`, e.message))
  await page.goto(`${server.url}/#/doc/invoice-42`)
  await page.fill('#user', user)
  await page.fill('#name', name)
  await page.fill('#tenant', tenant)
  await page.click('button[type=submit]')
  await page.waitForSelector('#pill.pill-open', { timeout: 20000 })
  await page.waitForSelector('#doc:not([hidden])')
  return page
}

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) })

test('two users co-edit, see presence, cursors, locks and notifications; another tenant sees nothing; restart', async () => {
  const ann = await signIn('ann', 'Ann Lee', 'acme')
  const ben = await signIn('ben', 'Ben Ode', 'acme')
  const eve = await signIn('eve', 'Eve Stone', 'other')

  // Presence: each sees the other's avatar; eve (other tenant) sees only herself.
  await ann.waitForSelector('#avatars [data-user="ben"]')
  await ben.waitForSelector('#avatars [data-user="ann"]')
  await shot(ann, '01-presence')

  // Co-editing: both type, both end up with the same text.
  await ann.click('#body')
  await ann.keyboard.type('Hello from Ann 🌍. ')
  await ben.click('#body')
  await ben.keyboard.press('End')
  await ben.keyboard.type('Ben here ✨.')
  const same = async () => {
    const [a, b] = [await ann.inputValue('#body'), await ben.inputValue('#body')]
    return a === b && a.includes('Hello from Ann 🌍.') && a.includes('Ben here ✨.') && a
  }
  const text = await until(same, { what: 'same text in both pages' })
  // Ann sees Ben's cursor (a caret labelled with his name in the mirror).
  await ann.waitForSelector('#mirror .caret[data-user="ben"]')
  await ben.waitForSelector('#members [data-user="ann"]')
  await shot(ann, '02-coedit-ann')
  // Ben selects a word: Ann sees it tinted in his colour.
  await ben.keyboard.down('Shift')
  for (let i = 0; i < 4; i++) await ben.keyboard.press('ArrowLeft')
  await ben.keyboard.up('Shift')
  await until(async () => (await ann.textContent('#mirror .sel').catch(() => null)) === 'e ✨.', { what: "Ben's selection at Ann" })
  await shot(ann, '02-selection-ann')
  await shot(ben, '02-coedit-ben')

  // Lock: Ann takes a hard lock, Ben sees the banner and a read-only editor.
  await ann.click('#lock')
  await ben.waitForSelector('#lock-banner:not([hidden])')
  assert.match(await ben.textContent('#lock-banner'), /Ann Lee has locked/)
  assert.equal(await ben.$eval('#body', (t) => t.readOnly), true)
  await shot(ben, '03-locked-ben')
  await ann.click('#lock')
  await ben.waitForSelector('#lock-banner', { state: 'hidden' })

  // Structured fields: Ben sets the amount, Ann sees it. Ann then saves a
  // value based on the version before Ben's (as if both typed at once): the
  // server answers doc:conflict and the dialog shows both values.
  await ben.fill('#amount', '250')
  await ben.press('#amount', 'Tab')
  await until(async () => (await ann.inputValue('#amount')) === '250', { what: 'amount at Ann' })
  await ann.evaluate(() => { for (const r of window.tandem.rooms.values()) r.values.get('amount').version = 0 })
  await ann.fill('#amount', '300')
  await ann.press('#amount', 'Tab')
  await ann.waitForSelector('#conflict[open]')
  assert.equal(await ann.textContent('#conflict-mine'), '300')
  assert.equal(await ann.textContent('#conflict-theirs'), '250')
  await shot(ann, '03-conflict-ann')
  await ann.click('#conflict button[value=mine]')
  await until(async () => (await ben.inputValue('#amount')) === '300', { what: 'resolved amount at Ben' })

  // A notification posted through REST: toast and badge for Ben only.
  await server.notify('acme', ['ben'], 'Invoice 42 was paid', { message: 'Payment of 250 € received' })
  await ben.waitForSelector('.toast:has-text("Invoice 42 was paid")')
  await until(async () => (await ben.textContent('#badge')) === '1' && await ben.isVisible('#badge'), { what: 'badge 1' })
  await shot(ben, '04-notification-ben')
  // The bell's list: mark it read, the badge goes away.
  await ben.click('#bell')
  await ben.waitForSelector('#inbox-list li.unread:has-text("Invoice 42 was paid")')
  await shot(ben, '04-inbox-ben')
  await ben.click('#inbox-list li.unread')
  await ben.waitForSelector('#badge', { state: 'hidden' })
  await ben.waitForSelector('#inbox-list li:not(.unread):has-text("Invoice 42 was paid")')
  await ben.click('#bell')
  assert.equal(await ann.isVisible('#badge'), false)

  // The other tenant: nobody from acme, not the text, not the toast.
  assert.equal(await eve.$('#avatars [data-user="ann"]'), null)
  assert.equal(await eve.$('#avatars [data-user="ben"]'), null)
  assert.equal(await eve.inputValue('#body'), '')
  assert.equal(await eve.$('.toast'), null)
  assert.equal(await eve.isVisible('#badge'), false)
  await shot(eve, '05-other-tenant')

  // Restart: the pills show the reconnect, then editing goes on.
  await server.restart('SIGTERM')
  await ann.waitForSelector('#pill.pill-open', { timeout: 30000 })
  await ben.waitForSelector('#pill.pill-open', { timeout: 30000 })
  await ann.click('#body')
  await ann.keyboard.press('End')
  await ann.keyboard.type(' After restart.')
  await until(async () => (await same()) && (await ben.inputValue('#body')).endsWith('After restart.'), { what: 'edit after restart' })
  assert.ok((await ben.inputValue('#body')).startsWith(text.slice(0, 5)))
  await ben.waitForSelector('#avatars [data-user="ann"]')
  await shot(ann, '06-after-restart-ann')
  await ann.click('#body')
  await shot(ann, 'document')
})

test('the Yjs page syncs two users through the stock y-websocket provider', async () => {
  const ann = await signIn('ann', 'Ann Lee', 'yjs')
  const ben = await signIn('ben', 'Ben Ode', 'yjs')
  for (const p of [ann, ben]) {
    await p.goto(`${server.url}/yjs.html#shared-notes`)
    await p.waitForSelector('#pill.pill-open', { timeout: 20000 })
  }
  await ann.click('#text')
  await ann.keyboard.type('CRDT text from Ann. ')
  await until(async () => (await ben.inputValue('#text')).includes('CRDT text from Ann.'), { what: 'Yjs text at Ben' })
  await ben.click('#text')
  await ben.keyboard.press('End')
  await ben.keyboard.type('And Ben.')
  await until(async () => (await ann.inputValue('#text')) === (await ben.inputValue('#text')) && (await ann.inputValue('#text')).includes('And Ben.'), { what: 'Yjs convergence' })
  await ann.waitForSelector('#peers .avatar[title="Ben Ode"]')
  await shot(ann, '07-yjs')
})
