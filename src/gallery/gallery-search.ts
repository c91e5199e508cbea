import type { Db } from './db.js';
import { asFloats, KEY_COLUMNS, KEY_JOIN, type SubjectKeys, type WrappedKeyRow } from './subject-keys.js';
import { ExactIndex } from '../matching/exact-index.js';
import { HnswIndex } from '../matching/hnsw-index.js';
import type { IndexSnapshots } from './index-snapshot.js';
import type { SearchHit, VectorIndex } from '../matching/vector-index.js';

/** Candidates taken from an approximate index and rescored exactly (see the index benchmark). */
const RESCORED = 40;

interface GalleryState {
  version: number;
  index: VectorIndex;
  /** Template id to the subject's reference. */
  subjectOf: Map<number, string>;
  /** Changes replayed since the index was last written to disk (HNSW only). */
  unsaved: number;
  /** Whether this process built the index from storage or loaded a persisted one. */
  loadedFrom: 'storage' | 'snapshot';
}

export interface SubjectHit {
  subject: string;
  templateId: number;
  score: number;
}

export interface GallerySearchOptions {
  /** Above this many templates a gallery is searched by HNSW instead of an exact scan. */
  hnswAbove: number;
  /** Where HNSW indexes are kept between runs; without it every start rebuilds from storage. */
  snapshots?: IndexSnapshots;
  /** An index is written again after this many changes (and at close, and when `persist` is called). */
  saveEvery?: number;
  /** Told why a persisted index was not used (never anything about a person). */
  report?: (line: string) => void;
}

/**
 * One in-memory search index per gallery, kept in step with storage. Every write to a gallery
 * numbers itself in `template_changes` (under the gallery row's lock); before each search this
 * process replays the changes it has not seen, so a template enrolled or erased by any process
 * is found, or not, by the very next search anywhere.
 */
