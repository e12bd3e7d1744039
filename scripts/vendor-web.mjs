#!/usr/bin/env node
// Copies the browser ES modules the demo's Yjs page needs (yjs, y-websocket,
// y-protocols, lib0, isomorphic.js) from tests/js/node_modules into
// web/vendor/, and writes web/vendor/importmap.json (bare specifier → file),
// which scripts/vendor-web.mjs also inlines into web/yjs.html between the
// IMPORTMAP markers. The output is committed: nothing is fetched at run time.
// Run after `npm ci --prefix tests/js`:  node scripts/vendor-web.mjs
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const mods = path.join(root, 'tests/js/node_modules')
const out = path.join(root, 'web/vendor')
fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out, { recursive: true })
const imports = {}

function pick(target) {
  if (typeof target === 'string') return target
  if (!target || typeof target !== 'object') return null
  for (const k of ['browser', 'module', 'import', 'default']) {
    const v = pick(target[k])
    if (v) return v
  }
  return null
}

function vendor(pkg) {
  const dir = path.join(mods, pkg)
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  for (const [key, target] of Object.entries(meta.exports ?? { '.': meta.module ?? meta.main })) {
    if (key.includes('*') || key.endsWith('.json')) continue
    const file = pick(target)
    if (!file || !/\.m?js$/.test(file)) continue
    const src = path.join(dir, file)
    if (!fs.existsSync(src)) continue
    const dest = path.join(out, pkg, file)
    fs.mkdirSync(path.dirname(dest), { recursive: true })
    fs.copyFileSync(src, dest)
    imports[key === '.' ? pkg : `${pkg}/${key.replace(/^\.\//, '')}`] = `./vendor/${pkg}/${file.replace(/^\.\//, '')}`
  }
  // Relative imports between a package's own files (subfolders included).
  const copyTree = (from, to) => {
    for (const e of fs.readdirSync(from, { withFileTypes: true })) {
      if (/test|\.node\.|react-native|^bin$|^dist$|^coverage$|^node_modules$|^tests?$|^src$/.test(e.name)) continue
      const a = path.join(from, e.name), b = path.join(to, e.name)
      if (e.isDirectory()) copyTree(a, b)
      else if (/\.m?js$/.test(e.name) && !fs.existsSync(b)) {
        fs.mkdirSync(to, { recursive: true })
        fs.copyFileSync(a, b)
      }
    }
  }
  copyTree(dir, path.join(out, pkg))
  const lic = path.join(dir, 'LICENSE')
  if (fs.existsSync(lic)) fs.copyFileSync(lic, path.join(out, pkg, 'LICENSE'))
}

for (const pkg of ['yjs', 'y-websocket', 'y-protocols', 'lib0', 'isomorphic.js']) vendor(pkg)
// y-websocket's own relative import of its source file.
fs.mkdirSync(path.join(out, 'y-websocket/src'), { recursive: true })
fs.copyFileSync(path.join(mods, 'y-websocket/src/y-websocket.js'), path.join(out, 'y-websocket/src/y-websocket.js'))

const map = JSON.stringify({ imports }, null, 2)
fs.writeFileSync(path.join(out, 'importmap.json'), map + '\n')
const html = path.join(root, 'web/yjs.html')
const page = fs.readFileSync(html, 'utf8')
fs.writeFileSync(html, page.replace(/(<!-- IMPORTMAP -->)[\s\S]*?(<!-- \/IMPORTMAP -->)/,
  `$1\n  <script type="importmap">\n${map}\n  </script>\n  $2`))
console.log(`vendored ${Object.keys(imports).length} modules into web/vendor`)
