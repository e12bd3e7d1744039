/**
 * Isomorphic library exports from isomorphic.js.
 *
 * @todo remove this module
 * @deprecated
 *
 * @module isomorphic
 */

export { performance, cryptoRandomBuffer } from 'isomorphic.js'
