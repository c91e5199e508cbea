import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressBucket, AuthThrottle } from './auth-throttle.js';

test('failed authentications: a burst, then a steady trickle; an IPv6 /64 counts as one address', () => {
  let now = 0;
  const t = new AuthThrottle({ burst: 2, perMinute: 6 }, () => now);
  assert.equal(t.fail('2001:db8:1:2::a'), false);
  assert.equal(t.fail('2001:db8:1:2:ffff::b'), true, 'the second address of the same /64 used the last try');
  assert.ok(t.waitFor('2001:db8:1:2::c') > 9, 'the whole /64 waits about 10 s');
  assert.equal(t.waitFor('2001:db8:1:3::a'), 0, 'another /64 does not');
  assert.equal(t.waitFor('203.0.113.9'), 0);
  now += 10_000;
  assert.equal(t.waitFor('2001:db8:1:2::a'), 0, 'one more try after 10 s');
  assert.equal(addressBucket('::ffff:203.0.113.9'), '203.0.113.9', 'an IPv4-mapped address is its IPv4 address');
});
