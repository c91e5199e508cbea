import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage, readImageFile } from './image.js';

const solid = (width: number, height: number) => sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 10 } } });

test('JPEG, PNG and WebP decode to upright RGB', async () => {
  for (const format of ['jpeg', 'png', 'webp'] as const) {
    const bytes = await solid(64, 48).toFormat(format).toBuffer();
    const img = await decodeImage(bytes, `x.${format}`);
    assert.equal(img.width, 64);
    assert.equal(img.height, 48);
    assert.equal(img.data.length, 64 * 48 * 3);
    assert.ok(Math.abs(img.data[0]! - 200) < 8, `${format} red channel`);
  }
});

test('alpha is dropped and greyscale becomes three channels', async () => {
  const rgba = await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 0.5 } } }).png().toBuffer();
  assert.equal((await decodeImage(rgba, 'a.png')).data.length, 40 * 40 * 3);
  const grey = await solid(40, 40).greyscale().png().toBuffer();
  assert.equal((await decodeImage(grey, 'g.png')).data.length, 40 * 40 * 3);
});

test('EXIF orientation is honoured: a portrait stored sideways comes out upright', async () => {
  const bytes = await solid(80, 40).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const img = await decodeImage(bytes, 'rotated.jpg');
  assert.deepEqual([img.width, img.height], [40, 80]);
});

test('bad inputs are refused with the input named and the reason', async () => {
  await assert.rejects(decodeImage(new Uint8Array(0), 'empty.jpg'), { code: 'empty_input', message: /empty.jpg: the file is empty/ });
  await assert.rejects(decodeImage(Buffer.from('hello, this is text'), 'notes.txt'), { code: 'not_an_image', message: /notes.txt: not an image/ });
  const gif = await solid(40, 40).gif().toBuffer();
  await assert.rejects(decodeImage(gif, 'anim.gif'), { code: 'unsupported_image_format', message: /gif images are not accepted/ });
  const jpeg = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
  await assert.rejects(decodeImage(jpeg.subarray(0, jpeg.length >> 1), 'cut.jpg'), { code: 'corrupt_image', message: /cut.jpg: the jpeg data is corrupt or truncated/ });
  await assert.rejects(decodeImage(await solid(20, 20).png().toBuffer(), 'tiny.png'), { code: 'image_too_small' });
});

test('a decompression bomb is refused from its header, before decoding', async () => {
  // 10000 x 10000 of one colour compresses to a few kilobytes of PNG.
  const bomb = await solid(10_000, 10_000).png({ compressionLevel: 9 }).toBuffer();
  assert.ok(bomb.length < 1_000_000);
  await assert.rejects(decodeImage(bomb, 'bomb.png'), { code: 'too_many_pixels', message: /bomb.png: 10000x10000 is 100000000 pixels/ });
  await assert.rejects(decodeImage(bomb, 'bomb.png', { maxPixels: 40e6, maxBytes: 1000, minSide: 32 }), { code: 'input_too_large' });
});

test('files: missing, a folder, and a good one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-img-'));
  await assert.rejects(readImageFile(join(dir, 'nope.jpg')), { code: 'file_not_found', message: /nope.jpg: no such file/ });
  await assert.rejects(readImageFile(dir), { code: 'file_unreadable', message: /not a regular file/ });
  const path = join(dir, 'ok.png');
  writeFileSync(path, await solid(50, 50).png().toBuffer());
  assert.equal((await readImageFile(path)).width, 50);
});
