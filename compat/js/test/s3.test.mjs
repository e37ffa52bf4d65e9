// S3 and the JavaScript Buckets client on one bucket (compat_test.go's
// goS3 puts an object through S3 with the AWS SDK for Go, and reads back
// what this file pushes): getOrCreate finds the bucket S3 made in the
// account's "buckets" DB, pullPath gives the S3 object's bytes, and
// pushPath writes a file that S3 then reads.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { env, host, textile, timeout } from '../lib/hub.mjs'

const { Buckets } = textile

test('an S3 object is pulled by the Buckets client, and a pushed file is there for S3', { timeout }, async () => {
  const buckets = await Buckets.withKeyInfo({ key: env('HUB_S3_KEY'), secret: env('HUB_S3_SECRET') }, { host })
  const { root } = await buckets.getOrCreate(env('HUB_S3_BUCKET'))
  assert.equal(root.name, env('HUB_S3_BUCKET'))
  const parts = []
  for await (const chunk of buckets.pullPath(root.key, env('HUB_S3_TO_JS_KEY'))) parts.push(Buffer.from(chunk))
  assert.equal(Buffer.concat(parts).toString('utf8'), env('HUB_S3_TO_JS_BODY'))
  await buckets.pushPath(root.key, env('HUB_JS_TO_S3_KEY'), env('HUB_JS_TO_S3_BODY'))
})
