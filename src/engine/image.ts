import { readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { ProbityError } from '../errors.js';

/** Decoded pixels: 8-bit sRGB, interleaved, no alpha, already turned upright per EXIF. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export interface DecodeLimits {
  /** Refuse images with more pixels than this before decoding them (decompression bombs). */
  maxPixels: number;
  /** Refuse encoded inputs larger than this many bytes. */
  maxBytes: number;
  /** Refuse images whose shorter side is below this; no face of a usable size fits. */
  minSide: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxPixels: 40_000_000,
  maxBytes: 30 * 1024 * 1024,
  minSide: 32,
};

const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp']);

/** Decode JPEG, PNG or WebP bytes. `label` names the input in error messages (a path or "image_a"). */
export async function decodeImage(
  bytes: Uint8Array,
  label: string,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Promise<RgbImage> {
  if (bytes.length === 0) throw new ProbityError('empty_input', `${label}: the file is empty (0 bytes)`);
  if (bytes.length > limits.maxBytes) {
    throw new ProbityError('input_too_large', `${label}: ${bytes.length} bytes exceeds the limit of ${limits.maxBytes} bytes`);
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new ProbityError('not_an_image', `${label}: not an image (expected JPEG, PNG or WebP)`);
  }
  if (!meta.format || !ACCEPTED_FORMATS.has(meta.format)) {
    throw new ProbityError('unsupported_image_format', `${label}: ${meta.format ?? 'unknown'} images are not accepted (expected JPEG, PNG or WebP)`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  // Checked on the header, before any pixel is decoded, so a bomb costs nothing.
  if (width * height > limits.maxPixels) {
    throw new ProbityError('too_many_pixels', `${label}: ${width}x${height} is ${width * height} pixels, over the limit of ${limits.maxPixels}`);
  }
  if (Math.min(width, height) < limits.minSide) {
    throw new ProbityError('image_too_small', `${label}: ${width}x${height} is too small to hold a usable face (shorter side under ${limits.minSide} px)`);
  }
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'warning', pages: 1 })
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new ProbityError('corrupt_image', `${label}: the ${meta.format} data is corrupt or truncated (${why})`);
  }
}

/** Read and decode an image file, with errors that name the path. */
export async function readImageFile(path: string, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Promise<RgbImage> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new ProbityError('file_unreadable', `${path}: not a regular file`);
    size = s.size;
  } catch (e) {
    if (e instanceof ProbityError) throw e;
    throw new ProbityError('file_not_found', `${path}: no such file`);
  }
  if (size > limits.maxBytes) {
    throw new ProbityError('input_too_large', `${path}: ${size} bytes exceeds the limit of ${limits.maxBytes} bytes`);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new ProbityError('file_unreadable', `${path}: cannot be read`);
  }
  return decodeImage(bytes, path, limits);
}

/**
 * Cut `rect` out of `image` and resample it to `outWidth` x `outHeight` with sharp, which filters
 * properly when shrinking. Parts of the rectangle outside the image are filled with mid-grey.
 */
export async function cropResize(
  image: RgbImage,
  rect: { x: number; y: number; width: number; height: number },
  outWidth: number,
  outHeight: number,
): Promise<RgbImage> {
  const x0 = Math.round(rect.x);
  const y0 = Math.round(rect.y);
  const w = Math.max(1, Math.round(rect.width));
  const h = Math.max(1, Math.round(rect.height));
  const left = Math.max(0, x0);
  const top = Math.max(0, y0);
  const right = Math.min(image.width, x0 + w);
  const bottom = Math.min(image.height, y0 + h);
  if (right - left < 1 || bottom - top < 1) {
    return { width: outWidth, height: outHeight, data: new Uint8Array(outWidth * outHeight * 3).fill(128) };
  }
  let pipeline: Sharp;
  if (left === x0 && top === y0 && right === x0 + w && bottom === y0 + h) {
    pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .extract({ left, top, width: w, height: h });
  } else {
    // extend() runs after resize in sharp's pipeline, so the rectangle is padded first. Copied
    // here rather than by two more passes through sharp (cut, then extend): the same bytes, and
    // those round trips were most of the detector's second look on portraits, whose re-framed
    // view always runs past the photograph's edge.
    const padded = new Uint8Array(w * h * 3).fill(128);
    const rowBytes = (right - left) * 3;
    for (let y = top; y < bottom; y++) {
      const from = (y * image.width + left) * 3;
      padded.set(image.data.subarray(from, from + rowBytes), ((y - y0) * w + (left - x0)) * 3);
    }
    pipeline = sharp(padded, { raw: { width: w, height: h, channels: 3 } });
  }
  const out = await pipeline.resize(outWidth, outHeight, { fit: 'fill' }).raw().toBuffer();
  return { width: outWidth, height: outHeight, data: new Uint8Array(out.buffer, out.byteOffset, out.byteLength) };
}

/** Resize the whole image by one factor (the detector's pyramid levels). */
export async function scaleImage(image: RgbImage, scale: number): Promise<RgbImage> {
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  if (width === image.width && height === image.height) return image;
  const out = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { width, height, data: new Uint8Array(out.buffer, out.byteOffset, out.byteLength) };
}
