import sharp from 'sharp';

/**
 * Photographs of more than one person, made from real single-face photographs (LFW) with sharp:
 * the faces are real, their sizes and places chosen, so a test knows which face is which.
 */

/** Two photographs side by side on one canvas, each its full size: two faces alike in size, each as far from the centre. */
export async function sideBySide(left: Buffer, right: Buffer): Promise<Buffer> {
  const [a, b] = await Promise.all([sharp(left).resize(250, 250).toBuffer(), sharp(right).resize(250, 250).toBuffer()]);
  return sharp({ create: { width: 500, height: 250, channels: 3, background: '#777' } })
    .composite([{ input: a, left: 0, top: 0 }, { input: b, left: 250, top: 0 }]).jpeg({ quality: 92 }).toBuffer();
}

/**
 * `subject` filling a 500 px square, and `other` shrunk to `share` of that side and set in, near
 * the top-left corner but inside the frame: a face in the background.
 */
export async function withBackgroundFace(subject: Buffer, other: Buffer, share = 0.5): Promise<Buffer> {
  const side = Math.round(500 * share);
  const [a, b] = await Promise.all([sharp(subject).resize(500, 500).toBuffer(), sharp(other).resize(side, side).toBuffer()]);
  return sharp(a).composite([{ input: b, left: 10, top: 10 }]).jpeg({ quality: 92 }).toBuffer();
}