export class GallerySearch {
  private readonly states = new Map<string, GalleryState>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Db,
    private readonly keys: SubjectKeys,
    private readonly dimension: number,
    private readonly options: GallerySearchOptions = { hnswAbove: 50_000 },
  ) {}

  /** Bring a gallery's index up to `version` (the version storage reports now). */
  async catchUp(galleryId: string, version: number): Promise<GalleryState> {
    const prior = this.locks.get(galleryId) ?? Promise.resolve();
    const next = prior.then(() => this.catchUpNow(galleryId, version));
    this.locks.set(galleryId, next.catch(() => undefined));
    return next;
  }

  private async catchUpNow(galleryId: string, version: number): Promise<GalleryState> {
    let state = this.states.get(galleryId);
    if (!state) {
      state = (await this.loadSnapshot(galleryId)) ?? (await this.load(galleryId));
      this.states.set(galleryId, state);
      // A rebuild is what the file saves the next start from, so it is written at once.
      if (state.index.kind === 'hnsw' && (state.loadedFrom === 'storage' || state.unsaved >= (this.options.saveEvery ?? 10_000))) await this.save(galleryId, state);
    }
    if (state.version >= version) return state;
    await this.replay(galleryId, state);
    if (state.index.kind === 'exact' && state.index.size > this.options.hnswAbove) {
      state.index = this.promote(state.index as ExactIndex);
      state.unsaved = state.index.size;
    }
    if (state.index.kind === 'hnsw' && state.unsaved >= (this.options.saveEvery ?? 10_000)) await this.save(galleryId, state);
    return state;
  }

  /** Applies the logged changes after `state.version` (up to `upTo`, when given). */
  private async replay(galleryId: string, state: GalleryState, upTo?: number): Promise<void> {
    const changes = await this.db.all<{ version: number; template_id: number; op: string; uuid: string | null; sealed: Buffer | null; ref: string | null } & WrappedKeyRow>(
      `SELECT c.version, c.template_id, c.op, t.uuid, t.sealed, s.ref, ${KEY_COLUMNS}
         FROM template_changes c
         LEFT JOIN templates t ON t.id = c.template_id
         LEFT JOIN subjects s ON s.id = t.subject_id
         ${KEY_JOIN}
        WHERE c.gallery_id = $1 AND c.version > $2${upTo === undefined ? '' : ' AND c.version <= $3'}
        ORDER BY c.version`,
      upTo === undefined ? [galleryId, state.version] : [galleryId, state.version, upTo],
    );
    // An erasure whose transaction raced a save could leave a key for a file still holding the
    // erased vectors: any removal seen here makes the gallery's written index unreadable again.
    if (changes.some((c) => c.op === 'remove')) await this.options.snapshots?.forgetKey(galleryId);
    this.keys.session((open) => {
      for (const c of changes) {
        const id = Number(c.template_id);
        if (c.op === 'remove') {
          state.index.remove(id);
          state.subjectOf.delete(id);
        } else if (c.uuid && c.sealed && c.ref !== null) {
          // A template added and since removed has no row: its removal follows in this same list.
          state.index.add(id, asFloats(open(c.sealed, c.uuid, c)));
          state.subjectOf.set(id, c.ref);
        }
        state.version = Math.max(state.version, Number(c.version));
        state.unsaved++;
      }
    });
  }

  /**
   * The persisted index, brought up to storage by replaying the changes since it was written, or
   * undefined (and the reason reported) when there is none or it cannot be trusted. After the
   * replay it must hold exactly the templates storage holds, read in one statement: an index
   * holding one more (an erased template the change log no longer shows) is thrown away.
   */
  private async loadSnapshot(galleryId: string): Promise<GalleryState | undefined> {
    const snapshots = this.options.snapshots;
    if (!snapshots) return undefined;
    const read = await snapshots.read(galleryId, { dimension: this.dimension, options: HnswIndex.defaultOptions });
    if (!read.ok) {
      if (read.reason !== 'no index file') this.options.report?.(`gallery ${galleryId}: persisted index not used, rebuilding from storage: ${read.reason}`);
      return undefined;
    }
    const rows = await this.db.all<{ version: number; id: number | null; ref: string | null }>(
      `SELECT g.version, t.id, s.ref FROM galleries g LEFT JOIN templates t ON t.gallery_id = g.id LEFT JOIN subjects s ON s.id = t.subject_id WHERE g.id = $1`,
      [galleryId],
    );
    if (rows.length === 0) return undefined;
    const version = Number(rows[0]!.version);
    const reject = (reason: string) => {
      this.options.report?.(`gallery ${galleryId}: persisted index not used, rebuilding from storage: ${reason}`);
      return undefined;
    };
    if (read.header.version > version) return reject(`it reflects version ${read.header.version}, newer than the store's ${version}`);
    const state: GalleryState = { version: read.header.version, index: read.index, subjectOf: new Map(), unsaved: 0, loadedFrom: 'snapshot' };
    await this.replay(galleryId, state, version);
    state.version = version;
    for (const r of rows) if (r.id !== null && r.ref !== null) state.subjectOf.set(Number(r.id), r.ref);
    if (state.index.size !== state.subjectOf.size) return reject(`after replay it holds ${state.index.size} templates, storage ${state.subjectOf.size}`);
    for (const id of state.subjectOf.keys()) if (!state.index.has(id)) return reject('after replay it does not hold the templates storage holds');
    return state;
  }

  private async save(galleryId: string, state: GalleryState): Promise<void> {
    const snapshots = this.options.snapshots;
    if (!snapshots || !(state.index instanceof HnswIndex)) return;
    try {
      await snapshots.save(galleryId, state.version, state.index);
      state.unsaved = 0;
    } catch (e) {
      this.options.report?.(`gallery ${galleryId}: index not persisted: ${(e as Error).message}`);
    }
  }

  /** Writes every HNSW index with changes not yet on disk (a periodic timer and shutdown call this). */
  async persist(): Promise<number> {
    let written = 0;
    for (const galleryId of [...this.states.keys()]) {
      await (this.locks.get(galleryId) ?? Promise.resolve());
      const state = this.states.get(galleryId);
      if (state && state.index.kind === 'hnsw' && state.unsaved > 0) {
        await this.save(galleryId, state);
        written++;
      }
    }
    return written;
  }

  private async load(galleryId: string): Promise<GalleryState> {
    // The version first, then the rows: a write in between is then replayed again, which is
    // harmless, rather than missed.
    const g = await this.db.one<{ version: number }>(`SELECT version FROM galleries WHERE id = $1`, [galleryId]);
    const rows = await this.db.all<{ id: number; uuid: string; sealed: Buffer; ref: string } & WrappedKeyRow>(
      `SELECT t.id, t.uuid, t.sealed, s.ref, ${KEY_COLUMNS} FROM templates t JOIN subjects s ON s.id = t.subject_id ${KEY_JOIN} WHERE t.gallery_id = $1`,
      [galleryId],
    );
    let index: VectorIndex = new ExactIndex(this.dimension, rows.length + 16);
    const subjectOf = new Map<number, string>();
    this.keys.session((open) => {
      for (const r of rows) {
        index.add(Number(r.id), asFloats(open(r.sealed, r.uuid, r)));
        subjectOf.set(Number(r.id), r.ref);
      }
    });
    if (index.size > this.options.hnswAbove) index = this.promote(index as ExactIndex);
    return { version: Number(g?.version ?? 0), index, subjectOf, unsaved: index.kind === 'hnsw' ? index.size : 0, loadedFrom: 'storage' };
  }

  private promote(exact: ExactIndex): HnswIndex {
    const hnsw = new HnswIndex(this.dimension);
    const ids = exact.ids();
    const vectors = new Float32Array(ids.length * this.dimension);
    ids.forEach((id, i) => vectors.set(exact.vector(id)!, i * this.dimension));
    hnsw.addMany(ids, vectors);
    return hnsw;
  }

  /**
   * The best template of each of the `k` best subjects. Several templates may belong to one
   * subject, so more are asked for; an approximate index's scores are first replaced by exact
   * ones (`exact`, from the stored templates), so the ranking and every score returned are exact.
   *
   * With `eligible`, only the subjects it accepts are ranked, and the `k` best of THEM are found
   * however many others score higher: the search widens until it has `k` eligible subjects or
   * has seen the whole index, and when few templates are eligible they are scored directly.
   */
  async search(
    state: GalleryState,
    query: Float32Array,
    k: number,
    exact: (hits: SearchHit[]) => Promise<SearchHit[]>,
    eligible?: (subject: string) => boolean,
  ): Promise<SubjectHit[]> {
    const size = state.index.size;
    let want = Math.min(size, Math.max(RESCORED, k * 4 + 8));
    if (eligible) {
      const ids: number[] = [];
      for (const [id, subject] of state.subjectOf) if (eligible(subject)) ids.push(id);
      if (ids.length <= want || state.index.kind === 'exact' && ids.length * 4 <= size) return this.rank(state, await this.scoreDirectly(state, ids, query, exact), k, eligible);
    }
    for (;;) {
      let hits = state.index.search(query, want);
      if (state.index.kind !== 'exact') hits = await exact(eligible ? hits.filter((h) => eligible(state.subjectOf.get(h.id) ?? '')) : hits);
      const ranked = this.rank(state, hits, k, eligible);
      if (!eligible || ranked.length >= k || want >= size) return ranked;
      want = Math.min(size, want * 4);
    }
  }

  private rank(state: GalleryState, hits: SearchHit[], k: number, eligible?: (subject: string) => boolean): SubjectHit[] {
    const best = new Map<string, SubjectHit>();
    for (const h of hits) {
      const subject = state.subjectOf.get(h.id);
      if (subject === undefined || (eligible && !eligible(subject))) continue;
      const seen = best.get(subject);
      if (!seen || h.score > seen.score) best.set(subject, { subject, templateId: h.id, score: h.score });
    }
    return [...best.values()].sort((a, b) => b.score - a.score).slice(0, k);
  }

  /** Exact scores for the given templates: from the exact index's own vectors, or from storage. */
  private async scoreDirectly(state: GalleryState, ids: number[], query: Float32Array, exact: (hits: SearchHit[]) => Promise<SearchHit[]>): Promise<SearchHit[]> {
    if (state.index instanceof ExactIndex) {
      const index = state.index;
      return ids.map((id) => {
        const v = index.vector(id)!;
        let dot = 0;
        for (let i = 0; i < v.length; i++) dot += v[i]! * query[i]!;
        return { id, score: dot };
      });
    }
    const out: SearchHit[] = [];
    for (let i = 0; i < ids.length; i += 500) out.push(...(await exact(ids.slice(i, i + 500).map((id) => ({ id, score: 0 })))));
    return out;
  }

  /** Where this process's index of a gallery came from, if it has loaded it. */
  loadedFrom(galleryId: string): GalleryState['loadedFrom'] | undefined {
    return this.states.get(galleryId)?.loadedFrom;
  }

  /** Which kind of index serves a gallery now, if this process has loaded it. */
  kindOf(galleryId: string): VectorIndex['kind'] | undefined {
    return this.states.get(galleryId)?.index.kind;
  }

  /** The gallery version this process's index has reached, if it has loaded the gallery (for the index lag metric). */
  versionOf(galleryId: string): number | undefined {
    return this.states.get(galleryId)?.version;
  }

  templateCount(state: GalleryState): number {
    return state.index.size;
  }

  /** The gallery is gone: its index leaves memory and disk. */
  forget(galleryId: string): void {
    this.states.delete(galleryId);
    this.locks.delete(galleryId);
    this.options.snapshots?.remove(galleryId);
  }
}
