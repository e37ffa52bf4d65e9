// Shared set-up for the compatibility tests in ../test: the published
// clients, loaded the way a CommonJS app loads them, and the hubd address and
// credentials that compat_test.go passes in HUB_* environment variables.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** @textile/hub exactly as an app gets it from require('@textile/hub'). */
export const textile = require('@textile/hub')

/**
 * requireFrom loads a module as the named package resolves it, so a test
 * gets the very copy (version) that package uses rather than whichever copy
 * npm hoisted to the top of node_modules.
 */
export function requireFrom(pkg, id) {
  return createRequire(require.resolve(pkg))(id)
}

/** env returns the environment variable name, and throws if it is unset. */
export function env(name) {
  const v = process.env[name]
  if (!v) {
    throw new Error(`${name} is not set: run these tests with "go test ./compat/js/", which starts hubd and sets it`)
  }
  return v
}

/** The gRPC-Web endpoint of the hubd under test (http://host:port). */
export const host = env('HUB_WEB_URL')

/**
 * Each test gives up after this long rather than hang the runner: far more
 * than any test needs on a busy machine, since it only stops a hang.
 */
export const timeout = 120_000
