// GetToken through the published @textile/hub client: a user group key gets
// a token for an identity, and every kind of bad API key signature is
// refused with Unauthenticated and a message that says what is wrong.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { env, host, requireFrom, textile, timeout } from '../lib/hub.mjs'

const { Client, PrivateKey, createUserAuth } = textile

// The pieces the published client builds GetToken from, used below to see
// the gRPC status code, which Client.getToken drops (it rejects with
// new Error(statusMessage)), and to send what Client refuses to send.
const { grpc } = requireFrom('@textile/threads-client', '@improbable-eng/grpc-web')
const { WebsocketTransport } = requireFrom('@textile/grpc-connection', '@textile/grpc-transport')
const { API } = requireFrom('@textile/threads-client', '@textile/threads-client-grpc/threads_pb_service')
const pb = requireFrom('@textile/threads-client', '@textile/threads-client-grpc/threads_pb')

const Unauthenticated = 16
const minute = 60 * 1000
const day = 24 * 60 * minute

/** claims decodes the payload of a JWT, checking that it has three parts. */
function claims(token) {
  const parts = token.split('.')
  assert.equal(parts.length, 3, `token ${token} is not a JWT (header.payload.signature)`)
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
}

/**
 * getToken runs the GetToken exchange as Client.getTokenChallenge does (same
 * method descriptor, websocket transport and messages) with the given
 * request metadata, and resolves to the call's {code, message, token}.
 */
function getToken(metadata, identity) {
  return new Promise((resolve) => {
    const call = grpc.client(API.GetToken, { host, transport: WebsocketTransport() })
    let token = ''
    call.onMessage(async (reply) => {
      if (reply.hasChallenge()) {
        const req = new pb.GetTokenRequest()
        req.setSignature(await identity.sign(reply.getChallenge_asU8()))
        call.send(req)
        call.finishSend()
      } else if (reply.hasToken()) {
        token = reply.getToken()
      }
    })
    call.onEnd((code, message) => resolve({ code, message, token }))
    call.start(new grpc.Metadata(metadata))
    const req = new pb.GetTokenRequest()
    req.setKey(identity.public.toString())
    call.send(req)
  })
}

/** headers are the request metadata @textile/context makes of a UserAuth. */
function headers(auth) {
  return { 'x-textile-api-key': auth.key, 'x-textile-api-sig': auth.sig, 'x-textile-api-sig-msg': auth.msg }
}

test('secure user group key gets a token naming the identity', { timeout }, async () => {
  const client = await Client.withKeyInfo({ key: env('HUB_USER_KEY'), secret: env('HUB_USER_SECRET') }, host)
  const identity = PrivateKey.fromRandom()
  const token = await client.getToken(identity)
  assert.equal(typeof token, 'string')
  assert.ok(token.length > 0, 'empty token')
  assert.equal(claims(token).sub, identity.public.toString())
})

test('non-signing user group key gets a token', { timeout }, async () => {
  const client = await Client.withKeyInfo({ key: env('HUB_INSECURE_USER_KEY') }, host)
  const identity = PrivateKey.fromRandom()
  const token = await client.getToken(identity)
  assert.equal(claims(token).sub, identity.public.toString())
})

test('bad signatures are refused', { timeout }, async (t) => {
  const key = env('HUB_USER_KEY')
  const secret = env('HUB_USER_SECRET')
  const cases = [
    {
      name: 'expired signature',
      auth: () => createUserAuth(key, secret, new Date(Date.now() - minute)),
      want: /expired/,
      // Client checks the date itself and never sends an expired
      // signature (Context.toJSON throws "Auth expired", outside the
      // promise getToken returns), so only the raw call reaches hubd.
      clientSends: false,
    },
    {
      name: 'invalidated key',
      auth: () => createUserAuth(env('HUB_INVALIDATED_KEY'), env('HUB_INVALIDATED_SECRET'), new Date(Date.now() + 10 * minute)),
      want: /invalidated/,
      clientSends: true,
    },
    {
      name: 'wrong secret',
      auth: () => createUserAuth(key, env('HUB_INVALIDATED_SECRET'), new Date(Date.now() + 10 * minute)),
      want: /signature does not match/,
      clientSends: true,
    },
    {
      name: 'date 400 days ahead',
      auth: () => createUserAuth(key, secret, new Date(Date.now() + 400 * day)),
      want: /more than/,
      clientSends: true,
    },
  ]
  for (const c of cases) {
    await t.test(c.name, async () => {
      const auth = await c.auth()
      const res = await getToken(headers(auth), PrivateKey.fromRandom())
      assert.equal(res.code, Unauthenticated, `status ${res.code} ${JSON.stringify(res.message)}, want Unauthenticated (16)`)
      assert.match(res.message, c.want)
      assert.equal(res.token, '', 'a refused call sent a token')
      if (c.clientSends) {
        const client = Client.withUserAuth(auth, host)
        await assert.rejects(client.getToken(PrivateKey.fromRandom()), (err) => {
          assert.match(err.message, c.want)
          return true
        })
      }
    })
  }
})
