// ThreadDB through the published @textile/hub Client, once with a user
// group key and a user's token and once with an account key: DBs,
// collections with schemas and indexes, instances, queries built with
// Where, transactions, listen, and the errors an app sees.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'

import { env, host, requireFrom, textile, timeout } from '../lib/hub.mjs'

const { Client, PrivateKey, ThreadID, Where } = textile

// The pieces Client builds its calls from, to make the threads ListDBs call
// that Client.listDBs replaces with the Users API's ListThreads when the
// context carries an API signature (see "listDBs" below).
const { grpc } = requireFrom('@textile/threads-client', '@improbable-eng/grpc-web')
const { API } = requireFrom('@textile/threads-client', '@textile/threads-client-grpc/threads_pb_service')
const pb = requireFrom('@textile/threads-client', '@textile/threads-client-grpc/threads_pb')

/** The two ways an app reaches ThreadDB. */
const kinds = [
  { name: 'a user group key + token', key: 'HUB_USER_KEY', secret: 'HUB_USER_SECRET', insecureKey: 'HUB_INSECURE_USER_KEY', user: true },
  { name: 'an account key', key: 'HUB_ACCOUNT_KEY', secret: 'HUB_ACCOUNT_SECRET', insecureKey: 'HUB_INSECURE_ACCOUNT_KEY', user: false },
]

/** State each kind's tests build up and the later, cross-kind tests use. */
const state = new Map()

const personSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: {
    _id: { type: 'string' },
    name: { type: 'string' },
    age: { type: 'number', minimum: 0 },
    city: { type: 'string' },
  },
  required: ['name', 'age'],
}

const peopleIndexes = [
  { path: 'name', unique: true },
  { path: 'age', unique: false },
]

/** The people every kind's DB holds for the queries, with _ids so that ties sort predictably. */
const people = [
  { _id: 'ann', name: 'ann', age: 30, city: 'Oslo' },
  { _id: 'bob', name: 'bob', age: 40, city: 'Rome' },
  { _id: 'cat', name: 'cat', age: 25, city: 'Oslo' },
  { _id: 'dan', name: 'dan', age: 40, city: 'Lima' },
]

/** connect makes a Client with the kind's key (secure unless insecure is set), and a token for identity when the kind is a user's. */
async function connect(kind, identity, insecure = false) {
  const info = insecure ? { key: env(kind.insecureKey) } : { key: env(kind.key), secret: env(kind.secret) }
  const client = await Client.withKeyInfo(info, host)
  if (kind.user) {
    await client.getToken(identity)
  }
  return client
}

/** names lists the name of each instance, in order. */
const names = (instances) => instances.map((p) => p.name)

/** rawListDBs calls threads.pb.API/ListDBs with the client's credentials and resolves to the DB IDs. */
async function rawListDBs(client) {
  const metadata = await client.context.toMetadata()
  return new Promise((resolve, reject) => {
    grpc.unary(API.ListDBs, {
      host,
      transport: client.rpcOptions.transport,
      request: new pb.ListDBsRequest(),
      metadata,
      onEnd: (res) => {
        if (res.status !== grpc.Code.OK) {
          reject(new Error(`ListDBs: status ${res.status}: ${res.statusMessage}`))
          return
        }
        resolve(res.message.getDbsList().map((db) => ThreadID.fromBytes(db.getDbid_asU8()).toString()))
      },
    })
  })
}

/** rejectsWith checks that promise rejects with an Error whose message matches re. */
async function rejectsWith(promise, re) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, `rejected with ${err}, not an Error`)
    assert.match(err.message, re)
    return true
  })
}

/** Listener collects the updates a Client.listen callback receives and lets a test wait for them. */
class Listener {
  constructor() {
    this.updates = []
    this.errors = []
    this.waiters = []
  }

  callback = (update, err) => {
    if (err) this.errors.push(err)
    if (update) this.updates.push(update)
    for (const w of this.waiters.splice(0)) w()
  }

