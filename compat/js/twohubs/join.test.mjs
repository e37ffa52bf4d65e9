// Joining a DB that another hubd hosts, through the published @textile/hub
// Client: newDBFromAddr and joinFromInfo on hub B with the address and key
// getDBInfo gives on hub A. Each hub has its own developer and account
// key (unrelated accounts); compat_test.go's TestJoinJS starts both.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { env, host, textile, timeout } from '../lib/hub.mjs'

const { Client, ThreadID } = textile

/** connect makes a Client with the account key of the hub whose variables start with prefix. */
function connect(url, prefix) {
  return Client.withKeyInfo({ key: env(`${prefix}ACCOUNT_KEY`), secret: env(`${prefix}ACCOUNT_SECRET`) }, url)
}

const hubA = () => connect(host, 'HUB_')
const hubB = () => connect(env('HUB_B_WEB_URL'), 'HUB_B_')

/** ids returns the sorted _ids of the instances of collection notes in DB id. */
async function ids(client, id) {
  return (await client.find(id, 'notes', {})).map((d) => d._id).sort()
}

/** eventually polls until fn() is true, for up to a minute. */
async function eventually(what, fn) {
  const deadline = Date.now() + 60_000
  while (!(await fn())) {
    assert.ok(Date.now() < deadline, `${what} did not happen within a minute`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** hosted makes a DB with collection notes and one instance on hub A, and returns its ID and getDBInfo. */
async function hosted(a, name) {
  const id = ThreadID.fromRandom()
  await a.newDB(id, name)
  await a.newCollection(id, { name: 'notes' })
  await a.create(id, 'notes', [{ _id: 'a1', text: 'from A' }])
  return { id, info: await a.getDBInfo(id) }
}

test('newDBFromAddr joins a DB another hub hosts, and writes flow both ways', { timeout }, async () => {
  const [a, b] = await Promise.all([hubA(), hubB()])
  const { id, info } = await hosted(a, 'by-addr')
  const joined = await b.newDBFromAddr(info.addrs[0], info.key, [{ name: 'notes' }, { name: 'extra' }])
  assert.equal(joined.toString(), id.toString())
  // The history is there when the call returns, and the collections the
  // history lacks are made.
  assert.deepEqual(await ids(b, id), ['a1'])
  assert.deepEqual((await b.listCollections(id)).map((c) => c.name).sort(), ['extra', 'notes'])
  await b.create(id, 'notes', [{ _id: 'b1', text: 'from B' }])
  await eventually("B's write on A", async () => (await ids(a, id)).includes('b1'))
  await a.save(id, 'notes', [{ _id: 'a1', text: 'from A, again' }])
  await eventually("A's save on B", async () => (await b.findByID(id, 'notes', 'a1')).text === 'from A, again')
  // B lists addresses of its own for the DB, which a third peer could join from.
  const binfo = await b.getDBInfo(id)
  assert.equal(binfo.key, info.key)
  assert.ok(binfo.addrs.length > 0 && binfo.addrs.every((x) => x.endsWith(`/thread/${id.toString()}`) && !info.addrs.includes(x)), `B lists ${binfo.addrs}`)
  // Joining again is refused: B holds the DB.
  await assert.rejects(b.newDBFromAddr(info.addrs[0], info.key), /already exists/)
})

test('joinFromInfo joins from the info getDBInfo gave on another hub', { timeout }, async () => {
  const [a, b] = await Promise.all([hubA(), hubB()])
  const { id, info } = await hosted(a, 'by-info')
  // The client dials no loopback address unless told to (includeLocal);
  // it says so at once, by a throw rather than a rejected promise.
  assert.throws(() => b.joinFromInfo(info), /No viable addresses/)
  const joined = await b.joinFromInfo(info, true)
  assert.equal(joined.toString(), id.toString())
  assert.deepEqual(await ids(b, id), ['a1'])
  await b.create(id, 'notes', [{ _id: 'b1' }])
  await eventually("B's write on A", async () => (await ids(a, id)).includes('b1'))
})

test('newDBFromAddr with a wrong key is refused and leaves no DB', { timeout }, async () => {
  const [a, b] = await Promise.all([hubA(), hubB()])
  const { id, info } = await hosted(a, 'wrong-key')
  const other = (await a.getDBInfo((await hosted(a, 'other')).id)).key
  await assert.rejects(b.newDBFromAddr(info.addrs[0], other), /refused/)
  await assert.rejects(b.getDBInfo(id), /not found/)
})
