export * from './equality.js'
export * from './fingerprint.js'