  /** next resolves once an update beyond the first n has arrived, or after ms (to poll). */
  next(n, ms) {
    if (this.updates.length > n) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /** until waits for an update that satisfies pred and returns its index. */
  async until(pred, deadline = Date.now() + 60_000) {
    for (;;) {
      const i = this.updates.findIndex(pred)
      if (i >= 0) return i
      assert.deepEqual(this.errors, [], 'listen ended with an error')
      assert.ok(Date.now() < deadline, `no matching update within 60s; got ${JSON.stringify(this.updates)}, errors ${this.errors}`)
      // Wait for a new update (or poll again in 100 ms). This must wait
      // for a macrotask: resolving at once would spin on microtasks and
      // starve the websocket that brings the updates.
      await this.next(this.updates.length, 100)
    }
  }
}

for (const kind of kinds) {
  describe(`ThreadDB with ${kind.name}`, () => {
    const identity = PrivateKey.fromRandom()
    let client
    let dbID

    before(async () => {
      client = await connect(kind, identity)
      state.set(kind.name, { kind, identity })
    })

    test('newDB with a ThreadID from ThreadID.fromRandom()', { timeout }, async () => {
      const id = ThreadID.fromRandom()
      const got = await client.newDB(id, 'compat')
      assert.equal(got.toString(), id.toString())
      dbID = id
      state.get(kind.name).dbID = id.toString()
      // The same ID again is refused, and says so.
      await rejectsWith(client.newDB(id, 'other'), /already exists/)
    })

    test('newCollection with a JSON schema and indexes', { timeout }, async () => {
      await client.newCollection(dbID, { name: 'people', schema: personSchema, indexes: peopleIndexes })
      // Without a schema the client sends its default one.
      await client.newCollection(dbID, { name: 'pets' })
      const info = await client.getCollectionInfo(dbID, 'people')
      assert.equal(info.name, 'people')
      assert.deepEqual(info.schema, personSchema)
      assert.deepEqual(info.indexes, peopleIndexes)
      assert.deepEqual(await client.getCollectionIndexes(dbID, 'people'), peopleIndexes)
      await rejectsWith(client.newCollection(dbID, { name: 'people', schema: personSchema }), /already exists/)
      await rejectsWith(client.newCollection(dbID, { name: 'bad name!' }), /collection name/)
      // deleteCollection removes one.
      await client.newCollection(dbID, { name: 'scratch' })
      await client.deleteCollection(dbID, 'scratch')
      await rejectsWith(client.getCollectionInfo(dbID, 'scratch'), /collection "scratch" not found/)
    })

    test('create, save, delete and has', { timeout }, async () => {
      const ids = await client.create(dbID, 'people', [...people, { name: 'eve', age: 20 }])
      assert.deepEqual(ids.slice(0, 4), ['ann', 'bob', 'cat', 'dan'])
      const eve = ids[4]
      assert.ok(eve, 'no _id made for eve')
      assert.equal(await client.has(dbID, 'people', ids), true)
      assert.equal(await client.has(dbID, 'people', ['ann', 'nobody']), false)

      await client.save(dbID, 'people', [{ _id: eve, name: 'eve', age: 21, city: 'Kyiv' }])
      assert.deepEqual(await client.findByID(dbID, 'people', eve), { _id: eve, name: 'eve', age: 21, city: 'Kyiv' })
      await client.verify(dbID, 'people', [{ _id: eve, name: 'eve', age: 22 }])

      await client.delete(dbID, 'people', [eve])
      assert.equal(await client.has(dbID, 'people', [eve]), false)
      await rejectsWith(client.findByID(dbID, 'people', eve), /not found/)
    })

    test('schema violations, unknown collections and duplicate _ids are rejected with a message', { timeout }, async () => {
      await rejectsWith(client.create(dbID, 'people', [{ name: 'neg', age: -1 }]), /does not match the collection schema/)
      await rejectsWith(client.create(dbID, 'people', [{ name: 'noage' }]), /does not match the collection schema/)
      await rejectsWith(client.save(dbID, 'people', [{ _id: 'ann', name: 42, age: 1 }]), /does not match the collection schema/)
      await rejectsWith(client.verify(dbID, 'people', [{ _id: 'ann', name: 'ann', age: 'old' }]), /does not match the collection schema/)
      await rejectsWith(client.create(dbID, 'nothing', [{ name: 'x', age: 1 }]), /collection "nothing" not found/)
      await rejectsWith(client.find(dbID, 'nothing', {}), /collection "nothing" not found/)
      await rejectsWith(client.getCollectionInfo(dbID, 'nothing'), /collection "nothing" not found/)
      await rejectsWith(client.create(dbID, 'people', [{ _id: 'ann', name: 'ann2', age: 1 }]), /"ann" already exists/)
      await rejectsWith(client.create(dbID, 'people', [{ name: 'ann', age: 1 }]), /unique index/)
      await rejectsWith(client.save(dbID, 'people', [{ _id: 'nobody', name: 'x', age: 1 }]), /"nobody" not found/)
      await rejectsWith(client.delete(dbID, 'people', ['nobody']), /"nobody" not found/)
      // Nothing of it was written.
      assert.deepEqual(names(await client.find(dbID, 'people', new Where('age').ge(0).orderBy('name'))), ['ann', 'bob', 'cat', 'dan'])
    })

    test('find with Where queries', { timeout }, async () => {
      const find = async (q) => names(await client.find(dbID, 'people', q))
      // ann 30 Oslo, bob 40 Rome, cat 25 Oslo, dan 40 Lima
      assert.deepEqual(await find(new Where('city').eq('Oslo').orderBy('name')), ['ann', 'cat'])
      assert.deepEqual(await find(new Where('city').eq('Oslo').and('age').ge(30)), ['ann'])
      assert.deepEqual(await find(new Where('name').eq('cat').or(new Where('city').eq('Rome')).orderBy('name')), ['bob', 'cat'])
      assert.deepEqual(await find(new Where('city').ne('Oslo').orderBy('name')), ['bob', 'dan'])
      assert.deepEqual(await find(new Where('age').lt(30)), ['cat'])
      assert.deepEqual(await find(new Where('age').le(30).orderBy('age')), ['cat', 'ann'])
      // Ties in the sort field are ordered by _id, and a descending sort is the exact reverse.
      assert.deepEqual(await find(new Where('age').ge(0).orderBy('age')), ['cat', 'ann', 'bob', 'dan'])
      assert.deepEqual(await find(new Where('age').ge(0).orderByDesc('age')), ['dan', 'bob', 'ann', 'cat'])
      assert.deepEqual(await find(new Where('age').ge(0).orderBy('age').limitTo(2)), ['cat', 'ann'])
      assert.deepEqual(await find(new Where('age').ge(0).orderBy('age').skipNum(1).limitTo(2)), ['ann', 'bob'])
      assert.deepEqual(await find(new Where('age').eq(40).useIndex('age').orderByDesc('name')), ['dan', 'bob'])
      // An empty query matches everything.
      assert.equal((await client.find(dbID, 'people', {})).length, 4)
      // @textile/threads-client 2.3.4's Criterion.gt() sends Ne (operation
      // 1), not Gt (2), and a server cannot tell: gt(30) means "not 30".
      assert.deepEqual(await find(new Where('age').gt(30).orderBy('name')), ['bob', 'cat', 'dan'])
      // Gt itself, sent as the JSON the client would send for it.
      assert.deepEqual(await find({ ands: [{ fieldPath: 'age', operation: 2, value: { float: 30 } }], sort: { fieldPath: 'name', desc: false } }), ['bob', 'dan'])
      // A malformed query is refused with a message.
      await rejectsWith(client.find(dbID, 'people', { ands: [{ fieldPath: 'age', operation: 9, value: { float: 1 } }] }), /unknown operation 9/)
    })

    test('findByID', { timeout }, async () => {
      assert.deepEqual(await client.findByID(dbID, 'people', 'bob'), people[1])
      await rejectsWith(client.findByID(dbID, 'people', 'nobody'), /"nobody" not found/)
    })

    test('listen receives create, save and delete events', { timeout }, async () => {
      const all = new Listener()
      const deletes = new Listener()
      const closers = [
        client.listen(dbID, [{ collectionName: 'pets' }], all.callback),
        client.listen(dbID, [{ collectionName: 'pets', actionTypes: ['DELETE'] }], deletes.callback),
      ]
      const byID = (id, action) => (u) => u.instanceID === id && u.action === action
      try {
        // A call starts once the client has made its metadata, so probe
        // until both listeners are live, then mark where the story begins.
        for (let i = 0; all.updates.length === 0 || deletes.updates.length === 0; i++) {
          assert.ok(i < 100, `the listeners got none of 100 probes: ${all.updates.length} and ${deletes.updates.length} updates, errors ${all.errors} ${deletes.errors}`)
          await client.create(dbID, 'pets', [{ _id: `probe${i}` }])
          await client.delete(dbID, 'pets', [`probe${i}`])
          await Promise.all([all.next(0, 100), deletes.next(0, 100)])
        }
        await client.create(dbID, 'pets', [{ _id: 'mark' }])
        await client.delete(dbID, 'pets', ['mark'])
        const start = (await all.until(byID('mark', 'DELETE'))) + 1
        const deletesStart = (await deletes.until(byID('mark', 'DELETE'))) + 1

        await client.create(dbID, 'pets', [{ _id: 'rex', kind: 'dog' }])
        await client.create(dbID, 'people', [{ _id: 'fay', name: 'fay', age: 1 }]) // another collection: filtered out
        await client.save(dbID, 'pets', [{ _id: 'rex', kind: 'wolf' }])
        await client.delete(dbID, 'pets', ['rex'])
        await client.delete(dbID, 'people', ['fay'])
        await client.create(dbID, 'pets', [{ _id: 'end' }])
        await client.delete(dbID, 'pets', ['end'])
        const end = await all.until(byID('end', 'DELETE'))
        const deletesEnd = await deletes.until(byID('end', 'DELETE'))

        assert.deepEqual(all.updates.slice(start, end + 1).map((u) => ({ ...u })), [
          { collectionName: 'pets', instanceID: 'rex', action: 'CREATE', instance: { _id: 'rex', kind: 'dog' } },
          { collectionName: 'pets', instanceID: 'rex', action: 'SAVE', instance: { _id: 'rex', kind: 'wolf' } },
          { collectionName: 'pets', instanceID: 'rex', action: 'DELETE', instance: undefined },
          { collectionName: 'pets', instanceID: 'end', action: 'CREATE', instance: { _id: 'end' } },
          { collectionName: 'pets', instanceID: 'end', action: 'DELETE', instance: undefined },
        ])
        assert.deepEqual(deletes.updates.slice(deletesStart, deletesEnd + 1).map((u) => `${u.action} ${u.instanceID}`), ['DELETE rex', 'DELETE end'])
        assert.deepEqual(all.errors, [])
        assert.deepEqual(deletes.errors, [])
      } finally {
        for (const c of closers) c.close()
      }
    })

    test('writeTransaction sees its own writes and commits them at end', { timeout }, async () => {
      const wt = client.writeTransaction(dbID, 'people')
      await wt.start()
      assert.deepEqual(await wt.create([{ _id: 'gus', name: 'gus', age: 50, city: 'Oslo' }]), ['gus'])
      await wt.save([{ _id: 'ann', name: 'ann', age: 31, city: 'Oslo' }])
      assert.equal(await wt.has(['gus', 'ann']), true)
      assert.deepEqual(names(await wt.find(new Where('city').eq('Oslo').orderBy('age'))), ['cat', 'ann', 'gus'])
      assert.deepEqual(await wt.findByID('ann'), { _id: 'ann', name: 'ann', age: 31, city: 'Oslo' })
      await wt.verify([{ _id: 'gus', name: 'gus', age: 51 }])

      // Before end nobody else sees the writes.
      assert.equal(await client.has(dbID, 'people', ['gus']), false)
      const rt = client.readTransaction(dbID, 'people')
      await rt.start()
      assert.equal(await rt.has(['gus']), false)
      assert.deepEqual(await rt.findByID('ann'), people[0])
      assert.deepEqual(names(await rt.find(new Where('city').eq('Oslo').orderBy('age'))), ['cat', 'ann'])
      await rt.end()

      await wt.end()
      assert.equal(await client.has(dbID, 'people', ['gus']), true)
      assert.deepEqual(await client.findByID(dbID, 'people', 'ann'), { _id: 'ann', name: 'ann', age: 31, city: 'Oslo' })
    })

    test('a refused write in a transaction is a rejected promise and leaves it open', { timeout }, async () => {
      const wt = client.writeTransaction(dbID, 'people')
      await wt.start()
      await rejectsWith(wt.create([{ _id: 'bob', name: 'bob2', age: 1 }]), /"bob" already exists/)
      await rejectsWith(wt.create([{ name: 'hal', age: -5 }]), /does not match the collection schema/)
      assert.deepEqual(await wt.create([{ _id: 'hal', name: 'hal', age: 5 }]), ['hal'])
      await wt.end()
      assert.equal(await client.has(dbID, 'people', ['hal']), true)
    })

    test('readTransaction reads a snapshot', { timeout }, async () => {
      const rt = client.readTransaction(dbID, 'people')
      await rt.start()
      assert.equal(await rt.has(['bob', 'hal']), true)
      await client.delete(dbID, 'people', ['hal'])
      // The snapshot predates the delete.
      assert.equal(await rt.has(['hal']), true)
      assert.deepEqual((await rt.findByID('hal')).name, 'hal')
      await rt.end()
      assert.equal(await client.has(dbID, 'people', ['hal']), false)
    })

    test('a transaction on an unknown collection is refused', { timeout }, async () => {
      const rt = client.readTransaction(dbID, 'nothing')
      await rt.start()
      await rejectsWith(rt.has(['ann']), /collection "nothing" not found/)
    })

    test('writeTransaction discard drops the writes', { timeout }, async () => {
      const wt = client.writeTransaction(dbID, 'people')
      await wt.start()
      await wt.create([{ _id: 'ivy', name: 'ivy', age: 9 }])
      await wt.discard()
      assert.equal(await client.has(dbID, 'people', ['ivy']), false)
      // Ending the stream of a discarded transaction closes it quietly
      // (go-threads refused with "can't commit discarded/committed txn").
      await wt.end()
      assert.equal(await client.has(dbID, 'people', ['ivy']), false)
    })

    test('getDBInfo', { timeout }, async () => {
      const info = await client.getDBInfo(dbID)
      assert.match(info.key, /^b[a-z2-7]+$/)
      assert.ok(info.addrs.length > 0, 'no addresses')
      for (const a of info.addrs) {
        assert.match(a, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+\/thread\/b[a-z2-7]+$/)
        assert.ok(a.endsWith(`/thread/${dbID.toString()}`), `${a} does not name the DB`)
      }
      await rejectsWith(client.getDBInfo(ThreadID.fromRandom()), /not found/)
      // Joining a DB from its own hub's address is refused: it is there.
      await rejectsWith(client.newDBFromAddr(info.addrs[0], info.key), /this hub's own/)
    })

    test('listCollections', { timeout }, async () => {
      const cols = await client.listCollections(dbID)
      assert.deepEqual(cols.map((c) => c.name).sort(), ['people', 'pets'])
      const p = cols.find((c) => c.name === 'people')
      assert.deepEqual(p.indexesList, peopleIndexes)
      assert.deepEqual(JSON.parse(Buffer.from(p.schema, 'base64').toString('utf8')), personSchema)
    })

    test('updateCollection adds an index that a find uses', { timeout }, async () => {
      const indexes = [...peopleIndexes, { path: 'city', unique: false }]
      await client.updateCollection(dbID, { name: 'people', schema: personSchema, indexes })
      assert.deepEqual(await client.getCollectionIndexes(dbID, 'people'), indexes)
      // The index was built over the instances already there.
      assert.deepEqual(names(await client.find(dbID, 'people', new Where('city').eq('Oslo').useIndex('city').orderBy('name'))), ['ann', 'cat', 'gus'])
      await rejectsWith(client.updateCollection(dbID, { name: 'nothing', schema: personSchema }), /collection "nothing" not found/)
    })
  })
}

describe('listDBs lists only the caller\'s own DBs', () => {
  let ownDBs // kind name → its DB ID

  before(() => {
    ownDBs = new Map(kinds.map((k) => [k.name, state.get(k.name)?.dbID]))
    for (const [name, id] of ownDBs) {
      assert.ok(id, `the ${name} tests made no DB`)
    }
  })

  for (const kind of kinds) {
    const others = () => [...ownDBs].filter(([name]) => name !== kind.name).map(([, id]) => id)

    test(`threads ListDBs with ${kind.name}`, { timeout }, async () => {
      const client = await connect(kind, state.get(kind.name).identity)
      const ids = await rawListDBs(client)
      assert.deepEqual(ids, [ownDBs.get(kind.name)])
      for (const id of others()) assert.ok(!ids.includes(id), `lists ${id}`)
    })

    // Without an API signature in the context, Client.listDBs calls
    // threads.pb.API/ListDBs.
    test(`Client.listDBs with ${kind.name}, not signing`, { timeout }, async () => {
      const client = await connect(kind, state.get(kind.name).identity, true)
      const dbs = await client.listDBs()
      assert.deepEqual(dbs, [{ id: ownDBs.get(kind.name), name: 'compat' }])
    })

    // With an API signature in the context, @textile/hub's Client.listDBs
    // calls the Users API's ListThreads (api.usersd.pb.APIService) instead.
    test(`Client.listDBs with ${kind.name}, signing`, { timeout }, async () => {
      const client = await connect(kind, state.get(kind.name).identity)
      const dbs = await client.listDBs()
      assert.deepEqual(dbs, [{ id: ownDBs.get(kind.name), name: 'compat' }])
    })
  }
})

describe('deleteDB', () => {
  for (const kind of kinds) {
    test(`with ${kind.name}`, { timeout }, async () => {
      const { identity, dbID } = state.get(kind.name)
      const client = await connect(kind, identity)
      const id = ThreadID.fromString(dbID)
      // Another caller cannot delete it: to them it does not exist.
      const other = kinds.find((k) => k !== kind)
      const stranger = await connect(other, state.get(other.name).identity)
      await rejectsWith(stranger.deleteDB(id), /not found/)

      await client.deleteDB(id)
      await rejectsWith(client.getDBInfo(id), /not found/)
      await rejectsWith(client.find(id, 'people', {}), /not found/)
      assert.deepEqual(await rawListDBs(client), [])
      await rejectsWith(client.deleteDB(id), /not found/)
    })
  }
})

after(() => {
  state.clear()
})
